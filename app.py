"""lossviz: the entry point and home page.  ``streamlit run app.py``."""

from pathlib import Path

import streamlit as st

from lossviz import plots

HERE = Path(__file__).parent

# (file, sidebar title, icon, link path, one line for the home page)
PAGES = [
    ("pages/1_BCE_landscape.py", "BCE landscape", ":material/landscape:", "bce",
     "Binary cross-entropy is minimised at p = y, and why that minimum is the entropy H(y), not zero."),
    ("pages/2_Gradients.py", "Gradients", ":material/trending_down:", "gradients",
     "Why a saturated sigmoid learns slowly under the quadratic cost, and not under cross-entropy."),
    ("pages/3_MNIST_lab.py", "MNIST lab", ":material/science:", "mnist",
     "Train the confused softmax autoencoder, its fixes and two classifiers on real MNIST, live."),
    ("pages/4_Softmax_and_KL.py", "Softmax & KL", ":material/compare_arrows:", "softmax-kl",
     "Cross-entropy = entropy + KL divergence, KL's asymmetry, and a live 2-D classifier."),
]


def home() -> None:
    st.title("lossviz")
    st.markdown(
        "See how loss functions behave, then train with them. Every chart here is computed "
        "live with JAX on real data: nothing is a screenshot.\n\n"
        "The app grows out of three classic confusions: an MNIST autoencoder built with a "
        "**softmax** output and **binary cross-entropy** on raw 0–255 pixels; the **slow learning** "
        "of a saturated sigmoid under the quadratic cost; and **categorical cross-entropy versus "
        "KL divergence** as the loss of a small classifier."
    )
    st.plotly_chart(plots.bce_minimum_figure(), width="stretch")
    st.caption(
        "The picture in one line: binary cross-entropy is smallest where the prediction equals "
        "the target, even for a soft target like y = 0.3, but that smallest value is the "
        "target's entropy H(y), not zero."
    )
    st.subheader("Pages")
    for page, (file, title, icon, _, blurb) in zip(existing_pages, available):
        st.page_link(page, label=f"**{title}**: {blurb}", icon=icon)


available = [entry for entry in PAGES if (HERE / entry[0]).exists()]
existing_pages = [st.Page(file, title=title, icon=icon, url_path=path) for file, title, icon, path, _ in available]
home_page = st.Page(home, title="Home", icon=":material/home:", default=True)
st.set_page_config(page_title="lossviz", page_icon=":material/insights:", layout="wide")
st.navigation([home_page, *existing_pages]).run()
