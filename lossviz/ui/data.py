"""MNIST for the pages: loaded once per server process, or a clear message on the page."""

from __future__ import annotations

import os

import streamlit as st

from lossviz import data, warmup


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=2)
def _cached_mnist(path: str | None) -> data.Mnist:
    # Keyed by the configured path so that changing LOSSVIZ_MNIST is honoured;
    # a failed load raises, and Streamlit does not cache exceptions.
    return data.load_mnist(path)


def cached_mnist() -> data.Mnist:
    """MNIST from ``LOSSVIZ_MNIST`` or the usual sources, loaded once per process; raises ``DataError``."""
    return _cached_mnist(os.environ.get(data.MNIST_ENV) or None)


@st.cache_resource(show_spinner=False)
def _warm_up() -> warmup.WarmUp:
    # Streamlit 1.67 runs no code of ours when `streamlit run app.py` starts (its lifespan hook needs the
    # app to be an st.App served by uvicorn), so the first script run of the process starts it, once.
    return warmup.start(cached_mnist)


def start_warm_up() -> warmup.WarmUp:
    """This process's warm-up, started now if it has not been (a server's start-up hook calls this)."""
    return _warm_up()


def warm_up() -> warmup.WarmUp | None:
    """Start this server process's warm-up once (the compilation cache, then the presets in the background).

    Under AppTest only the compilation cache is turned on (tests compile what they use): a session served
    over HTTP always has request headers, one of AppTest never does.
    """
    if not st.context.headers:
        warmup.configure_compilation_cache()
        return None
    return _warm_up()


def mnist_or_error() -> data.Mnist | None:
    """MNIST, loaded once per process; ``None`` after a clear message if it cannot be."""
    try:
        return cached_mnist()
    except data.DataError as err:
        st.error(f"**MNIST is not available.** {err}", icon=":material/database_off:")
        return None


def mnist_or_stop(url=None) -> data.Mnist:
    """MNIST, loaded once per process; a clear message and a stop of the page if it cannot be.

    Pass the page's :class:`~lossviz.ui.links.UrlState` so that its link notices still show.
    """
    mnist = mnist_or_error()
    if mnist is None:
        if url is not None:
            url.stop()
        st.stop()
    return mnist
