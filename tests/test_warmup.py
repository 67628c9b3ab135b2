"""The server's warm-up: the lab's presets compiled ahead on the workers' own datasets, and JAX's disk cache."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src import compilation_cache  # the cache is set up once per process; tests must start it afresh

from lossviz import engine, settings, warmup
from lossviz.config import PRESETS
from lossviz.runs.workers import shared_dataset


def small_mnist(n: int = 240):
    """MNIST's shapes and types, ``n`` training and 40 test images (the warm-up only needs their shapes)."""
    rng = np.random.default_rng(0)
    images = lambda k: rng.integers(0, 256, (k, 28, 28), dtype=np.uint8)  # noqa: E731
    return (images(n), rng.integers(0, 10, n, dtype=np.uint8)), (images(40), rng.integers(0, 10, 40, dtype=np.uint8))


def test_warm_up_compiles_what_a_train_press_of_the_preset_needs():
    mnist = small_mnist()
    warm = warmup.warm_presets(lambda: mnist, presets=("classifier-cce",))
    assert warm.done.is_set() and warm.error is None, warm.error
    assert {"mnist", "classifier-cce:data", "classifier-cce"} <= set(warm.steps)

    config = PRESETS["classifier-cce"].replace(seed=7, learning_rate=0.05, epochs=1)  # a visitor's own run
    dataset = shared_dataset(config, mnist)
    assert dataset is shared_dataset(PRESETS["classifier-cce"], mnist)  # the workers find the warmed data
    traced = dict(engine.TRACE_COUNTS)
    result = engine.run(config, dataset, should_stop=lambda: True)
    assert result.steps.size > 0
    assert engine.TRACE_COUNTS["train_chunk"] == traced.get("train_chunk", 0)  # nothing compiled again


def test_a_failing_warm_up_says_why_and_ends():
    def broken():
        raise OSError("no MNIST here")

    warm = warmup.warm_presets(broken, presets=("classifier-cce",))
    assert warm.done.is_set() and "no MNIST here" in warm.error


def test_the_compilation_cache_goes_to_the_configured_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSVIZ_JAX_CACHE_DIR", str(tmp_path / "jax"))
    monkeypatch.setattr(warmup, "_configured", None)
    before = {name: getattr(jax.config, name) for name in (
        "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes")}
    compilation_cache.reset_cache()
    try:
        folder = warmup.configure_compilation_cache()
        assert folder == settings.jax_cache_dir() == tmp_path / "jax"
        assert jax.config.jax_compilation_cache_dir == str(folder)
        assert warmup.configure_compilation_cache("/elsewhere") == folder  # once per process
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # keep even this tiny program
        jax.jit(lambda x: jnp.sin(x) * 3.25 + jnp.cos(x) / 7.5)(jnp.arange(11.0)).block_until_ready()
        assert any(folder.iterdir()), "nothing was written to the compilation cache"
    finally:
        for name, value in before.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()


@pytest.mark.parametrize("value, expected", [("", True), ("1", True), ("0", False), ("off", False)])
def test_the_warm_up_can_be_turned_off(monkeypatch, value, expected):
    monkeypatch.setenv("LOSSVIZ_WARMUP", value)
    assert settings.warmup() is expected


def test_the_warm_up_waits_its_grace_before_taking_the_cpu(monkeypatch):
    """The first visitor's page is drawn first: the background work starts ``grace`` seconds later."""
    begun = []

    def record(load_mnist, presets, warm):
        begun.append(time.monotonic())
        warm.done.set()

    monkeypatch.setenv("LOSSVIZ_WARMUP", "1")
    monkeypatch.setattr(warmup, "configure_compilation_cache", lambda: None)
    monkeypatch.setattr(warmup, "warm_presets", record)
    started = time.monotonic()
    warm = warmup.start(lambda: None, grace=0.5)
    assert warm.done.wait(60) and len(begun) == 1
    assert begun[0] - started >= 0.5


def test_the_served_entry_opens_every_page_before_it_answers(tmp_path):
    """``serve.py``'s lifespan runs each page's default view once, headless, in the server's own runtime (which
    fills the caches every first visitor would otherwise wait for); each run ends without an exception."""
    from conftest import _free_port, start_streamlit, stop_streamlit

    from lossviz import site

    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = start_streamlit(_free_port(), {"LOSSVIZ_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.sqlite3'}",
                                              "LOSSVIZ_WARMUP": "1"}, log, timeout=600)
        stop_streamlit(proc)  # before the presets' warm-up, after its grace, takes the CPU
    said = [line for line in log_path.read_text().splitlines() if "every page opened once" in line]
    assert len(said) == 1, log_path.read_text()[-3000:]
    for path in ("", *(page.url_path for page in site.existing_pages())):
        assert f"/{path} drawn in " in said[0], said[0]
