"""The run store: runs, their history and their arrays in SQLite or PostgreSQL (SQLAlchemy 2 Core).

One :class:`RunStore` is safe to share between threads: every method opens a
short transaction on a pooled connection and closes it. Writers (a worker
between jitted chunks) and pollers (many Streamlit sessions calling
:meth:`RunStore.version` twice a second) do not block each other: SQLite runs
in WAL mode, PostgreSQL uses row locks.

Faults: a database that cannot be reached or written raises :class:`StoreError`
with one line naming the URL (password masked); a stored row that does not
parse raises :class:`StoredRowError` naming the run.

Orphaned runs: a run whose server died stays RUNNING or QUEUED in the store.
:meth:`RunStore.mark_interrupted` turns such rows into INTERRUPTED, keeping their
history. Its default depends on the database: on SQLite (one server process)
every live row is an orphan at start-up; on PostgreSQL (possibly several
replicas) only runs whose heartbeat is older than :data:`HEARTBEAT_STALE_SECONDS`,
so one replica's start never interrupts another's live run. Every replica must
then call :meth:`RunStore.heartbeat` for the runs it trains *or queues* at least
every ``HEARTBEAT_STALE_SECONDS / 3`` seconds (:meth:`append_history`,
:meth:`set_state` and :meth:`put_arrays` beat too), and may call
``mark_interrupted`` periodically to sweep runs of a replica that died.
"""

from __future__ import annotations

import io
import logging
import time
from contextlib import contextmanager
from typing import Iterable

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lossviz.runs.database import StoredRowError, StoreError, engine_for, forget, guard, mask_password, write_connection
from lossviz.runs.rows import LOSS_DTYPE, STEP_DTYPE, RunRow, decode_blob, dumps, loads, npz_bytes, parse_row
from lossviz.runs.schema import run_arrays, run_chunks, runs
from lossviz.runs.state import RunState

log = logging.getLogger(__name__)

__all__ = ["HEARTBEAT_STALE_SECONDS", "INTERRUPTED_MESSAGE", "RunRow", "RunStore", "StoreError", "StoredRowError"]

HEARTBEAT_STALE_SECONDS = 60.0
"""A live run not beaten for this long is taken for an orphan of a dead replica (PostgreSQL, several replicas)."""

INTERRUPTED_MESSAGE = ("The server stopped while this run was training; its history up to the last chunk "
                       "is kept. Resubmit it to train it again.")
INTERRUPTED_QUEUED_MESSAGE = "The server stopped before this run started. Resubmit it to train it."

_LIVE = (RunState.QUEUED.value, RunState.RUNNING.value)


