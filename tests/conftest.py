"""Shared fixtures: real MNIST, AppTest, a live `streamlit run` server and Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lossviz import site

pytest_plugins = ["postgres"]  # tests/postgres.py: a throwaway PostgreSQL cluster for the store tests

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


OWN_SERVER_FILES = {"test_runs_page.py", "test_replicas.py", "test_load.py", "test_accessibility.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups (make test runs -n auto --dist loadgroup)
def pytest_collection_modifyitems(config, items):
    """Browser tests in two xdist groups, each on one worker, one test at a time: the tests of the shared
    `server_url` in one, those that start servers of their own (restarts, replicas, the load script) in the
    other, so the two halves run side by side without sharing a server."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("xdist_group"):
            own_servers = item.fspath.basename in OWN_SERVER_FILES
            item.add_marker(pytest.mark.xdist_group("browser-own-servers" if own_servers else "browser"))


def skip_or_fail(reason: str) -> None:
    """Skip locally, fail under CI: CI must never hide a missing browser or data set."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist():
    from lossviz import data

    try:
        return data.load_mnist(allow_download=False)
    except data.DataError as err:
        skip_or_fail(f"real MNIST is not installed: {err}")


def app_test(page: str | None = None, query: dict[str, str] | None = None, timeout: float = 120):
    """An AppTest of app.py, run once, switched to ``page`` (a file under pages/) if given."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(page)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        at.run()
    return at


def open_data(at):
    """Open every chart's "Data" expander of an AppTest (its table is built only when open) and rerun."""
    from lossviz.ui.charts import expander_key

    for key in [k for k in at.session_state if str(k).endswith(expander_key(""))]:
        at.session_state[key] = True
    return at.run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def run_store_of_its_own(tmp_path_factory, monkeypatch):
    """A fresh run store for every test that did not choose one: runs are content-addressed, so a run one
    test trained must not be found finished by another, and the visitor's own store stays untouched."""
    if not os.environ.get("LOSSVIZ_DATABASE_URL"):
        monkeypatch.setenv("LOSSVIZ_DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('store') / 'runs.sqlite3'}")


def start_streamlit(port: int, env: dict[str, str], log, timeout: float = 90) -> subprocess.Popen:
    """`streamlit run serve.py` on 127.0.0.1:``port`` with ``env`` added, its output in ``log``; returns once
    the server answers its health check (fails the test if it exits or does not answer within ``timeout``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", site.SERVER_ENTRY, "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited early; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"streamlit did not become healthy within {timeout:.0f} s; see {log.name}")


def stop_streamlit(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """`streamlit run serve.py` on a free 127.0.0.1 port (and a run store of its own), for the whole session."""
    port = _free_port()
    store = f"sqlite:///{tmp_path_factory.mktemp('server-store') / 'runs.sqlite3'}"
    log = open(ROOT / "tests" / ".streamlit-server.log", "w")
    # No warm-up: it opens every page and compiles every lab preset, CPU that the tests beside it need.
    proc = start_streamlit(port, {"LOSSVIZ_DATABASE_URL": store, "LOSSVIZ_WARMUP": "0"}, log)
    url = f"http://127.0.0.1:{port}"
    yield url
    stop_streamlit(proc)
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright for Python is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def drawn_and_idle(page) -> bool:
    """The script run is over and no lazily loaded component still shows its skeleton (see wait_for_app)."""
    return (page.get_attribute('[data-testid="stApp"]', "data-test-script-state") == "notRunning"
            and not page.locator('[data-testid="stSkeleton"]').count())


def wait_for_app(page, timeout_ms: int = 90_000, quiet_seconds: float = 1.0) -> None:
    """Wait until the script run is over: content rendered and the app "notRunning" for a moment.

    Streamlit marks its root with ``data-test-script-state``; a run that
    reruns itself (e.g. a page opened by direct link on a fresh server)
    passes through "notRunning" briefly, hence the quiet period.  A script
    run that is over may not be drawn yet: sliders and charts are lazily
    loaded components, shown as ``stSkeleton`` until their code arrives
    (measured: 8 s after "notRunning" on a loaded 2-core machine).
    """
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stElementContainer"]', timeout=timeout_ms)
    deadline = time.time() + timeout_ms / 1000
    quiet_since = None
    while time.time() < deadline:
        if drawn_and_idle(page):
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since >= quiet_seconds:
                return
        else:
            quiet_since = None
        time.sleep(0.1)
    raise AssertionError("the app kept running (or drawing) past the timeout")


def error_texts(page) -> list[str]:
    """Text of every exception or error box on the page, and of any dialog (e.g. "Page not found")."""
    boxes = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"], [role="dialog"]')
    return [boxes.nth(i).inner_text() for i in range(boxes.count())]


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG once the plotly charts in view have drawn (for a person to look at)."""
    try:
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                     .every(c => c.querySelector('.main-svg'))""", timeout=10_000)
    except Exception:  # a chart still drawing is worth a look, not a failure
        pass
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Streamlit scrolls inside its main container, so grow the window to the content first.
    viewport = page.viewport_size
    height = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return m ? m.scrollHeight : document.body.scrollHeight; }""")
    if viewport and height > viewport["height"]:
        page.set_viewport_size({"width": viewport["width"], "height": min(int(height) + 40, 12000)})
        page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    if viewport:
        page.set_viewport_size(viewport)
    return path
