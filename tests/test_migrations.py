"""Alembic migrations of the run store: an older store opens in a newer lossviz with every run kept.

Runs on SQLite and on the throwaway PostgreSQL cluster of tests/postgres.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from conftest import ROOT
from lossviz.runs import database
from lossviz.runs.schema import VERSION_TABLE, metadata
from lossviz.runs.state import RunState
from lossviz.runs.store import RunStore

FIRST = "0001"


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/runs.sqlite3"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    yield url
    database.forget(url)


def engine_at(url: str, revision: str):
    engine = database._new_engine(url)
    database.upgrade_schema(engine, revision)
    return engine


def populate_first_schema(engine, n_runs: int) -> dict[str, dict]:
    """Write runs with plain SQL as lossviz at revision 0001 did; returns what each run should read back as."""
    rng = np.random.default_rng(0)
    expected = {}
    with engine.begin() as conn:
        for i in range(n_runs):
            run_id = f"{i:016x}"
            state = list(RunState)[i % len(RunState)]
            steps = np.arange(1, 11, dtype="<i8") + 10 * i
            losses = rng.standard_normal(10).astype("<f4")
            conn.execute(text(
                "INSERT INTO runs (id, config, state, message, owner, created_at, updated_at, version, progress, receipt)"
                " VALUES (:id, :config, :state, :message, :owner, :t, :t, 3, :progress, :receipt)"),
                {"id": run_id, "config": json.dumps({"seed": i}), "state": state.value, "message": f"run {i}",
                 "owner": None if i % 2 else f"session-{i}", "t": 1_700_000_000.0 + i,
                 "progress": json.dumps({"step": 10}), "receipt": json.dumps({"seed": i})})
            for half in (slice(0, 4), slice(4, 10)):
                conn.execute(text("INSERT INTO run_chunks (run_id, steps, losses, epochs) VALUES (:r, :s, :l, :e)"),
                             {"r": run_id, "s": steps[half].tobytes(), "l": losses[half].tobytes(),
                              "e": json.dumps([{"epoch": 1, "loss": float(losses[half].mean())}])})
            expected[run_id] = {"state": state, "steps": steps, "losses": losses, "owner": None if i % 2 else f"session-{i}"}
    return expected


def test_an_upgraded_first_schema_keeps_every_run_readable(empty_url):
    old = engine_at(empty_url, FIRST)
    assert database.current_revision(old) == FIRST
    expected = populate_first_schema(old, 9)
    old.dispose()

    store = RunStore(empty_url)  # start-up upgrades to head
    assert database.current_revision(store._engine) == database.head_revision() != FIRST
    assert {row.run_id for row in store.list_runs(limit=100)} == set(expected)
    for run_id, want in expected.items():
        row = store.get(run_id)
        assert row.state is want["state"] and row.owner == want["owner"] and row.version == 3
        np.testing.assert_array_equal(row.steps, want["steps"])
        assert row.step_losses.tobytes() == want["losses"].tobytes()
        assert [e["epoch"] for e in row.epochs] == [1, 1]
    # Rows from before heartbeats fall back to their last update: all are years old, so live ones are orphans.
    live = sum(want["state"].live for want in expected.values())
    assert store.mark_interrupted(stale_after=60) == live > 0
    store.insert_queued("f" * 16, {}, None)
    assert store.get("f" * 16).state is RunState.QUEUED


def test_head_schema_is_exactly_the_one_the_code_queries(empty_url):
    engine = engine_at(empty_url, "head")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_concurrent_start_ups_upgrade_once(empty_url):
    engines = [database._new_engine(empty_url) for _ in range(3)]
    barrier, errors = threading.Barrier(3), []

    def start(engine):
        barrier.wait()
        try:
            database.upgrade_schema(engine)
        except Exception as err:  # collected: an exception in a thread would otherwise vanish
            errors.append(err)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert database.current_revision(engines[0]) == database.head_revision()
    finally:
        for engine in engines:
            engine.dispose()


def test_connections_racing_to_open_a_new_sqlite_file_all_get_wal(tmp_path):
    # Switching a new file to WAL can answer "database is locked" at once, busy timeout or not: with a
    # single PRAGMA instead of database._enter_wal_mode, about one race in six failed here.
    import sqlite3

    for trial in range(60):
        path = tmp_path / f"race-{trial}.sqlite3"
        barrier, modes, errors = threading.Barrier(4), [], []

        def connect():
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={database.SQLITE_BUSY_TIMEOUT_MS}")
            barrier.wait()
            try:
                database._enter_wal_mode(cursor)
                modes.append(cursor.execute("PRAGMA journal_mode").fetchone()[0])
            except Exception as err:
                errors.append(err)
            finally:
                connection.close()

        threads = [threading.Thread(target=connect) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and modes == ["wal"] * 4, (trial, errors, modes)


def run_cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "lossviz", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_db_upgrade_command_upgrades_and_reports_faults_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    engine_at(url, FIRST).dispose()
    done = run_cli("db", "upgrade", LOSSVIZ_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert database.head_revision() in done.stdout and "old.sqlite3" in done.stdout
    engine = database._new_engine(url)
    assert database.current_revision(engine) == database.head_revision()
    engine.dispose()

    bad = run_cli("db", "upgrade", LOSSVIZ_DATABASE_URL="postgresql+psycopg://bob:hunter2@127.0.0.1:9/x")
    assert bad.returncode == 1
    assert "hunter2" not in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "bob:***@127.0.0.1:9/x" in bad.stderr
