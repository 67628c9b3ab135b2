"""The math behind each page (BCE, gradients, softmax & KL, the loss doctor), as pure functions.

May import numpy, jax, optax, lossviz.losses, lossviz.data and lossviz.engine; never streamlit or plotly.
"""
