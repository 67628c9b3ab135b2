"""The run service and its workers against real SQLite files: one training per identical run, attaching,
stop by owner vs visitor, the queue cap, runs interrupted by a restart, a store lost mid-run."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from sqlalchemy import event

from lossviz import config as cfg
from lossviz.runs import service as service_mod
from lossviz.runs import workers
from lossviz.runs.service import RunService
from lossviz.runs.state import RunState
from lossviz.runs.store import RunStore

from conftest import ROOT, skip_or_fail

SMALL = cfg.PRESETS["classifier-cce"].replace(epochs=1)
N = 1000


class HeldBackend:
    """Keeps submissions instead of training them, so a test can hold a run queued and train it when it likes."""

    def __init__(self):
        self.submitted: list[tuple[str, dict, int | None]] = []

    def submit(self, run_id, config, limit_train=None):
        self.submitted.append((run_id, config, limit_train))

    def shutdown(self):
        pass


@pytest.fixture()
def store(tmp_path):
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    yield store
    store.close()


def wait_for(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_identical_submissions_cost_one_training_and_later_ones_attach(store, mnist):
    service = RunService(store, lambda: mnist, workers=2)
    try:
        results = [None] * 6
        barrier = threading.Barrier(6)

        def press(i):
            barrier.wait()
            results[i] = service.submit(SMALL, f"student-{i}", N)

        threads = [threading.Thread(target=press, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({r.run_id for r in results}) == 1
        assert sum(not r.attached for r in results) == 1
        run_id = results[0].run_id
        wait_for(lambda: store.get(run_id).state == RunState.FINISHED)
        late = service.submit(SMALL, "latecomer", N)
        assert late.attached and late.state == RunState.FINISHED and "already trained" in late.message
        assert service.computed == 1
        row = store.get(run_id)
        assert row.steps.size == int(np.ceil(N / SMALL.batch_size)) and row.steps[-1] == row.steps.size
        assert len(row.epochs) == 1 and row.epochs[0]["test_accuracy"] > 0.5
        assert {"params/initial", "params/final", "payload/confusion", "payload/misclassified"} <= set(
            store.array_names(run_id))
        assert store.get_arrays(run_id, "payload/confusion")[0].sum() == min(N, 10000)
        assert row.receipt["run_id"] == run_id and row.receipt["seed"] == SMALL.seed and row.receipt["jax"]
        # A different seed is a different run.
        assert service.run_id_of(SMALL.replace(seed=1), N)[0] != run_id
    finally:
        service.shutdown()


def test_attach_to_a_queued_run_gives_its_place_and_stop_by_owner_ends_it_for_everyone(store, mnist):
    backend = HeldBackend()
    service = RunService(store, lambda: mnist, workers=1, backend=backend)
    first = service.submit(SMALL, "teacher", N)
    second = service.submit(SMALL.replace(seed=7), "teacher", N)
    joined = service.submit(SMALL.replace(seed=7), "student", N)
    assert not first.attached and joined.attached and joined.state == RunState.QUEUED
    assert "number 2 in line" in joined.message
    assert len(backend.submitted) == 2
    # A visitor's Stop leaves the run; the owner's ends it for everyone.
    assert service.stop(second.run_id, "student") == service_mod.LEFT
    assert store.get(second.run_id).state == RunState.QUEUED
    assert second.run_id not in [r.run_id for r in service.session_runs("student")]
    assert service.stop(second.run_id, "teacher") == service_mod.STOPPED
    assert store.get(second.run_id).state == RunState.STOPPED
    # The worker that picks up a run stopped in the queue does not train it.
    state = workers.train_into_store(second.run_id, backend.submitted[1][1], None, N, store=store, mnist=mnist)
    assert state == RunState.STOPPED and store.get(second.run_id).steps.size == 0
    assert service.stop(second.run_id, "teacher") == service_mod.ALREADY_ENDED


def test_stop_by_owner_ends_a_running_run_between_chunks(store, mnist):
    service = RunService(store, lambda: mnist, workers=1)
    try:
        long_run = SMALL.replace(epochs=200, batch_size=8)
        sub = service.submit(long_run, "owner", N)
        wait_for(lambda: store.get(sub.run_id).steps.size > 0)
        assert service.stop(sub.run_id, "visitor") == service_mod.LEFT
        assert store.get(sub.run_id).state == RunState.RUNNING
        assert service.stop(sub.run_id, "owner") == service_mod.STOPPED
        wait_for(lambda: "Stopped at step" in store.get(sub.run_id).message, timeout=30)
        row = store.get(sub.run_id)
        assert row.state == RunState.STOPPED and 0 < row.steps.size < row.progress["total_steps"]
    finally:
        service.shutdown()


def test_a_session_cannot_queue_more_than_the_cap(store, mnist, monkeypatch):
    monkeypatch.setenv("LOSSVIZ_MAX_QUEUED_PER_SESSION", "2")
    service = RunService(store, lambda: mnist, workers=1, backend=HeldBackend())
    service.submit(SMALL.replace(seed=1), "eager", N)
    service.submit(SMALL.replace(seed=2), "eager", N)
    with pytest.raises(service_mod.QueueFull, match="2 runs waiting"):
        service.submit(SMALL.replace(seed=3), "eager", N)
    # Attaching to an existing run costs nothing and is always allowed; another session has its own cap.
    assert service.submit(SMALL.replace(seed=1), "eager", N).attached
    assert not service.submit(SMALL.replace(seed=3), "patient", N).attached


def test_a_restart_marks_orphans_interrupted_and_resubmit_trains_again(store, mnist):
    held = HeldBackend()
    old = RunService(store, lambda: mnist, workers=1, backend=held)
    sub = old.submit(SMALL, "owner", N)
    store.set_state(sub.run_id, RunState.RUNNING, "Training…")
    store.append_history(sub.run_id, [1, 2, 3], [2.3, 2.2, 2.1], [], {"step": 3, "total_steps": 32})
    queued = old.submit(SMALL.replace(seed=5), "owner", N)
    # The server dies; a new one starts on the same file (the heartbeat is old by then).
    fresh = RunService(store, lambda: mnist, workers=1)
    try:
        assert fresh.interrupted_at_start == 2
        row = store.get(sub.run_id)
        assert row.state == RunState.INTERRUPTED and row.steps.tolist() == [1, 2, 3]
        assert store.get(queued.run_id).state == RunState.INTERRUPTED
        again = fresh.resubmit(sub.run_id, "visitor")
        assert not again.attached
        wait_for(lambda: store.get(sub.run_id).state == RunState.FINISHED)
        row = store.get(sub.run_id)
        assert row.steps.tolist() == list(range(1, 33)) and row.owner == "visitor"
        # Pressing Train on an interrupted configuration trains it too.
        assert not fresh.submit(SMALL.replace(seed=5), "other", N).attached
    finally:
        fresh.shutdown()


def test_a_store_that_fills_up_mid_run_keeps_the_result_in_memory(store, mnist):
    backend = HeldBackend()
    service = RunService(store, lambda: mnist, workers=1, backend=backend)
    sub = service.submit(SMALL.replace(epochs=2), "owner", N)
    # A real SQLite fault: the database may not grow by one more page ("database or disk is full").
    @event.listens_for(store._engine, "checkout")
    def disk_full(dbapi_connection, record, proxy):
        dbapi_connection.execute("PRAGMA max_page_count=1")

    state = workers.train_into_store(sub.run_id, backend.submitted[0][1], None, N, store=store, mnist=mnist)
    event.remove(store._engine, "checkout", disk_full)
    assert state == RunState.FINISHED
    row, arrays = service.view(sub.run_id)
    assert row.state == RunState.FINISHED and "could not" in row.message and "Download it" in row.message
    assert row.steps.size == 2 * 32 and len(row.epochs) == 2
    assert arrays("payload/confusion")[0].sum() == N
    assert store.get(sub.run_id).state != RunState.FINISHED  # what the store has stops at the fault


def test_the_worker_never_imports_streamlit(tmp_path):
    code = f"""
