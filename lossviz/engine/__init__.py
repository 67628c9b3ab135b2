"""Headless training: the dataset on the device, objectives, optimizers, jitted chunks, the run loop.

May import numpy, jax, optax and lossviz's losses, data, config and settings; never streamlit, plotly or a page.
"""
