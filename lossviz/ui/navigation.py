"""Pages as a server opens them: a direct link runs under ``app.py``'s navigation; a start-up hook opens each.

This module holds the app's touches of private Streamlit names; nothing else in
``lossviz``, ``pages``, ``app.py`` or ``serve.py`` may import from ``streamlit.runtime``.
"""

from __future__ import annotations

import time

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


class _DroppedOutput:
    """A session client that keeps nothing of what a page draws but whether its script run ended, and how."""

    def __init__(self) -> None:
        self.finished = False
        self.errors: list[str] = []

    def write_forward_msg(self, msg) -> None:
        if msg.HasField("delta") and msg.delta.new_element.HasField("exception"):
            self.errors.append(msg.delta.new_element.exception.message)
        # FINISHED_EARLY_FOR_RERUN is not the end: a direct link's first run reruns under app.py's navigation.
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished != msg.FINISHED_EARLY_FOR_RERUN:
            self.finished = True

    @property
    def client_context(self):
        return None


async def visit_pages(url_paths: list[str], *, seconds_each: float) -> dict[str, str]:
    """Open each page once, as a visitor without a browser would, in this process's Streamlit runtime.

    For a start-up hook (``serve.py``'s lifespan runs after Streamlit's runtime has started and before the
    server answers anyone): each page's script runs its default view in a session of its own, which fills
    the process's ``st.cache_resource`` caches and loads its JAX programs, exactly what a first visitor
    would wait for.  Nothing is drawn anywhere; each session is closed after its run.  There is no public
    API for a server-side session; these are the calls Streamlit's own websocket handler makes
    (``Runtime.connect_session``, ``handle_backmsg`` with a ``rerun_script``, ``close_session``).

    Args:
      url_paths: the pages' link paths (``""`` for the home page), visited in this order.
      seconds_each: how long one page may take; a page still running then is left to a later visitor.

    Returns:
      For each path, ``"drawn in N s"``, ``"gave up after N s"`` or the first exception the page showed.
    """
    import asyncio

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.runtime import Runtime

    runtime = Runtime.instance()
    outcome: dict[str, str] = {}
    for path in url_paths:
        client = _DroppedOutput()
        session_id = runtime.connect_session(client=client, user_info={})
        started = time.monotonic()
        try:
            message = BackMsg()
            message.rerun_script.page_name = path
            message.rerun_script.query_string = ""
            runtime.handle_backmsg(session_id, message)
            while not client.finished and time.monotonic() - started < seconds_each:
                await asyncio.sleep(0.05)  # the runtime's loop delivers the session's messages meanwhile
        finally:
            runtime.close_session(session_id)
        took = time.monotonic() - started
        outcome[path] = (f"error: {client.errors[0]}" if client.errors else
                         f"drawn in {took:.1f} s" if client.finished else f"gave up after {took:.0f} s")
    return outcome