import sys
from lossviz import config, data
from lossviz.runs.store import RunStore
from lossviz.runs.service import RunService
store = RunStore('sqlite:///{tmp_path / "w.sqlite3"}')
service = RunService(store, lambda: data.load_mnist(allow_download=False), workers=1)
sub = service.submit(config.PRESETS['classifier-cce'].replace(epochs=1), 's', 500)
service.shutdown()
assert store.get(sub.run_id).state.value == 'finished', store.get(sub.run_id)
assert 'streamlit' not in sys.modules
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if "DataError" in out.stderr:
        skip_or_fail("real MNIST is not installed")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_the_command_line_trains_into_the_store_prints_the_link_and_lists_runs(mnist, capsys, tmp_path, monkeypatch):
    from lossviz import __main__ as cli

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("LOSSVIZ_DATABASE_URL", url)
    assert cli.main(["train", "--preset", "classifier-cce", "--epochs", "1", "--limit-train", "500"]) == 0
    out = capsys.readouterr().out
    run_id = out.split("stored as run ", 1)[1].split(" ", 1)[0]
    assert f"http://localhost:8501/mnist?run={run_id}" in out
    store = RunStore(url)
    row = store.get(run_id)
    assert row.state == RunState.FINISHED and row.owner is None and row.steps.size == 16
    assert "payload/confusion" in store.array_names(run_id) and row.receipt["run_id"] == run_id
    # The lab's service computes the same id for the same configuration and images: it attaches.
    service = RunService(store, lambda: mnist, workers=1, backend=HeldBackend())
    assert service.submit(cfg.PRESETS["classifier-cce"].replace(epochs=1), "student", 500).attached
    assert cli.main(["runs", "--link-base", "https://class.example"]) == 0
    listed = capsys.readouterr().out
    assert run_id in listed and f"https://class.example/mnist?run={run_id}" in listed and "finished" in listed


