"""Faults a visitor can meet: a corrupt or missing data source, and a closed tab mid-training."""

from __future__ import annotations

import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, screenshot, wait_for_app
from lossviz import site

sys.path.insert(0, str(ROOT / "benchmarks"))
import load  # noqa: E402  (the load script's server and browser helpers)

MNIST_PAGES = [p for p in site.existing_pages()
               if any(reader in (ROOT / p.file).read_text() for reader in ("mnist_or_stop", "mnist_or_error"))]


@pytest.mark.parametrize("source", ["corrupt", "missing"])
@pytest.mark.parametrize("info", MNIST_PAGES, ids=[p.url_path for p in MNIST_PAGES])
def test_bad_data_source_gives_a_clear_message(info, source, tmp_path, monkeypatch):
    path = tmp_path / "mnist.npz"
    if source == "corrupt":
        path.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    monkeypatch.setenv("LOSSVIZ_MNIST", str(path))
    at = AppTest.from_file(str(ROOT / info.file), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "MNIST is not available" in errors and str(path) in errors
    assert "not a readable npz" in errors or "does not exist" in errors
    if info.url_path == "mnist":  # nothing can start training on data that is not there
        assert all(b.disabled for b in at.button if b.label in ("Train", "As written vs fixed", "MSE vs CE"))


def test_mnist_pages_exist_to_be_checked():
    assert {p.url_path for p in MNIST_PAGES} >= {"mnist"}


@pytest.mark.browser
def test_closing_the_tab_leaves_the_run_training_to_the_end(browser):
    from lossviz import settings
    from lossviz.runs.store import RunStore

    port = load.free_port()
    server = load.start_server(port, {"LOSSVIZ_MAX_CONCURRENT_TRAININGS": "1", "LOSSVIZ_WARMUP": "0"})  # own store
    base = f"http://127.0.0.1:{port}"
    main_text = "() => document.querySelector('[data-testid=\"stMain\"]').innerText"
    try:
        leaver = browser.new_context()
        page = leaver.new_page()
        page.goto(base)
        wait_for_app(page)
        page.goto(f"{base}/mnist?p=classifier-cce&n=10000&hidden=256&bs=32&ep=3")
        wait_for_app(page)
        page.locator(load.TRAIN_BUTTON).filter(has_text="Train").click()
        page.wait_for_function(f"() => ({main_text})().includes('Training on the server')", timeout=60_000)
        run_id = page.url.split("run=", 1)[1].split("&", 1)[0]
        leaver.close()  # runs belong to the server now, not to a tab
        store = RunStore(settings.database_url())
        deadline = time.time() + 120
        while store.state(run_id).live and time.time() < deadline:
            time.sleep(0.2)
        row = store.get(run_id)
        assert row.state.value == "finished", (row.state, row.message)
        assert row.steps.size == row.progress["total_steps"] == 3 * 313
    finally:
        server.terminate()
        server.wait(10)
