"""Pages reached by direct link run under ``app.py``'s navigation.

This module holds the app's one touch of a private Streamlit name; nothing else
in ``lossviz``, ``pages`` or ``app.py`` may import from ``streamlit.runtime``.
"""

from __future__ import annotations

import streamlit as st

_SESSION_STARTED = "_lossviz_session_started"


def run_under_app_navigation() -> None:
    """Rerun a page that Streamlit started without ``app.py``'s navigation.

    Upstream behaviour (Streamlit 1.67): a top-level ``pages/`` folder makes
    the first script run of a server process use the legacy folder mode
    (``PagesManager.uses_pages_directory``, decided once per process from the
    main script's folder): a page opened by direct link runs on its own and
    the sidebar lists file names.  ``st.navigation`` clears the flag, but only
    once ``app.py`` runs, which in that mode it does not.  No public API or
    config option turns the folder mode off, so this clears the class
    attribute and reruns: the same page then goes through ``app.py``'s
    ``st.navigation`` (page file names match their link paths, so the rerun
    finds it).  ``tests/test_site.py`` fails loudly if an upgrade renames or
    moves the attribute.

    Only a session's first run is rerun: a later run may carry a button
    click, which a rerun would drop.  (AppTest starts every run in folder
    mode; there the page simply goes on.)
    """
    from streamlit.runtime.pages_manager import PagesManager

    first_run = not st.session_state.get(_SESSION_STARTED)
    st.session_state[_SESSION_STARTED] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()
