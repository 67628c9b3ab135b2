"""The run store, run ids and run states: real SQLite files and a real PostgreSQL cluster, no mocks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lossviz.config import PRESETS, TrainConfig
from lossviz.runs import ids
from lossviz.runs.state import RunState

DATA = "a" * 64
SEED_AE = PRESETS["seed-autoencoder"]


# --------------------------------------------------------------------------
# States and ids
# --------------------------------------------------------------------------


def test_live_states_are_queued_and_running():
    assert {s for s in RunState if s.live} == {RunState.QUEUED, RunState.RUNNING}
    assert RunState("interrupted") is RunState.INTERRUPTED


def test_from_engine_maps_the_three_engine_statuses_and_rejects_others():
    assert [RunState.from_engine(s) for s in ("finished", "stopped", "diverged")] == [
        RunState.FINISHED, RunState.STOPPED, RunState.DIVERGED]
    assert RunState.from_engine(RunState.STOPPED) is RunState.STOPPED
    for bad in ("queued", "running", "nonsense"):
        with pytest.raises(ValueError):
            RunState.from_engine(bad)


def test_run_id_is_stable_across_key_order_and_float_spelling():
    base = ids.run_id(SEED_AE, 60000, DATA)
    shuffled = dict(reversed(list(SEED_AE.to_dict().items())))
    assert ids.run_id(shuffled, 60000, DATA) == base
    respelled = SEED_AE.to_dict() | {"learning_rate": float("0.0010"), "bias_init": 0}
    assert ids.run_id(respelled, 60000, DATA) == base
    assert ids.is_run_id(base) and len(base) == 16 and base == base.lower()


def test_run_id_differs_for_every_config_field_train_size_data_and_engine(monkeypatch):
    base = ids.run_id(SEED_AE, 60000, DATA)
    changes = {"task": "classifier", "hidden": (128, 64, 28, 64, 129), "output_activation": "sigmoid",
               "loss": "mean_squared_error", "learning_rate": 1.0000000000000002e-3, "batch_size": 101,
               "epochs": 6, "optimizer": "sgd", "hidden_activation": "tanh", "pixels": "unit",
               "bias_init": 1e-300, "seed": 1}
    assert set(changes) == {f.name for f in dataclasses.fields(TrainConfig)}, "a field is untested"
    seen = {base}
    for name, value in changes.items():
        other = ids.run_id(SEED_AE.replace(**{name: value}), 60000, DATA)
        assert other not in seen, name
        seen.add(other)
    assert ids.run_id(SEED_AE, 59999, DATA) not in seen
    assert ids.run_id(SEED_AE, 60000, "b" + DATA[1:]) not in seen
    monkeypatch.setattr(ids, "ENGINE_VERSION", ids.ENGINE_VERSION + ".1")
    assert ids.run_id(SEED_AE, 60000, DATA) not in seen


@pytest.mark.parametrize("text", ["", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF",
                                  "0123456789abcdeg", "0123456789abcde ", " 0123456789abcdef",
                                  "0123456789abcdef\n", "../../etc/passwd", None, 123])
def test_is_run_id_rejects_tampered_and_truncated_values(text):
    assert not ids.is_run_id(text)


def test_data_sha256_matches_hashlib_and_sees_one_changed_pixel():
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    y = np.array([3, 7], dtype=np.uint8)
    data = ((x, y), (x[:1], y[:1]))
    first = ids.data_sha256(data)
    assert first == ids.data_sha256(data) and len(first) == 64
    changed = x.copy()
    changed[1, 5, 5] ^= 1
    assert ids.data_sha256(((changed, y), (x[:1], y[:1]))) != first
    # Same bytes, different shape: a different data set.
    assert ids.data_sha256(((x.reshape(2, 784), y), (x[:1], y[:1]))) != first


# --------------------------------------------------------------------------
# The store, on SQLite and on PostgreSQL
# --------------------------------------------------------------------------

import threading  # noqa: E402
import time  # noqa: E402

from sqlalchemy import text  # noqa: E402

from lossviz.runs import database  # noqa: E402
from lossviz.runs.store import INTERRUPTED_MESSAGE, RunStore, StoredRowError, StoreError  # noqa: E402

RUN_A, RUN_B, RUN_C, RUN_D, RUN_E = (f"{i:016x}" for i in range(0xA, 0xF))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store/runs.sqlite3"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    yield url
    database.forget(url)


@pytest.fixture()
def store(store_url):
    return RunStore(store_url)


def raw_sql(store: RunStore, sql: str, **params) -> list:
    """Run SQL behind the store's back (to corrupt rows or age heartbeats)."""
    engine = database._new_engine(store._url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def chunk(start: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return np.arange(start, start + n, dtype=np.int64), rng.standard_normal(n).astype(np.float32)


def test_two_threads_inserting_one_id_store_it_once(store):
    for round_ in range(4):
        run = f"{round_:016x}"
        barrier, results = threading.Barrier(2), []

        def insert(owner):
            barrier.wait()
            results.append((store.insert_queued(run, SEED_AE.to_dict(), owner), owner))

        threads = [threading.Thread(target=insert, args=(f"session-{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(ok for ok, _ in results) == [False, True]
        winner = next(owner for ok, owner in results if ok)
        row = store.get(run)
        assert row.owner == winner and row.state is RunState.QUEUED and row.version == 1
        assert row.config == SEED_AE.to_dict() | {"hidden": list(SEED_AE.hidden)}


def test_history_round_trips_exactly_and_versions_count_every_write(store):
    assert store.version(RUN_A) is None and store.get(RUN_A) is None
    assert store.insert_queued(RUN_A, {"x": 1}, None)
    store.set_state(RUN_A, RunState.RUNNING, receipt={"seed": 0, "jax": "0.10.2"})
    pieces = [chunk(1, 5, 0), chunk(6, 3, 1), chunk(9, 4, 2)]
    pieces[1][1][1] = np.nan  # a diverging step is history too
    pieces[2][1][0] = -0.0
    epochs = [[], [{"epoch": 1, "loss": np.float32(0.25), "test_loss": float("nan")}], [{"epoch": 2, "loss": 1e-30}]]
    for (steps, losses), new_epochs, n in zip(pieces, epochs, range(3)):
        store.append_history(RUN_A, steps, losses, new_epochs, {"step": int(steps[-1]), "epoch": n})
    assert store.version(RUN_A) == 5
    store.heartbeat([RUN_A])
    assert store.version(RUN_A) == 5, "a heartbeat is not a change the page should redraw for"
    row = store.get(RUN_A)
    np.testing.assert_array_equal(row.steps, np.arange(1, 13))
    assert row.steps.dtype == np.int64 and row.step_losses.dtype == np.float32
    expected = np.concatenate([losses for _, losses in pieces])
    assert row.step_losses.view(np.uint32).tolist() == expected.view(np.uint32).tolist()  # bit for bit, NaN and -0.0
    assert row.epochs[0]["loss"] == float(np.float32(0.25)) and np.isnan(row.epochs[0]["test_loss"])
    assert row.epochs[1] == {"epoch": 2, "loss": 1e-30}
    assert row.progress == {"step": 12, "epoch": 2} and row.receipt == {"seed": 0, "jax": "0.10.2"}
    assert row.state is RunState.RUNNING and row.updated_at >= row.created_at
    with pytest.raises(ValueError):
        store.append_history(RUN_A, [1, 2], [0.5], [], {})
    with pytest.raises(KeyError):
        store.set_state(RUN_B, RunState.FINISHED)


def test_arrays_round_trip_bit_exact_as_lists_and_dicts(store):
    store.insert_queued(RUN_A, {}, None)
    weights = [np.array([[1.5, -0.0], [np.nan, np.inf]], np.float32), np.arange(3, dtype=np.int64),
               np.zeros((0, 4), np.float16), np.array(7, np.uint8)]
    store.put_arrays(RUN_A, "params/final", weights)
    payload = {"images": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28), "labels": np.array([3, 9])}
    store.put_arrays(RUN_A, "payload/reconstructions", payload)
    back = store.get_arrays(RUN_A, "params/final")
    assert isinstance(back, list) and len(back) == 4
    for got, want in zip(back, weights):
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
    got = store.get_arrays(RUN_A, "payload/reconstructions")
    assert set(got) == set(payload) and all(np.array_equal(got[k], payload[k]) for k in payload)
    store.put_arrays(RUN_A, "params/final", [np.ones(2)])  # replaced, not duplicated
    assert len(store.get_arrays(RUN_A, "params/final")) == 1
    assert store.array_names(RUN_A) == ["params/final", "payload/reconstructions"]
    assert store.get_arrays(RUN_A, "params/epoch/1") is None and store.array_names(RUN_B) == []


def test_list_runs_is_newest_first_filtered_and_limited(store):
    for run in (RUN_A, RUN_B, RUN_C, RUN_D):
        store.insert_queued(run, {"run": run}, None)
        time.sleep(0.002)
    store.append_history(RUN_B, *chunk(0, 3, 0), [], {})
    store.set_state(RUN_B, RunState.FINISHED, "done")
    assert [r.run_id for r in store.list_runs()] == [RUN_D, RUN_C, RUN_B, RUN_A]
    assert [r.run_id for r in store.list_runs(limit=2)] == [RUN_D, RUN_C]
    finished = store.list_runs(states=[RunState.FINISHED])
    assert [r.run_id for r in finished] == [RUN_B] and finished[0].message == "done"
    assert finished[0].steps.size == 0, "listing skips history"
    assert [r.run_id for r in store.list_runs(states=[RunState.QUEUED, RunState.RUNNING])] == [RUN_D, RUN_C, RUN_A]


def test_queue_position_counts_the_queued_runs_ahead(store):
    for run in (RUN_A, RUN_B, RUN_C):
        store.insert_queued(run, {}, None)
        time.sleep(0.002)
    assert [store.queue_position(r) for r in (RUN_A, RUN_B, RUN_C)] == [1, 2, 3]
    store.set_state(RUN_A, RunState.RUNNING)
    assert [store.queue_position(r) for r in (RUN_A, RUN_B, RUN_C)] == [None, 1, 2]
    store.set_state(RUN_B, RunState.STOPPED)
    assert store.queue_position(RUN_C) == 1 and store.queue_position(RUN_D) is None


def test_requeue_claims_an_ended_run_once_and_drops_its_history(store):
    store.insert_queued(RUN_A, {}, "first")
    store.insert_queued(RUN_B, {}, None)
    store.append_history(RUN_A, *chunk(0, 4, 0), [{"epoch": 1}], {"step": 4})
    store.put_arrays(RUN_A, "params/final", [np.ones(3)])
    assert not store.requeue(RUN_A, "second"), "a live run is not requeued"
    store.set_state(RUN_A, RunState.INTERRUPTED, INTERRUPTED_MESSAGE)
    assert store.requeue(RUN_A, "second") and not store.requeue(RUN_A, "third")
    row = store.get(RUN_A)
    assert (row.state, row.owner, row.steps.size, row.epochs, row.progress) == (RunState.QUEUED, "second", 0, [], {})
    assert store.array_names(RUN_A) == [] and store.queue_position(RUN_A) == 2, "requeued at the back"
    assert store.state(RUN_A) is RunState.QUEUED and store.state(RUN_E) is None


def test_evict_deletes_the_oldest_ended_runs_with_their_history(store):
    for run in (RUN_A, RUN_B, RUN_C, RUN_D, RUN_E):
        store.insert_queued(run, {}, None)
        store.append_history(run, *chunk(0, 3, 0), [{"epoch": 1}], {})
        store.put_arrays(run, "params/final", [np.ones(2)])
        time.sleep(0.002)
    store.set_state(RUN_A, RunState.RUNNING)  # the oldest, but live
    for run in (RUN_B, RUN_C, RUN_D, RUN_E):
        store.set_state(run, RunState.FINISHED)
    assert store.evict(5) == 0
    assert store.evict(2) == 3
    assert {r.run_id for r in store.list_runs()} == {RUN_A, RUN_E}
    left = {name: raw_sql(store, f"SELECT DISTINCT run_id FROM {name} ORDER BY run_id") for name in
            ("run_chunks", "run_arrays")}
    assert left == {"run_chunks": [(RUN_A,), (RUN_E,)], "run_arrays": [(RUN_A,), (RUN_E,)]}
    assert store.evict(0) == 1 and [r.run_id for r in store.list_runs()] == [RUN_A], "live runs are never evicted"


def test_mark_interrupted_spares_runs_with_a_fresh_heartbeat(store, store_url):
    for run in (RUN_A, RUN_B, RUN_C, RUN_D):
        store.insert_queued(run, {}, None)
    store.set_state(RUN_A, RunState.RUNNING)
    store.append_history(RUN_A, *chunk(0, 6, 0), [{"epoch": 1}], {"step": 6})
    store.set_state(RUN_B, RunState.RUNNING)
    store.set_state(RUN_D, RunState.FINISHED)
    old = time.time() - 120
    raw_sql(store, "UPDATE runs SET heartbeat_at = :old WHERE id IN (:a, :c)", old=old, a=RUN_A, c=RUN_C)
    assert store.mark_interrupted(stale_after=60) == 2  # A (running) and C (queued): nobody beat them for 2 min
    a, b, c = store.get(RUN_A), store.get(RUN_B), store.get(RUN_C)
    assert a.state is c.state is RunState.INTERRUPTED and b.state is RunState.RUNNING
    assert "history up to the last chunk is kept" in a.message and a.steps.size == 6 and a.epochs == [{"epoch": 1}]
    assert store.get(RUN_D).state is RunState.FINISHED
    assert store.mark_interrupted(stale_after=60) == 0
    # By default SQLite means one process (every live run is an orphan at its start-up); PostgreSQL means
    # replicas may share the store, so a run beaten a moment ago by one of them is left alone.
    single_process = store_url.startswith("sqlite")
    assert store.mark_interrupted("server restarted") == int(single_process)
    assert store.mark_interrupted("server restarted", stale_after=0) == int(not single_process)
    assert store.get(RUN_B).message == "server restarted" and store.get(RUN_D).state is RunState.FINISHED


@pytest.mark.parametrize("column,value,problem", [
    ("config", "{not json", "configuration is not JSON"),
    ("progress", "[1, 2]", "progress is a list"),
    ("state", "exploded", "not a run state"),
])
def test_a_row_that_does_not_parse_names_its_run(store, column, value, problem):
    store.insert_queued(RUN_A, {}, None)
    store.insert_queued(RUN_B, {}, None)
    raw_sql(store, f"UPDATE runs SET {column} = :value WHERE id = :id", value=value, id=RUN_A)
    with pytest.raises(StoredRowError, match=problem) as err:
        store.get(RUN_A)
    assert RUN_A in str(err.value) and err.value.run_id == RUN_A
    assert [r.run_id for r in store.list_runs()] == [RUN_B], "one bad row does not hide the others"


def test_a_damaged_history_or_array_blob_names_its_run(store):
    store.insert_queued(RUN_A, {}, None)
    store.append_history(RUN_A, *chunk(0, 3, 0), [], {})
    store.put_arrays(RUN_A, "params/final", [np.ones(3)])
    raw_sql(store, "UPDATE run_chunks SET steps = :b WHERE run_id = :id", b=b"\x00" * 7, id=RUN_A)
    with pytest.raises(StoredRowError, match=f"{RUN_A}.*steps"):
        store.get(RUN_A)
    raw_sql(store, "UPDATE run_chunks SET steps = :b WHERE run_id = :id", b=b"\x00" * 16, id=RUN_A)
    with pytest.raises(StoredRowError, match="different numbers of steps and losses"):
        store.get(RUN_A)
    raw_sql(store, "UPDATE run_arrays SET data = :b WHERE run_id = :id", b=b"PK\x03\x04garbage", id=RUN_A)
    with pytest.raises(StoredRowError, match=f"{RUN_A}.*params/final"):
        store.get_arrays(RUN_A, "params/final")


def test_writers_and_pollers_share_one_store_without_errors(store):
    store.insert_queued(RUN_A, {}, None)
    done, errors, seen = threading.Event(), [], []

    def poll():
        try:
            while not done.is_set():
                seen.append(store.version(RUN_A))
                row = store.get(RUN_A)
                assert row.steps.size == row.step_losses.size
        except Exception as err:  # reported below; a thread's exception would vanish
            errors.append(err)

    pollers = [threading.Thread(target=poll) for _ in range(4)]
    for t in pollers:
        t.start()
    for i in range(30):
        store.append_history(RUN_A, *chunk(i * 2, 2, i), [], {"step": i})
    done.set()
    for t in pollers:
        t.join()
    assert errors == [] and store.version(RUN_A) == 31 and store.get(RUN_A).steps.size == 60
    assert seen == sorted(seen) or len(set(seen)) > 1


def test_bytes_of_counts_history_and_arrays(store):
    store.insert_queued(RUN_A, SEED_AE.to_dict(), "token")
    empty = store.bytes_of(RUN_A)
    store.append_history(RUN_A, *chunk(0, 1000, 0), [], {})
    assert store.bytes_of(RUN_A) - empty == 1000 * (8 + 4) + len("[]")
    weights = np.zeros((784, 128), np.float32)
    store.put_arrays(RUN_A, "params/final", [weights])
    assert store.bytes_of(RUN_A) - empty - 12002 >= weights.nbytes
    assert store.bytes_of(RUN_B) == 0


# --------------------------------------------------------------------------
# Faults of the database itself and the default location
# --------------------------------------------------------------------------


def test_unreachable_postgres_is_one_line_without_the_password():
    with socket_closed_port() as port:
        url = f"postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:{port}/courses"
        with pytest.raises(StoreError) as err:
            RunStore(url)
    message = str(err.value)
    assert "s3cr3t-pw" not in message and "\n" not in message
    assert f"postgresql+psycopg://alice:***@127.0.0.1:{port}/courses" in message
    database.forget(url)


def test_unwritable_sqlite_path_is_one_line(tmp_path):
    (tmp_path / "not-a-folder").write_text("a file where a folder should be")
    url = f"sqlite:///{tmp_path}/not-a-folder/runs.sqlite3"
    with pytest.raises(StoreError) as err:
        RunStore(url)
    assert "\n" not in str(err.value) and f"{tmp_path}/not-a-folder/runs.sqlite3" in str(err.value)


def test_default_store_is_one_sqlite_file_under_xdg_data_home(tmp_path, monkeypatch):
    from lossviz import settings

    for name in ("LOSSVIZ_DATABASE_URL", "LOSSVIZ_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    url = settings.database_url()
    assert url == f"sqlite:///{tmp_path}/xdg/lossviz/runs.sqlite3"
    try:
        RunStore().insert_queued(RUN_A, {}, None)
        assert (tmp_path / "xdg" / "lossviz" / "runs.sqlite3").is_file()
        assert raw_sql(RunStore(), "PRAGMA journal_mode") == [("wal",)]
    finally:
        database.forget(url)
    monkeypatch.setenv("LOSSVIZ_DATA_DIR", str(tmp_path / "own"))
    assert settings.database_url() == f"sqlite:///{tmp_path}/own/runs.sqlite3"
    monkeypatch.setenv("LOSSVIZ_DATABASE_URL", "postgresql+psycopg://u@h/d")
    assert settings.database_url() == "postgresql+psycopg://u@h/d"
    monkeypatch.setenv("LOSSVIZ_MAX_STORED_RUNS", "25")
    assert settings.limits().max_stored_runs == 25


class socket_closed_port:
    """A 127.0.0.1 port nothing listens on (bound, never listened, while the test runs)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()


def test_a_missing_postgres_database_is_one_line_naming_it(postgres_url):
    url = postgres_url.rsplit("/", 1)[0].replace("lossviz@", "lossviz:pw-not-shown@") + "/no_such_db"
    with pytest.raises(StoreError) as err:
        RunStore(url)
    message = str(err.value)
    assert "no_such_db" in message and "does not exist" in message and "\n" not in message
    assert "pw-not-shown" not in message
    database.forget(url)
