"""The MNIST lab's logic: run records, comparison, smoothing, downloads and the exported script.

May import numpy, lossviz's engine, losses, data, config and settings; never streamlit or plotly.
"""
from lossviz.lab.records import *  # noqa: F401,F403  (temporary facade while the package is split)
from lossviz.lab.records import _plain  # noqa: F401