def test_receipt_timing_separates_the_first_chunks_compile_from_the_steady_step():
    from lossviz.runs.receipt import timing

    # Chunks of 10 steps at 0.1 s/step after a first chunk that also spent 2 s compiling.
    marks = [(3.0, 10), (4.0, 20), (5.0, 30)]
    assert timing(marks) == pytest.approx({"compile_seconds": 2.0, "step_seconds": 0.1})
    assert timing([(1.5, 10)]) == {"compile_seconds": 1.5, "step_seconds": None}


def test_a_stored_run_reads_back_as_the_labs_record_and_its_json_carries_the_receipt(store, mnist):
    import json

    from lossviz.runs import views

    service = RunService(store, lambda: mnist, workers=1, backend=HeldBackend())
    sub = service.submit(SMALL, "owner", N)
    workers.train_into_store(sub.run_id, service.backend.submitted[0][1], None, N, store=store, mnist=mnist)
    row, arrays = service.view(sub.run_id)
    record = views.record_of(row, arrays)
    assert record.status == "finished" and record.train_size == N and record.config == SMALL
    assert record.steps == list(range(1, 33)) and len(record.epochs) == 1
    assert record.confusion.sum() == N and record.misclassified[0]["images"].shape[0] == 8
    whole = json.loads(views.run_json(record, row.receipt))
    assert whole["receipt"]["run_id"] == sub.run_id and whole["epochs"][0]["test_accuracy"] > 0.5


def test_new_runs_evict_the_oldest_ended_ones_beyond_the_retention_limit(store, mnist, monkeypatch):
    monkeypatch.setenv("LOSSVIZ_MAX_STORED_RUNS", "2")
    service = RunService(store, lambda: mnist, workers=1, backend=HeldBackend())
    ended = []
    for seed in (1, 2):
        sub = service.submit(SMALL.replace(seed=seed), "teacher", N)
        store.set_state(sub.run_id, RunState.FINISHED, "done")
        ended.append(sub.run_id)
        time.sleep(0.01)  # distinct creation times: the oldest goes first
    live = service.submit(SMALL.replace(seed=3), "teacher", N)
    assert store.get(ended[0]) is None, "the oldest ended run is evicted"
    assert store.get(ended[1]) is not None and store.get(live.run_id).state == RunState.QUEUED
    for seed in (4, 5):  # live runs are never evicted, even past the limit
        service.submit(SMALL.replace(seed=seed), "another", N)
    assert all(row.state.live for row in store.list_runs()) and len(store.list_runs()) == 3


def test_the_pool_keeps_the_heartbeat_of_runs_waiting_in_its_queue(store, mnist, monkeypatch):
    monkeypatch.setattr(workers, "HEARTBEAT_EVERY_SECONDS", 0.05)
    service = RunService(store, lambda: mnist, workers=1)
    try:
        busy = service.submit(cfg.PRESETS["classifier-cce"].replace(epochs=200, batch_size=8), "a", N)
        waiting = service.submit(SMALL.replace(seed=11), "b", N)
        wait_for(lambda: store.state(busy.run_id) == RunState.RUNNING)
        time.sleep(0.6)
        # Another replica starting on the shared store spares runs whose heartbeat is fresh.
        assert store.mark_interrupted(stale_after=0.4) == 0
        assert store.state(waiting.run_id) == RunState.QUEUED
    finally:
        service.stop(busy.run_id, "a")
        service.shutdown()
