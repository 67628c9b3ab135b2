"""Stored runs on a page: the process's :class:`RunService`, the visitor's session token, the run named in
the link, a cached view of a run per store version, and the fragment that watches a live run.

Pages call these; the service and workers behind them never touch Streamlit.
"""

from __future__ import annotations

import os
import uuid
from typing import Callable

import streamlit as st

from lossviz import data, settings
from lossviz.cache import BoundedCache
from lossviz.runs import views
from lossviz.runs.ids import is_run_id
from lossviz.runs.ray_backend import RayUnavailable, backend_from_settings
from lossviz.runs.service import RunService
from lossviz.runs.store import RunStore, StoreError
from lossviz.runs.workers import kept_run

POLL_SECONDS = 0.5
"""A watched live run is at most this far behind its worker (each poll reads one version number)."""

RUN_PARAM = "run"
_SESSION_KEY = "_lossviz_session_token"


def _load_mnist():
    from lossviz.ui import _cached_mnist

    return _cached_mnist(os.environ.get(data.MNIST_ENV) or None)


@st.cache_resource(show_spinner=False)
def _service_for(url: str, ray_address: str | None) -> RunService:
    # One per process, store URL and Ray address: its workers outlive every page and session.
    store = RunStore(url)
    return RunService(store, _load_mnist, workers=settings.limits().max_concurrent_trainings,
                      backend=backend_from_settings(store, url))


def run_service() -> RunService | None:
    """The process's run service; ``None`` after a clear message when its store or Ray cannot be reached."""
    try:
        return _service_for(settings.database_url(), settings.ray_address())
    except StoreError as err:
        st.error(f"**Runs cannot be stored or trained right now.** {err}", icon=":material/database_off:")
    except RayUnavailable as err:
        st.error(f"**Runs cannot be trained right now.** {err} (`LOSSVIZ_RAY_ADDRESS`)", icon=":material/cloud_off:")
    return None


def session_token() -> str:
    """A random token naming this browser session as the owner of the runs it starts."""
    if _SESSION_KEY not in st.session_state:
        st.session_state[_SESSION_KEY] = uuid.uuid4().hex
    return st.session_state[_SESSION_KEY]


def linked_run(url) -> str | None:
    """The ``run=`` value of the page's link (the last one if repeated), claimed so ``url.finish`` keeps it."""
    claim = getattr(url, "claim", None)
    if claim is not None:
        return claim(RUN_PARAM)
    url._known.add(RUN_PARAM)  # UrlState without claim(): mark the key as the page's own
    values = st.query_params.get_all(RUN_PARAM)
    return values[-1] if values else None


def link_problem(value: str, service: RunService) -> str | None:
    """Why ``run=value`` cannot be shown (``None`` when it can): malformed, unknown or unreadable."""
    if not is_run_id(value):
        shown = value if len(value) <= 24 else value[:23] + "…"
        return (f"`run={shown.replace('`', '')}` in the link is not a run id (16 characters 0–9 a–f; "
                "it may have been cut short when copied). Here is the lab instead.")
    try:
        found = service.view(value) is not None
    except StoreError as err:
        return f"Run `{value}` could not be read: {err} Here is the lab instead."
    if not found:
        return (f"No run `{value}` is stored on this server (it may have been evicted, or the link comes "
                "from another server). Here is the lab instead.")
    return None


def set_address(run_id: str | None) -> None:
    """Make the address bar carry ``run=<run_id>`` (or no run) so that it is the link to what is shown."""
    if run_id is None:
        if RUN_PARAM in st.query_params:
            del st.query_params[RUN_PARAM]
    elif st.query_params.get(RUN_PARAM) != run_id or len(st.query_params.get_all(RUN_PARAM)) > 1:
        st.query_params[RUN_PARAM] = run_id


def run_url(run_id: str) -> str:
    """The full link to ``run_id`` on this page, as the visitor's browser addresses the server."""
    base = (getattr(st.context, "url", None) or "").split("?")[0].split("#")[0]
    return f"{base}?{RUN_PARAM}={run_id}" if base else f"?{RUN_PARAM}={run_id}"


# ---------------------------------------------------------------- one view per run and version, for every watcher
_VIEWS: BoundedCache[object] = BoundedCache(64)


def shared(key: tuple, build: Callable[[], object]):
    """``build()`` once per ``key`` for every session of the process (runs' views and figures per version).

    ``build`` runs outside the cache's lock, so a slow build never holds up other runs' watchers; two
    sessions meeting a new version at the same moment may both build it, which costs only time.
    """
    value = _VIEWS.get(key)
    if value is None:
        value = build()
        _VIEWS.put(key, value)
    return value


def view(service: RunService, run_id: str, with_arrays: bool = True):
    """``(row, record)`` of a run, built once per stored version for every watcher; ``None`` if unknown.

    Raises:
        StoreError: the store cannot be read or the row does not parse (``StoredRowError``).
    """
    if kept_run(run_id) is not None:  # kept in memory after its store failed: no versions to share by
        row, arrays = service.view(run_id)
        return row, views.record_of(row, arrays)
    current = service.store.version(run_id)
    if current is None:
        return None

    def build():
        found = service.view(run_id)
        if found is None:  # evicted between the two reads
            return None
        row, arrays = found
        return row, views.record_of(row, arrays if with_arrays else None)

    return shared(("view", run_id, current, with_arrays), build)


