"""Two app replicas on one PostgreSQL store (issue 14): a run started through replica A is watched live
through replica B, the owner's Stop on A ends it on B, and its link works on either once it has ended. A real throwaway PostgreSQL cluster,
two real `streamlit run` processes, chromium."""

from __future__ import annotations

import pytest

from conftest import ROOT, error_texts, screenshot, wait_for_app
from postgres import new_database
from test_runs_page import LabServer, progress_step, wait_for_step_beyond, wait_for_text

# Far longer than the watching below on any machine (a run that ended first made it racy); the owner's Stop
# ends it once the watcher has seen it move.
LIVE_LINK = "/mnist?p=classifier-cce&n=10000&hidden=512,512&bs=64&ep=40"


@pytest.fixture(scope="module")
def replicas(postgres_cluster):
    shared_store = new_database(postgres_cluster)
    servers = [LabServer(shared_store, ROOT / "tests" / f".streamlit-replica-{name}.log") for name in "ab"]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.browser
def test_browser_a_run_started_on_one_replica_is_watched_live_on_the_other(browser, replicas):
    replica_a, replica_b = replicas
    owner = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    watcher = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    for page, server in ((owner, replica_a), (watcher, replica_b)):  # both replicas warm before the run starts
        page.goto(server.url)
        wait_for_app(page)
        page.goto(server.url + LIVE_LINK)
        wait_for_app(page)
    owner.locator('[data-testid="stBaseButton-primary"]').filter(has_text="Train").click()
    wait_for_step_beyond(owner, 0, timeout=120)
    run_id = owner.url.split("run=", 1)[1].split("&", 1)[0]

    watcher.goto(f"{replica_b.url}/mnist?run={run_id}")
    wait_for_text(watcher, "Training on the server")
    seen = wait_for_step_beyond(watcher, 0)
    wait_for_step_beyond(watcher, seen)  # it moves on replica B while replica A's worker trains it
    screenshot(watcher, "replica-b-watching-live")

    # The owner's Stop on replica A reaches the worker and the watcher on replica B, who clicks nothing.
    owner.get_by_role("button", name="Stop", exact=True).click()
    wait_for_text(owner, "Stopped for everyone watching it", timeout=60)
    wait_for_text(watcher, "Stopped.", timeout=60)
    assert progress_step(watcher) >= seen
    assert not error_texts(watcher) and not error_texts(owner)

    # The ended run's link works on either replica.
    for server in (replica_a, replica_b):
        fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        fresh.goto(server.url)
        wait_for_app(fresh)
        fresh.goto(f"{server.url}/mnist?run={run_id}")
        wait_for_app(fresh)
        wait_for_text(fresh, "Stopped.", timeout=30)
        assert not error_texts(fresh)
        fresh.context.close()
