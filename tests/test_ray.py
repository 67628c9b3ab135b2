"""Runs as Ray tasks on a local Ray (started here): same losses as the in-process workers, a lost worker
leaves the run interrupted with its history, and a wrong address is one clear line."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import psutil
import pytest

from lossviz import config as cfg
from lossviz.runs.ray_backend import RayBackend, RayUnavailable, mark_lost, worker_environment
from lossviz.runs.service import RunService
from lossviz.runs.state import RunState
from lossviz.runs.store import RunStore

from conftest import ROOT

# One xdist worker for all of them: the first test must run before this process starts its local Ray.
pytestmark = pytest.mark.xdist_group("ray")

SMALL = cfg.PRESETS["classifier-cce"].replace(epochs=1)
N = 1000


def wait_for(predicate, timeout=180.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_joining_a_cluster_that_is_not_there_is_one_clear_line(monkeypatch):
    """Runs first, before this module starts its own local Ray (which `auto` would then find)."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(RayUnavailable) as caught:
        RayBackend("auto", None, on_lost=lambda *_: None)
    message = str(caught.value)
    assert message.startswith("Ray at 'auto' cannot be reached:") and "\n" not in message


@pytest.fixture(scope="module")
def ray_store_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('ray') / 'runs.sqlite3'}"


@pytest.fixture(scope="module")
def ray_store(ray_store_url):
    store = RunStore(ray_store_url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def ray_service(ray_store, ray_store_url, mnist):
    backend = RayBackend("local", ray_store_url, on_lost=lambda run_id, message: mark_lost(ray_store, run_id, message),
                         num_cpus=2)
    service = RunService(ray_store, lambda: mnist, workers=1, backend=backend)
    yield service
    service.shutdown()
    backend.shutdown()


def test_workers_start_without_gpu_preallocation_and_with_the_shared_compile_cache():
    env = worker_environment("local")
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert env["JAX_COMPILATION_CACHE_DIR"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    assert "PYTHONPATH" not in worker_environment("ray://example:10001")


def test_ray_and_the_in_process_pool_give_the_same_losses(ray_service, ray_store, mnist, tmp_path):
    submitted = ray_service.submit(SMALL, "teacher", limit_train=N)
    assert not submitted.attached
    wait_for(lambda: ray_store.get(submitted.run_id).state == RunState.FINISHED)
    by_ray = ray_store.get(submitted.run_id)

    local_store = RunStore(f"sqlite:///{tmp_path / 'local.sqlite3'}")
    local = RunService(local_store, lambda: mnist, workers=1)
    try:
        again = local.submit(SMALL, "teacher", limit_train=N)
        assert again.run_id == submitted.run_id  # content-addressed: same config, data and engine
        wait_for(lambda: local_store.get(again.run_id).state == RunState.FINISHED)
        in_process = local_store.get(again.run_id)
    finally:
        local.shutdown()
        local_store.close()
    assert by_ray.steps.size == in_process.steps.size > 0
    np.testing.assert_allclose(by_ray.step_losses, in_process.step_losses, rtol=0, atol=1e-6)
    for ours, theirs in zip(by_ray.epochs, in_process.epochs):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], abs=1e-6)
        assert ours["test_accuracy"] == theirs["test_accuracy"]
        assert ours["test_loss"] == pytest.approx(theirs["test_loss"], abs=1e-6)
    assert by_ray.receipt["run_id"] == submitted.run_id


def _ray_task_processes():
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "_train_task" in cmdline:
            found.append(proc)
    return found


def test_a_lost_worker_leaves_the_run_interrupted_with_its_history(ray_service, ray_store):
    long_run = cfg.PRESETS["classifier-cce"].replace(epochs=200, seed=7)
    submitted = ray_service.submit(long_run, "teacher", limit_train=N)
    wait_for(lambda: ray_store.get(submitted.run_id).state == RunState.RUNNING
             and ray_store.get(submitted.run_id).steps.size > 0)
    wait_for(lambda: bool(_ray_task_processes()), timeout=30)
    for proc in _ray_task_processes():
        os.kill(proc.pid, signal.SIGKILL)
    wait_for(lambda: ray_store.get(submitted.run_id).state == RunState.INTERRUPTED, timeout=60)
    row = ray_store.get(submitted.run_id)
    assert row.steps.size > 0, "the history up to the last chunk is kept"
    assert "lost" in row.message and "Resubmit" in row.message
