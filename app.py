"""lossviz: the entry point and home page.  ``streamlit run app.py``."""

import streamlit as st

from lossviz import site, ui
from lossviz.figures import home as plots
from lossviz.ui.charts import chart


def home() -> None:
    st.title("lossviz")
    url = ui.UrlState("home")  # no controls: only present= and hide=picture are known
    ui.prose(
        "See how loss functions behave, then train with them. Every chart here is computed "
        "live with JAX on real data: nothing is a screenshot.\n\n"
        "The app grows out of three classic confusions: an MNIST autoencoder built with a "
        "**softmax** output and **binary cross-entropy** on raw 0–255 pixels; the **slow learning** "
        "of a saturated sigmoid under the quadratic cost; and **categorical cross-entropy versus "
        "KL divergence** as the loss of a small classifier. Past them wait the **loss landscape** "
        "around a network you trained in the lab, and the whole family: **every loss in optax**, "
        "its gradient, and what it does to a fit (the Loss zoo)."
    )
    if url.shows("picture"):
        chart(plots.bce_minimum_figure(), key="home-bce")
        st.caption(
            "The picture in one line: binary cross-entropy is smallest where the prediction equals "
            "the target, even for a soft target like y = 0.3, but that smallest value is the "
            "target's entropy H(y), not zero."
        )
    st.subheader("Pages")
    for info, page in zip(available, pages):
        st.page_link(page, label=f"**{info.title}**: {info.summary}", icon=info.icon)
    url.finish()


st.set_page_config(page_title="lossviz", page_icon=":material/insights:", layout="wide")
ui.data.warm_up()  # once per process: the compilation cache, and the lab's presets compiled in the background
available = site.existing_pages()
pages = [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path) for p in available]
home_page = st.Page(home, title=site.HOME_TITLE, icon=":material/home:", default=True)
st.navigation([home_page, *pages]).run()
