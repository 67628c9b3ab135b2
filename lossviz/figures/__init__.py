"""Every plotly figure the app draws, one module per page, one theme policy in ``theme``.

May import plotly, numpy and the lessons' result types; never streamlit, never jax.
"""
