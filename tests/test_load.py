"""The load script's short form: 6 chromium sessions across the pages and 3 trainings at once (the full
form, `python benchmarks/load.py`, runs 10 sessions and 4 trainings for three rounds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import CHROMIUM, ROOT, skip_or_fail


@pytest.mark.browser
def test_six_sessions_and_three_trainings_at_once():
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is missing")
    # Its own process: the script runs its own event loop and server. One slot for three
    # trainings, so two must queue and then finish.
    done = subprocess.run(
        [sys.executable, "benchmarks/load.py", "--sessions", "6", "--rounds", "1", "--trainings", "3",
         "--slots", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.stdout.strip(), done.stderr[-3000:]  # the script died before its summary
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(summary)
    assert summary["errors"] == [], summary.get("server_tracebacks")
    assert summary["page_loads"] == 3, summary
    assert summary["trainings_finished"] == 3, summary
    assert summary["trainings_seen_queued"] >= 1, summary
    # The server holds Streamlit, JAX and MNIST (55 MB of pixels), so a reading under 200 MB means the
    # watcher measured the wrong process; over 6 GB, the sessions leak what they should share.
    assert 200 < summary["server_peak_rss_mb"] < 6000, summary
    assert done.returncode == 0, done.stderr[-2000:]
