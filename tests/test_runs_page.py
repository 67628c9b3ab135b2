"""Stored runs on the MNIST lab: a run's link opens it (AppTest), a bad link gets a notice, and in chromium a
run outlives control changes, page visits, reloads, other browsers and a server restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, _free_port, app_test, error_texts, screenshot, start_streamlit, stop_streamlit, wait_for_app
from lossviz import config as cfg
from lossviz import data, lab, site
from lossviz.runs.service import RunService
from lossviz.runs.state import RunState
from lossviz.runs.store import RunStore

PAGE = "pages/mnist.py"
SMALL = cfg.PRESETS["classifier-cce"].replace(epochs=2)
N = 1000


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('runs') / 'runs.sqlite3'}"
    saved = os.environ.get("LOSSVIZ_DATABASE_URL")
    os.environ["LOSSVIZ_DATABASE_URL"] = url
    yield url
    if saved is None:
        del os.environ["LOSSVIZ_DATABASE_URL"]
    else:
        os.environ["LOSSVIZ_DATABASE_URL"] = saved


@pytest.fixture(scope="module")
def finished_run(store_url, mnist):
    """A classifier run trained into the page's store by a service of its own, as the command line would."""
    store = RunStore(store_url)
    service = RunService(store, lambda: mnist, workers=1)
    sub = service.submit(SMALL, "teacher", N)
    deadline = time.time() + 120
    while store.get(sub.run_id).state.live and time.time() < deadline:
        time.sleep(0.1)
    service.shutdown()
    assert store.get(sub.run_id).state == RunState.FINISHED
    return sub.run_id


def texts(at) -> str:
    return " ".join(e.value for kind in ("markdown", "info", "success", "warning", "caption")
                    for e in at.get(kind) if isinstance(getattr(e, "value", None), str))


def test_a_run_link_opens_the_finished_run_with_its_configuration(finished_run):
    at = app_test(PAGE, {"run": finished_run})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="mnist:p").value == "classifier-cce"
    assert at.number_input(key="mnist:ep").value == 2
    assert at.segmented_control(key="mnist:n").value == N
    assert at.query_params["run"] == finished_run
    assert any("Finished 2 epochs" in s.value for s in at.success)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("per step" in t for t in titles) and any("Confusion" in t or "confusion" in t for t in titles)
    assert any(finished_run in c.value for c in at.code)  # the copyable link
    assert "Receipt: run " + finished_run in texts(at)
    rows = next(d.value for d in at.dataframe if "epochs done" in d.value)  # not a chart's Data table
    assert len(rows) == 1 and rows["epochs done"].iloc[0] == 2
    downloads = [d.proto.label for d in at.get("download_button")]
    assert "Whole run with its receipt (JSON)" in downloads


def test_the_run_shown_keeps_its_name_while_its_state_changes(store_url, mnist):
    """Streamlit sends a selectbox's value back as the option's shown text; a text that changed since (queued →
    running) comes back as a bare string, and a Stop clicked in that moment stopped no run (seen in chromium)."""
    store = RunStore(store_url)
    service = RunService(store, lambda: mnist, workers=1)
    sub = service.submit(SMALL.replace(seed=7), "teacher", N)
    service.shutdown()  # leaves it queued, or ended
    at = app_test(PAGE, {"run": sub.run_id})
    shown = at.selectbox(key="mnist_shown")
    before = list(shown.options)
    assert shown.value == sub.run_id and len(before) == 1
    store.set_state(sub.run_id, RunState.INTERRUPTED, "A state change.")
    at.run()
    assert list(at.selectbox(key="mnist_shown").options) == before
    assert at.selectbox(key="mnist_shown").value == sub.run_id
    store.close()


@pytest.mark.parametrize("value, words", [
    ("zzzz", "is not a run id"),
    ("0123456789abcde", "is not a run id"),  # cut one character short
    ("0123456789abcdef", "No run `0123456789abcdef` is stored"),
])
def test_a_tampered_truncated_or_unknown_run_link_gets_a_notice_and_the_lab(store_url, value, words):
    at = app_test(PAGE, {"run": value, "p": "classifier-mse"})
    assert not at.exception, [e.value for e in at.exception]
    notices = " ".join(w.value for w in at.warning)
    assert words in notices, notices
    assert at.selectbox(key="mnist:p").value == "classifier-mse"  # the rest of the link still applies
    assert "run" not in at.query_params
    assert any(b.label == "Train" and not b.disabled for b in at.button)


