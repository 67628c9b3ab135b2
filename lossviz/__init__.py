"""lossviz: see how loss functions behave, then train with them.

The library is pure Python/JAX; only :mod:`lossviz.ui` knows about Streamlit.
"""

__version__ = "0.1.0"