def watch(run_id: str, redraw: Callable[[bool], None]) -> None:
    """Draw a live run now (``redraw(True)``) and again every :data:`POLL_SECONDS` (``redraw(False)``).

    ``redraw`` writes into placeholders made outside the fragment, with stable keys, so charts update in
    place. A fragment run clears what it does not draw again, so every poll draws everything: keep its
    figures cached per stored version (:func:`shared`); it calls ``st.rerun()`` once the run has ended,
    and the full page then draws it without polling.
    """
    _watch(run_id, redraw, uuid.uuid4().hex)


@st.fragment(run_every=POLL_SECONDS)
def _watch(run_id: str, redraw: Callable[[bool], None], full_run: str) -> None:
    key = f"_lossviz_watch:{run_id}"
    first = st.session_state.get(key) != full_run  # the full script run's own call
    st.session_state[key] = full_run
    redraw(first)


def records(service: RunService | None, rows) -> dict:
    """``{run id: RunRecord}`` (history only) of ``rows``, for the comparison; unreadable runs left out."""
    out = {}
    for row in rows if service is not None else ():
        try:
            found = view(service, row.run_id, with_arrays=False)
        except StoreError:
            continue
        if found is not None:
            out[row.run_id] = found[1]
    return out


def name_of(row) -> str:
    """``<id> · <description>``: a stored run's name, the same in every state.

    A widget's options must keep their names while a run goes from queued to finished: Streamlit sends a
    selectbox's value back as its shown text, and a text no option has any longer comes back as that text
    (a click in that moment would act on no run).
    """
    from lossviz.lab import describe
    from lossviz.runs.workers import split_config

    return f"{row.run_id[:8]} · {describe(split_config(row.config)[0])}"


def label_of(row) -> str:
    """``<id> · <description> · <state>``: how a stored run is listed."""
    return f"{name_of(row)} · {row.state.value}"


def live_list(rows, shown_id: str | None) -> None:
    """The session's queued and running runs, each with its link (the shown one is marked)."""
    live = [row for row in rows if row.state.live]
    if not live:
        return
    lines = [f"- [{label_of(row)}](?{RUN_PARAM}={row.run_id}){' ← shown' if row.run_id == shown_id else ''}"
             for row in live]
    st.markdown("**Your runs in progress** (each link opens it, here or in another tab):\n" + "\n".join(lines))


def show_status(box, row, service: RunService, session: str) -> int | None:
    """Say where the run stands in ``box``: queued (place in line), training, or how it ended.

    Returns:
        The run's place in the queue (``None`` unless queued), so a watcher redraws when it moves.
    """
    from lossviz.runs.state import RunState

    position = service.queue_position(row.run_id) if row.state == RunState.QUEUED else None
    mine = row.owner == session
    with box.container():
        if row.state == RunState.QUEUED:
            st.info(f"**Queued: number {position or '?'} in line.** Every training slot of this server is busy; "
                    "this run starts when one frees. You may leave this page: it trains anyway.",
                    icon=":material/hourglass_top:")
        elif row.state == RunState.RUNNING:
            whose = "you started it" if mine else "you joined it"
            st.info(f"**Training on the server** ({whose}). Change controls, visit other pages or reload: it goes on. "
                    f"{'Stop ends it for everyone watching.' if mine else 'Stop leaves it to the others.'}",
                    icon=":material/play_circle:")
        elif row.state == RunState.FINISHED:
            st.success(f"**Finished.** {row.message}", icon=":material/check_circle:")
        elif row.state == RunState.DIVERGED:
            st.warning(f"**The run diverged.** {row.message}", icon=":material/warning:")
        elif row.state == RunState.STOPPED:
            st.info(f"**Stopped.** {row.message}", icon=":material/stop_circle:")
        else:  # interrupted or failed: one click trains it again
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.warning(f"**{row.state.value.capitalize()}.** {row.message}", icon=":material/report:")
            if right.button("Resubmit", key=f"resubmit-{row.run_id}", icon=":material/replay:", width="stretch"):
                _resubmit(service, row.run_id, session)
    return position


def _resubmit(service: RunService, run_id: str, session: str) -> None:
    from lossviz.runs.service import QueueFull

    try:
        service.mnist()  # loaded here, in the script thread, rather than in a worker
        service.resubmit(run_id, session)
    except (QueueFull, StoreError, KeyError) as err:
        st.warning(str(err), icon=":material/front_hand:")
        return
    st.rerun()


def run_footer(row) -> None:
    """The link to a run (copyable), its receipt, and where else it can be seen."""
    from lossviz import site
    from lossviz.runs.receipt import receipt_lines

    st.markdown("**Copy link to this run**: the address bar carries it too. Anyone with it sees this run, "
                "live while it trains and finished afterwards, also after the server restarts.")
    st.code(run_url(row.run_id), language=None)
    if row.receipt:
        st.caption("Receipt: " + " · ".join(receipt_lines(row.receipt)))
    landscape = next((p for p in site.existing_pages() if p.url_path == "landscape"), None)
    if landscape is not None and row.state.value == "finished":
        st.page_link(landscape.file, label="See its landscape", icon=landscape.icon,
                     query_params={RUN_PARAM: row.run_id})
