"""The math behind each page, one module per topic (bce, gradients, softmax_kl, …), as pure functions; every optax fit runs through ``fit``.

May import numpy, jax, optax, lossviz.losses, lossviz.data and lossviz.engine; never streamlit or plotly.
"""
