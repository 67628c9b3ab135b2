"""The run service: one per server process; sessions submit, attach to, stop and resubmit runs here.

Identical configurations share one content-addressed run id, so they share one training: a submission
whose run exists attaches to it (finished: shown at once; queued or training: watched). Streamlit-free;
:mod:`lossviz.ui.runs` keeps one per process with ``st.cache_resource``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from lossviz import settings
from lossviz.config import TrainConfig
from lossviz.runs import ids
from lossviz.runs.state import RunState
from lossviz.runs.workers import LocalPool, kept_run, split_config, stored_config

STOPPED_MESSAGE = "Stopped by the session that started it; its history so far is kept."

# What stop() did: the owner ended the run for everyone, a visitor left it, or it had already ended.
STOPPED, LEFT, ALREADY_ENDED = "stopped", "left", "ended"

RETRAINABLE = (RunState.INTERRUPTED, RunState.FAILED, RunState.STOPPED)
"""States a new submission of the same configuration trains again (instead of showing)."""


class QueueFull(RuntimeError):
    """This session already has as many queued runs as the server allows; the message says so."""


@dataclass(frozen=True)
class Submission:
    """What a press of Train did: ``attached`` is true when the run already existed."""

    run_id: str
    attached: bool
    state: RunState
    message: str


class RunService:
    """Submits runs to a backend and answers for them from the store.

    Args:
        store: the ``RunStore`` every run lives in.
        load_mnist: returns the data set; called once, its result is shared by every run.
        workers: trainings at once in the in-process pool (ignored when ``backend`` is given).
        backend: where runs train; ``None`` is the in-process :class:`LocalPool`. Only then does start-up
            mark orphaned queued/running rows interrupted (a shared store's other servers may own them).
    """

    def __init__(self, store, load_mnist: Callable[[], object], workers: int, backend=None):
        self.store = store
        self._load_mnist = load_mnist
        self._mnist = None
        self._lock = threading.RLock()
        self._sessions: dict[str, list[str]] = {}
        if backend is None:
            self.interrupted_at_start = store.mark_interrupted(None)  # the store's messages: running vs queued
            backend = LocalPool(store, self.mnist, workers)
        else:
            self.interrupted_at_start = 0
        self.backend = backend

    # ---------------------------------------------------------------- data and ids
    def mnist(self):
        """The data set every run of this service trains on (loaded on first use)."""
        with self._lock:
            if self._mnist is None:
                self._mnist = self._load_mnist()
            return self._mnist

    def run_id_of(self, config: TrainConfig, limit_train: int | None = None) -> tuple[str, int]:
        """``(run id, training-set size)`` of ``config`` on this service's data."""
        mnist = self.mnist()
        n = min(int(limit_train or len(mnist[0][0])), len(mnist[0][0]))
        return ids.run_id(config, n, ids.data_sha256(mnist)), n

    # ---------------------------------------------------------------- sessions
    def _remember(self, session: str, run_id: str) -> None:
        runs = self._sessions.setdefault(session, [])
        if run_id in runs:
            runs.remove(run_id)
        runs.append(run_id)

    def follow(self, session: str, run_id: str) -> None:
        """List ``run_id`` among the session's runs (a visitor who opened its link)."""
        with self._lock:
            self._remember(session, run_id)

    def session_runs(self, session: str) -> list:
        """The rows of the runs this session submitted or attached to, newest first (unparsable rows skipped)."""
        from lossviz.runs.store import StoreError

        with self._lock:
            wanted = list(reversed(self._sessions.get(session, [])))
        rows = []
        for run_id in wanted:
            try:
                row = self.store.get(run_id)
            except StoreError:
                row = None
            if row is not None:
                rows.append(row)
        return rows

    def queued_by(self, session: str) -> int:
        """Runs this session started that still wait in the queue."""
        return sum(1 for row in self.session_runs(session) if row.owner == session and row.state == RunState.QUEUED)

    # ---------------------------------------------------------------- submitting
    def submit(self, config: TrainConfig, session: str, limit_train: int | None = None) -> Submission:
        """Train ``config`` on ``limit_train`` images for ``session``, or attach to its existing run.

        Raises:
            QueueFull: the session already has ``LOSSVIZ_MAX_QUEUED_PER_SESSION`` queued runs.
            StoreError: the store cannot be reached (its message names the URL).
        """
        run_id, n = self.run_id_of(config, limit_train)
        with self._lock:
            row = self.store.get(run_id)
            if row is not None and row.state not in RETRAINABLE:
                self._remember(session, run_id)
                return Submission(run_id, True, row.state, _attach_message(row, self.queue_position(run_id)))
            self._check_queue(session)
            fresh = stored_config(config, n)
            if row is None:
                inserted = self.store.insert_queued(run_id, fresh, session)
            else:
                inserted = self._requeue(row, session)
            self._remember(session, run_id)
            if not inserted:  # another server (or process) queued the same run first: watch theirs
                row = self.store.get(run_id)
                state = row.state if row is not None else RunState.QUEUED
                return Submission(run_id, True, state, "Someone started this same run a moment ago; you watch it.")
        self.backend.submit(run_id, fresh, n)
        # Each new run may push the oldest ended ones past the retention limit (live runs are never evicted).
        self.store.evict(settings.limits().max_stored_runs)
        return Submission(run_id, False, RunState.QUEUED, "Queued; it starts when a training slot frees.")

    def _check_queue(self, session: str) -> None:
        cap = settings.limits().max_queued_per_session
        if self.queued_by(session) >= cap:
            raise QueueFull(f"You already have {cap} run{'s' * (cap != 1)} waiting in the queue, the most one visitor "
                            "may have at once (LOSSVIZ_MAX_QUEUED_PER_SESSION). Stop one or wait for one to start.")

    def _requeue(self, row, session: str) -> bool:
        """Queue an ended run's id again (its old history is dropped); false if someone else did first."""
        return self.store.requeue(row.run_id, session)

    def resubmit(self, run_id: str, session: str) -> Submission:
        """Train an interrupted, failed or stopped run again under the same id."""
        with self._lock:
            row = self.store.get(run_id)
            if row is None:
                raise KeyError(f"run {run_id} is not in the store")
            if row.state not in RETRAINABLE:
                self._remember(session, run_id)
                return Submission(run_id, True, row.state, _attach_message(row, self.queue_position(run_id)))
            self._check_queue(session)
            inserted = self._requeue(row, session)
            self._remember(session, run_id)
        if inserted:
            _, n = split_config(row.config)
            self.backend.submit(run_id, dict(row.config), n)
        return Submission(run_id, not inserted, RunState.QUEUED, "Queued again; it starts when a training slot frees.")

    # ---------------------------------------------------------------- stopping and watching
    def stop(self, run_id: str, session: str) -> str:
        """The owner's Stop ends the run for everyone (:data:`STOPPED`); anyone else's leaves it (:data:`LEFT`)."""
        row = self.store.get(run_id)
        if row is None or not row.state.live:
            return ALREADY_ENDED
        if row.owner != session:
            with self._lock:
                runs = self._sessions.get(session, [])
                if run_id in runs:
                    runs.remove(run_id)
            return LEFT
        self.store.set_state(run_id, RunState.STOPPED, STOPPED_MESSAGE)
        request_stop = getattr(self.backend, "request_stop", None)
        if request_stop is not None:
            request_stop(run_id)
        return STOPPED

    def queue_position(self, run_id: str) -> int | None:
        """1 = the next run to start; ``None`` when the run is not queued."""
        return self.store.queue_position(run_id)

    def view(self, run_id: str):
        """``(row, arrays)`` of a run: ``arrays(name)`` reads one stored payload; ``None`` for an unknown run.

        A run whose store failed mid-run in this process is answered from memory.
        """
        kept = kept_run(run_id)
        if kept is not None:
            return kept.row, kept.arrays.get
        row = self.store.get(run_id)
        if row is None:
            return None
        return row, lambda name: self.store.get_arrays(run_id, name)

    @property
    def computed(self) -> int:
        """Trainings this process's pool has started (the class benchmark reports it)."""
        return getattr(self.backend, "computed", 0)

    def shutdown(self) -> None:
        self.backend.shutdown()


def _attach_message(row, position: int | None) -> str:
    if row.state == RunState.QUEUED:
        return f"This run is already queued{f' (number {position} in line)' if position else ''}; you watch it."
    if row.state == RunState.RUNNING:
        return "This run is already training; you watch it live."
    return "This run was already trained; here it is."
