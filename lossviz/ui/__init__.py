"""The only Streamlit-aware code: link-bound widgets, projector mode, navigation, cached MNIST, charts, stored runs.

May import streamlit and the rest of lossviz; nothing else in lossviz imports this package.
"""

# Plotly finds pandas by looking in sys.modules; when a cold server's first sessions run at once, one
# of them can meet a half-imported pandas there.  A real import here, under the import lock, before
# any page draws a figure, rules that out (the load test caught it).
import pandas  # noqa: F401

from lossviz.ui.data import _cached_mnist, cached_mnist, mnist_or_error, mnist_or_stop  # noqa: F401
from lossviz.ui.links import MAX_PARAM_LENGTH, UrlState  # noqa: F401
from lossviz.ui.present import prose  # noqa: F401