class LabServer:
    """`streamlit run app.py` of its own on a temporary store, so a test may restart it."""

    def __init__(self, store_url: str, log_path):
        self.store_url, self.log_path = store_url, log_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        self.log = open(self.log_path, "a")
        # No warm-up: its page visits and preset compiles would compete with the run under test.
        self.proc = start_streamlit(self.port, {"LOSSVIZ_DATABASE_URL": self.store_url,
                                                "LOSSVIZ_MAX_CONCURRENT_TRAININGS": "1", "LOSSVIZ_WARMUP": "0"},
                                    self.log)

    def stop(self) -> None:
        if self.proc is not None:
            stop_streamlit(self.proc)
            self.log.close()
            self.proc = None


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab-server")
    server = LabServer(f"sqlite:///{folder / 'runs.sqlite3'}", ROOT / "tests" / ".streamlit-runs-server.log")
    server.start()
    yield server
    server.stop()


def progress_step(page) -> int | None:
    """The step the page's progress bar reports, ``None`` while it shows none."""
    bar = page.locator('[data-testid="stProgress"]')
    if not bar.count():
        return None
    text = bar.first.inner_text()
    return int(text.split("step ", 1)[1].split(" ", 1)[0].replace(",", "")) if "step " in text else None


def wait_for_text(page, words: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if words in page.locator('[data-testid="stMain"]').inner_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"{words!r} never appeared; the page says: "
                         + page.locator('[data-testid="stMain"]').inner_text()[:1500])


def wait_for_step_beyond(page, step: int, timeout: float = 60.0) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = progress_step(page)
        if now is not None and now > step:
            return now
        time.sleep(0.2)
    raise AssertionError(f"the run did not pass step {step} (at {progress_step(page)})")


# Far longer than the visits below on any machine (a run that ended early made them racy on a fast CI
# machine): the test ends it with a Stop once it has seen all it needs, so its length costs nothing.
LIVE_LINK = "/mnist?p=classifier-cce&n=10000&hidden=1024,1024&bs=64&ep=40"


@pytest.mark.browser
def test_browser_a_run_outlives_controls_pages_reloads_other_browsers_and_a_restart(browser, lab_server):
    owner_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = owner_context.new_page()
    page.goto(lab_server.url)  # the home page first: a fresh server's first page link is served in folder mode
    wait_for_app(page)
    page.goto(lab_server.url + LIVE_LINK)
    wait_for_app(page)
    assert not error_texts(page)
    page.locator('[data-testid="stBaseButton-primary"]').filter(has_text="Train").click()
    first = wait_for_step_beyond(page, 0, timeout=120)
    run_id = page.url.split("run=", 1)[1].split("&", 1)[0]
    assert len(run_id) == 16, page.url

    # Its link, opened in another browser with no session, shows it live.
    guest_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    guest = guest_context.new_page()
    guest.goto(f"{lab_server.url}/mnist?run={run_id}")
    wait_for_text(guest, "Training on the server")
    guest_step = wait_for_step_beyond(guest, 0)
    assert "you joined it" in guest.locator('[data-testid="stMain"]').inner_text()
    # A busy browser may still be drawing the page it was sent, and each epoch's rerun replaces the chart.
    guest.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)  # fails if none comes
    screenshot(guest, "runs-guest-live")

    # A control changed: the run goes on.
    page.get_by_text("Log loss axis").click()
    second = wait_for_step_beyond(page, first)
    assert "Training on the server" in page.locator('[data-testid="stMain"]').inner_text()
    # Another page and back.
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Gradients").click()
    wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="MNIST lab").click()
    wait_for_app(page, quiet_seconds=0.5)
    assert f"run={run_id}" in page.url
    third = wait_for_step_beyond(page, second)
    # A reload: a new session, the same run.
    page.reload()
    wait_for_app(page, quiet_seconds=0.5)
    wait_for_step_beyond(page, third - 1)
    screenshot(page, "runs-owner-after-reload")
    assert not error_texts(page)

    # Ended by a Stop in the store (as the owner's Stop on another replica writes it): both pages see it end
    # without any click. The reloaded owner is a new session, so its own Stop would only leave it. (Their steps
    # may differ by the worker's last flush, written after the state.)
    store = RunStore(lab_server.store_url)
    store.set_state(run_id, RunState.STOPPED, "Stopped by the test.")
    store.close()
    wait_for_text(guest, "Stopped.", timeout=60)
    wait_for_text(page, "Stopped.", timeout=30)
    assert progress_step(page) >= third - 1 and progress_step(guest) >= guest_step
    screenshot(guest, "runs-guest-ended")

    # After a restart the link still opens the ended run, with its history.
    lab_server.stop()
    lab_server.start()
    restarted = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    restarted.goto(lab_server.url)
    wait_for_app(restarted)
    restarted.goto(f"{lab_server.url}/mnist?run={run_id}")
    wait_for_app(restarted)
    wait_for_text(restarted, "Stopped.", timeout=30)
    assert restarted.get_by_text("Copy link to this run").count()
    restarted.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=30_000)
    assert restarted.locator('[data-testid="stPlotlyChart"]').count() >= 4  # steps, epochs, accuracy, confusion…
    assert not error_texts(restarted)
    screenshot(restarted, "runs-after-restart")
    for context in (owner_context, guest_context, restarted.context):
        context.close()
