"""The load script's short form: 10 chromium sessions across the pages and 4 trainings at once."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import CHROMIUM, ROOT, skip_or_fail

sys.path.insert(0, str(ROOT / "benchmarks"))
import load  # noqa: E402


@pytest.mark.browser
def test_ten_sessions_and_four_trainings_at_once():
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is missing")
    # Two slots for four trainings: two must queue, then finish.
    summary = load.run(sessions=10, rounds=1, trainings=4, slots=2)
    print(summary)
    assert summary["errors"] == []
    assert summary["page_loads"] == 6, summary
    assert summary["trainings_finished"] == 4, summary
    assert summary["trainings_seen_queued"] >= 1, summary
    assert summary["server_peak_rss_mb"] > 0
