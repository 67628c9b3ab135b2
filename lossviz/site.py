"""The site map: every page's file, sidebar title, icon, link path and one-line summary.

Pure data, shared by ``app.py`` (navigation and the home page's links) and the
tests (which check that the browser's sidebar shows exactly these titles).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent

SERVER_ENTRY = "serve.py"
"""What ``streamlit run`` serves: ``app.py`` with a start-up hook (``make run``, the image, the tests' and the
benchmarks' servers). ``app.py`` alone also works (Streamlit Community Cloud), warming up on its first visit."""


class PageInfo(NamedTuple):
    """One page.  ``url_path`` must be the name Streamlit derives from the file name:
    a page opened by direct link on a fresh server is first looked up that way."""

    file: str
    title: str
    icon: str
    url_path: str
    summary: str

    @property
    def exists(self) -> bool:
        return (ROOT / self.file).exists()


HOME_TITLE = "Home"

PAGES = (
    PageInfo("pages/bce.py", "BCE landscape", ":material/landscape:", "bce",
             "Binary cross-entropy is minimised at p = y, and that minimum is the entropy H(y), not zero."),
    PageInfo("pages/gradients.py", "Gradients", ":material/trending_down:", "gradients",
             "Why a saturated sigmoid learns slowly under the quadratic cost, and not under cross-entropy."),
    PageInfo("pages/mnist.py", "MNIST lab", ":material/science:", "mnist",
             "Train the confused softmax autoencoder, its fixes and two classifiers on real MNIST, live."),
    PageInfo("pages/landscape.py", "Loss landscape", ":material/terrain:", "landscape",
             "The loss around a trained network: the straight line from its start, a 2-D slice, the path it took."),
    PageInfo("pages/softmax-kl.py", "Softmax & KL", ":material/compare_arrows:", "softmax-kl",
             "Cross-entropy = entropy + KL divergence, KL's asymmetry, and a live 2-D classifier."),
    PageInfo("pages/losses.py", "Loss zoo", ":material/pets:", "losses",
             "Every optax loss against the margin or the residual, its gradient, and what it does to a fit."),
)


def existing_pages() -> list[PageInfo]:
    """The pages whose files are present, in sidebar order."""
    return [page for page in PAGES if page.exists]
