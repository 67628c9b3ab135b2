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

MNIST_PAGES = [p for p in site.existing_pages() if "mnist_or_stop" in (ROOT / p.file).read_text()]


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
def test_closing_the_tab_stops_the_run_and_frees_its_slot(browser):
    port = load.free_port()
    server = load.start_server(port, {"LOSSVIZ_MAX_CONCURRENT_TRAININGS": "1"})
    base = f"http://127.0.0.1:{port}"
    main_text = "() => document.querySelector('[data-testid=\"stMain\"]').innerText"
    try:
        # A long run (the whole training set, 50 epochs: minutes) holds the server's only slot...
        leaver = browser.new_context()
        page = leaver.new_page()
        page.goto(f"{base}/mnist?p=autoencoder-sigmoid-bce&n=60000&ep=50")
        wait_for_app(page)
        page.locator(load.TRAIN_BUTTON).filter(has_text="Train").click()
        page.wait_for_function(f"() => ({main_text})().includes('Training #')", timeout=60_000)
        # ...until its visitor closes the tab.
        leaver.close()
        closed = time.perf_counter()
        stayer = browser.new_context()
        page = stayer.new_page()
        page.goto(f"{base}/mnist?{load.TRAINING_LINK}")
        wait_for_app(page)
        page.locator(load.TRAIN_BUTTON).filter(has_text="Train").click()
        page.wait_for_function(f"() => ({main_text})().includes('Finished.')", timeout=90_000)
        waited = time.perf_counter() - closed
        screenshot(page, "faults-slot-freed")
        stayer.close()
    finally:
        server.terminate()
        server.wait(10)
    assert waited < 60, waited