class RunStore:
    """Runs in a database; see the module docstring for threads, faults and orphans.

    Args:
        url: an SQLAlchemy URL; ``None`` takes ``LOSSVIZ_DATABASE_URL`` or the
            SQLite default (``settings.database_url()``). The schema is upgraded to
            this lossviz's newest migration on first use in the process.

    Raises:
        StoreError: the database cannot be reached, created or upgraded.
    """

    def __init__(self, url: str | None = None):
        self._url, self._engine = engine_for(url)
        self.url_for_humans = mask_password(self._url)

    def __repr__(self) -> str:
        return f"RunStore({self.url_for_humans!r})"

    @contextmanager
    def _transaction(self, doing: str, write: bool):
        """One short transaction on a pooled connection: committed on success, faults raised as StoreError."""
        with guard(self._url, doing):
            connection = write_connection(self._engine) if write else self._engine.connect()
            with connection, connection.begin():
                yield connection

    def _read(self, doing: str):
        return self._transaction(doing, write=False)

    def _write(self, doing: str):
        return self._transaction(doing, write=True)

    def close(self) -> None:
        """Close this process's pooled connections to the database (any RunStore on the URL reopens them)."""
        forget(self._url)

    # ---------------------------------------------------------------- writes

    def insert_queued(self, run_id: str, config: dict, owner: str | None) -> bool:
        """Store a new QUEUED run; ``False`` (and nothing written) if ``run_id`` exists, also under a race."""
        now = time.time()
        try:
            with self._write(f"store run {run_id}") as conn:
                conn.execute(insert(runs).values(
                    id=run_id, config=dumps(config), state=RunState.QUEUED.value, message="", owner=owner,
                    created_at=now, updated_at=now, heartbeat_at=now, version=1, progress="{}", receipt="{}"))
        except StoreError as err:
            if isinstance(err.__cause__, IntegrityError):
                return False
            raise
        return True

    def set_state(self, run_id: str, state: RunState, message: str = "", *, progress: dict | None = None,
                  receipt: dict | None = None) -> None:
        """Set a run's state and message (and progress/receipt when given).

        Raises:
            KeyError: no run ``run_id``.
        """
        values = {"state": RunState(state).value, "message": message}
        if progress is not None:
            values["progress"] = dumps(progress)
        if receipt is not None:
            values["receipt"] = dumps(receipt)
        with self._write(f"update run {run_id}") as conn:
            self._touch(conn, run_id, **values)

    def append_history(self, run_id: str, steps, step_losses, new_epochs: list[dict], progress: dict) -> None:
        """Append one chunk of history: its steps and per-step losses, the epochs it completed, the progress.

        Raises:
            ValueError: ``steps`` and ``step_losses`` differ in length.
            KeyError: no run ``run_id``.
        """
        steps = np.asarray(steps, STEP_DTYPE).ravel()
        losses = np.asarray(step_losses, LOSS_DTYPE).ravel()
        if steps.shape != losses.shape:
            raise ValueError(f"{steps.size} steps but {losses.size} losses")
        with self._write(f"append history to run {run_id}") as conn:
            # Touch the run first: on PostgreSQL its row lock orders concurrent appends.
            self._touch(conn, run_id, progress=dumps(progress))
            conn.execute(insert(run_chunks).values(run_id=run_id, steps=steps.tobytes(), losses=losses.tobytes(),
                                                   epochs=dumps(list(new_epochs))))

    def requeue(self, run_id: str, owner: str | None) -> bool:
        """Queue an ended run again under its id, at the back of the queue, dropping its history and arrays.

        Returns:
            ``True`` if this call requeued it; ``False`` if it is absent or already live
            (someone else requeued it first: the check and the update are one statement).
        """
        now = time.time()
        with self._write(f"requeue run {run_id}") as conn:
            claimed = conn.execute(update(runs).where(runs.c.id == run_id, runs.c.state.not_in(_LIVE)).values(
                state=RunState.QUEUED.value, message="", owner=owner, created_at=now, updated_at=now,
                heartbeat_at=now, version=runs.c.version + 1, progress="{}", receipt="{}")).rowcount
            if claimed:
                conn.execute(delete(run_chunks).where(run_chunks.c.run_id == run_id))
                conn.execute(delete(run_arrays).where(run_arrays.c.run_id == run_id))
        return bool(claimed)

    def _touch(self, conn, run_id: str, **values) -> None:
        now = time.time()
        result = conn.execute(update(runs).where(runs.c.id == run_id).values(
            version=runs.c.version + 1, updated_at=now, heartbeat_at=now, **values))
        if result.rowcount == 0:
            raise KeyError(f"no stored run {run_id}")

    def heartbeat(self, run_ids: Iterable[str]) -> None:
        """Say these live runs are still being trained or queued by a live server (no version change)."""
        run_ids = list(run_ids)
        if run_ids:
            with self._write("record a heartbeat") as conn:
                conn.execute(update(runs).where(runs.c.id.in_(run_ids), runs.c.state.in_(_LIVE))
                             .values(heartbeat_at=time.time()))

    def put_arrays(self, run_id: str, name: str, arrays: list[np.ndarray] | dict[str, np.ndarray]) -> None:
        """Store (or replace) a run's named arrays, bit for bit, as one ``.npz``."""
        data, is_list = npz_bytes(arrays)
        with self._write(f"store arrays {name!r} of run {run_id}") as conn:
            conn.execute(delete(run_arrays).where(run_arrays.c.run_id == run_id, run_arrays.c.name == name))
            conn.execute(insert(run_arrays).values(run_id=run_id, name=name, is_list=is_list, data=data))
            self._touch(conn, run_id)

    def mark_interrupted(self, message: str | None = None, *, stale_after: float | None = None) -> int:
        """Turn orphaned RUNNING/QUEUED runs into INTERRUPTED, keeping their history.

        Args:
            message: the message they get; ``None``: :data:`INTERRUPTED_MESSAGE` for
                running ones (history kept up to the last chunk), a shorter one for queued ones.
            stale_after: only runs whose heartbeat (for rows from before heartbeats: last
                update) is older than this many seconds; ``0`` takes every live run.
                ``None``: ``0`` on SQLite (one process: at its start-up, every live run is
                an orphan), :data:`HEARTBEAT_STALE_SECONDS` on other databases (replicas).

        Returns:
            How many runs were marked.
        """
        if stale_after is None:
            stale_after = 0.0 if self._engine.dialect.name == "sqlite" else HEARTBEAT_STALE_SECONDS
        now = time.time()
        marked = 0
        with self._write("mark orphaned runs interrupted") as conn:
            for state, default in ((RunState.RUNNING, INTERRUPTED_MESSAGE),
                                   (RunState.QUEUED, INTERRUPTED_QUEUED_MESSAGE)):
                query = update(runs).where(runs.c.state == state.value)
                if stale_after > 0:
                    query = query.where(func.coalesce(runs.c.heartbeat_at, runs.c.updated_at) < now - stale_after)
                marked += conn.execute(query.values(
                    state=RunState.INTERRUPTED.value, message=message if message is not None else default,
                    version=runs.c.version + 1, updated_at=now)).rowcount
        return marked

    def evict(self, keep: int) -> int:
        """Delete the oldest finished (non-live) runs, with their history and arrays, until at most ``keep`` remain.

        Live runs are never evicted, so more than ``keep`` may remain while many are live.

        Returns:
            How many runs were deleted.
        """
        keep = max(0, int(keep))
        with self._write("evict old runs") as conn:
            total = conn.execute(select(func.count()).select_from(runs)).scalar_one()
            excess = total - keep
            if excess <= 0:
                return 0
            doomed = list(conn.execute(
                select(runs.c.id).where(runs.c.state.not_in(_LIVE))
                .order_by(runs.c.created_at, runs.c.id).limit(excess)).scalars())
            for start in range(0, len(doomed), 500):
                batch = doomed[start:start + 500]
                conn.execute(delete(run_chunks).where(run_chunks.c.run_id.in_(batch)))
                conn.execute(delete(run_arrays).where(run_arrays.c.run_id.in_(batch)))
                conn.execute(delete(runs).where(runs.c.id.in_(batch)))
        return len(doomed)

    # ----------------------------------------------------------------- reads

    def version(self, run_id: str) -> int | None:
        """The run's version (one primary-key lookup: cheap enough to poll), ``None`` if absent."""
        # Many sessions poll this twice a second: one driver-level statement on a pooled connection costs
        # a fifth of a Core select in its own transaction (SQLite autocommits it; psycopg's implicit
        # transaction is rolled back when the connection returns to the pool).
        marker = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"
        with guard(self._url, f"read run {run_id}"):
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute(f"SELECT version FROM runs WHERE id = {marker}", (run_id,))
                row = cursor.fetchone()
                cursor.close()
            finally:
                connection.close()
        return None if row is None else int(row[0])

    def state(self, run_id: str) -> RunState | None:
        """The run's state (one primary-key lookup: a worker checks it for stop between chunks), ``None`` if absent."""
        with self._read(f"read run {run_id}") as conn:
            value = conn.execute(select(runs.c.state).where(runs.c.id == run_id)).scalar_one_or_none()
        try:
            return None if value is None else RunState(value)
        except ValueError:
            raise StoredRowError(run_id, f"its state {value!r} is not a run state") from None

    def get(self, run_id: str) -> RunRow | None:
        """The run with its whole history, ``None`` if absent.

        Raises:
            StoredRowError: the row or one of its history chunks does not parse.
        """
        with self._read(f"read run {run_id}") as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
            if row is None:
                return None
            chunks = conn.execute(select(run_chunks.c.steps, run_chunks.c.losses, run_chunks.c.epochs)
                                  .where(run_chunks.c.run_id == run_id).order_by(run_chunks.c.id)).all()
        steps, losses, epochs = [], [], []
        for chunk in chunks:
            steps.append(decode_blob(run_id, "steps", chunk.steps, STEP_DTYPE))
            losses.append(decode_blob(run_id, "losses", chunk.losses, LOSS_DTYPE))
            if steps[-1].size != losses[-1].size:
                raise StoredRowError(run_id, "a history chunk has different numbers of steps and losses")
            epochs.extend(loads(run_id, "epoch history", chunk.epochs, list))
        return parse_row(row, steps=np.concatenate(steps).astype(np.int64) if steps else np.zeros(0, np.int64),
                         step_losses=np.concatenate(losses).astype(np.float32) if losses else np.zeros(0, np.float32),
                         epochs=epochs)

    def list_runs(self, limit: int = 50, states: Iterable[RunState] | None = None) -> list[RunRow]:
        """The newest ``limit`` runs (optionally only in ``states``), newest first, without history.

        A row that does not parse is left out and logged (one bad row must not hide the others).
        """
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        if states is not None:
            query = query.where(runs.c.state.in_([RunState(s).value for s in states]))
        with self._read("list runs") as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            try:
                out.append(parse_row(row))
            except StoredRowError as err:
                log.warning("%s", err)
        return out

    def queue_position(self, run_id: str) -> int | None:
        """1 for the queued run that starts next, 2 for the one after, ...; ``None`` if not queued."""
        with self._read(f"read the queue position of run {run_id}") as conn:
            row = conn.execute(select(runs.c.state, runs.c.created_at).where(runs.c.id == run_id)).one_or_none()
            if row is None or row.state != RunState.QUEUED.value:
                return None
            ahead = conn.execute(select(func.count()).select_from(runs).where(
                runs.c.state == RunState.QUEUED.value,
                (runs.c.created_at < row.created_at) | ((runs.c.created_at == row.created_at) & (runs.c.id < run_id)),
            )).scalar_one()
        return ahead + 1

    def get_arrays(self, run_id: str, name: str) -> list[np.ndarray] | dict[str, np.ndarray] | None:
        """The arrays stored under ``name`` (a list or a dict, as they were put), ``None`` if absent.

        Raises:
            StoredRowError: the stored bytes are not a readable ``.npz``.
        """
        with self._read(f"read arrays {name!r} of run {run_id}") as conn:
            row = conn.execute(select(run_arrays.c.is_list, run_arrays.c.data).where(
                run_arrays.c.run_id == run_id, run_arrays.c.name == name)).one_or_none()
        if row is None:
            return None
        try:
            with np.load(io.BytesIO(bytes(row.data)), allow_pickle=False) as npz:
                if row.is_list:
                    return [npz[f"arr_{i}"] for i in range(len(npz.files))]
                return {key: npz[key] for key in npz.files}
        except Exception as err:  # zipfile, numpy format and key errors alike: the bytes are damaged
            raise StoredRowError(run_id, f"its arrays {name!r} are not a readable .npz ({err})") from None

    def array_names(self, run_id: str) -> list[str]:
        """Names of the run's stored arrays, sorted."""
        with self._read(f"list arrays of run {run_id}") as conn:
            return list(conn.execute(select(run_arrays.c.name).where(run_arrays.c.run_id == run_id)
                                     .order_by(run_arrays.c.name)).scalars())

    def bytes_of(self, run_id: str) -> int:
        """Bytes the run's data occupy (its row's text, its history chunks, its arrays; 0 if absent).

        The database's own per-row and index overhead is not counted.
        """
        with self._read(f"measure run {run_id}") as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
            if row is None:
                return 0
            chunk_bytes = conn.execute(select(func.coalesce(func.sum(
                func.length(run_chunks.c.steps) + func.length(run_chunks.c.losses)
                + func.length(run_chunks.c.epochs)), 0)).where(run_chunks.c.run_id == run_id)).scalar_one()
            array_bytes = conn.execute(select(func.coalesce(func.sum(func.length(run_arrays.c.data)), 0))
                                       .where(run_arrays.c.run_id == run_id)).scalar_one()
        text = sum(len(str(v or "").encode()) for v in (row.id, row.config, row.message, row.owner,
                                                         row.progress, row.receipt))
        return int(text + 8 * 5 + chunk_bytes + array_bytes)

