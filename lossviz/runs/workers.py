"""Training a stored run off the page: ``train_into_store`` and the in-process pool that calls it.

Streamlit-free (a test checks that importing and running it never loads streamlit). The same function
runs in a thread of :class:`LocalPool` or inside a Ray task (:mod:`lossviz.runs.ray_backend`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from lossviz import data as data_mod
from lossviz.cache import BoundedCache
from lossviz.config import TrainConfig
from lossviz.runs import receipt as receipts
from lossviz.runs.state import RunState

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
"""History reaches the store at most this often (and at every epoch's end): watchers poll at 2 Hz."""

STOP_POLL_SECONDS = 0.25
"""How often a running worker reads its run's state to honour a Stop written by any app replica."""

STORE_LOST = ("The run store could not be written ({error}); the training went on in this server's memory. "
              "Download it from this page now: it is not stored and is lost when the server restarts.")


def split_config(config: dict) -> tuple[TrainConfig, int | None]:
    """A stored configuration dict → ``(TrainConfig, train_size)``; ``train_size`` is ``None`` when absent."""
    plain = dict(config)
    train_size = plain.pop("train_size", None)
    return TrainConfig.from_dict(plain), (None if train_size is None else int(train_size))


def stored_config(config: TrainConfig, train_size: int) -> dict:
    """What the store keeps as a run's configuration: the ``TrainConfig`` dict plus its training-set size."""
    return {**config.to_dict(), "train_size": int(train_size)}


# ---------------------------------------------------------------- results kept in memory when the store fails
@dataclass
class KeptRun:
    """A run whose store could not be written: its row as it would have been stored, and its arrays."""

    row: object  # a store.RunRow
    arrays: dict[str, object] = field(default_factory=dict)


KEPT_LIMIT = 8
_KEPT: BoundedCache[KeptRun] = BoundedCache(KEPT_LIMIT)


def kept_run(run_id: str) -> KeptRun | None:
    """The in-memory result of a run whose store failed in this process, if any."""
    return _KEPT.get(run_id)


def _keep(run_id: str, kept: KeptRun) -> None:
    _KEPT.put(run_id, kept)


# ---------------------------------------------------------------- datasets shared by runs of one shape
_DATASETS: BoundedCache[tuple] = BoundedCache(3)


def _dataset(config: TrainConfig, mnist, train_size: int | None):
    """The device-resident dataset for ``config``'s task and pixels, at most three shapes kept."""
    from lossviz import engine
    from lossviz.lab import test_size

    n = train_size or len(mnist[0][0])
    key = (config.task, config.pixels, n, id(mnist))
    # One thread prepares a shape while the others wait and share it; mnist is kept so id(mnist) stays valid.
    return _DATASETS.get_or_make(key, lambda: (mnist, engine.prepare(
        config, mnist=mnist, limit_train=n, limit_test=test_size(n))))[1]


def shared_dataset(config: TrainConfig, mnist, train_size: int | None = None):
    """The device-resident dataset the workers train ``config`` on, made once per shape (the warm-up's too)."""
    return _dataset(config, mnist, train_size)


def _leaves(params) -> list[np.ndarray]:
    import jax

    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(params)]


def _plain(value):
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


# ---------------------------------------------------------------- writing one run
class _Writer:
    """The worker's side of the store: every write goes through here, and the first StoreError switches
    the run to memory (the training goes on; the result is kept by :func:`kept_run`)."""

    def __init__(self, store, run_id: str):
        self.store, self.run_id = store, run_id
        self.lost: str | None = None
        self.arrays: dict[str, object] = {}

    def __call__(self, method: str, *args, **kwargs) -> None:
        from lossviz.runs.store import StoreError

        if self.lost is not None:
            return
        try:
            getattr(self.store, method)(self.run_id, *args, **kwargs)
        except (StoreError, KeyError) as err:  # KeyError: the row itself is gone (evicted, database replaced)
            self.lost = str(err).strip("'")
            log.warning("run %s: store lost mid-run: %s", self.run_id, err)

    def put_arrays(self, name: str, arrays) -> None:
        self.arrays[name] = arrays
        self("put_arrays", name, arrays)

    def state(self) -> RunState | None:
        """The run's stored state, or ``None`` when it cannot be read."""
        from lossviz.runs.store import StoreError

        if self.lost is not None:
            return None
        try:
            reader = getattr(self.store, "state", None)
            if reader is not None:
                return reader(self.run_id)
            row = self.store.get(self.run_id)
            return None if row is None else row.state
        except StoreError:
            return None


class Recorder:
    """One run's side of the store: the engine's events in batches, then its payloads and final state.

    The worker (:func:`train_into_store`) and ``python -m lossviz train`` both record through it: pass
    it as the engine's ``on_progress`` and its :meth:`should_stop` as ``should_stop``, then call
    :meth:`finish` (or :meth:`fail`).
    """

    def __init__(self, store, run_id: str, config: dict, stop_event: threading.Event | None = None):
        self.run_id, self.config = run_id, dict(config)
        self.writer, self.stop_event = _Writer(store, run_id), stop_event
        self.started = time.time()
        self.steps: list[np.ndarray] = []
        self.losses: list[np.ndarray] = []
        self.epochs: list[dict] = []
        self.all_steps: list[np.ndarray] = []
        self.all_losses: list[np.ndarray] = []
        self.all_epochs: list[dict] = []
        self.progress: dict = {}
        self.chunk_marks: list[tuple[float, int]] = []
        self.last_flush = 0.0
        self.last_stop_check = 0.0
        self.reconstructions = None
        self.originals = None

    def __call__(self, event) -> None:
        from lossviz.lab import EPOCH_FIELDS

        self.progress = {"step": int(event.step), "total_steps": int(event.total_steps), "epoch": float(event.epoch),
                         "samples_per_second": _plain(event.samples_per_second),
                         "eta_seconds": _plain(event.eta_seconds), "elapsed_seconds": float(event.elapsed_seconds)}
        if event.kind == "chunk":
            losses = np.asarray(event.step_losses, np.float32)
            self.steps.append(np.arange(event.step - losses.size + 1, event.step + 1, dtype=np.int64))
            self.losses.append(losses)
            self.chunk_marks.append((float(event.elapsed_seconds), int(event.step)))
        else:
            entry = dict(event.record or {})
            entry["train_loss"] = entry.pop("loss", event.train_loss)
            self.epochs.append({k: entry.get(k) for k in EPOCH_FIELDS})
            params = getattr(event, "params", None)
            if params is not None:
                self.writer.put_arrays(f"params/epoch/{len(self.all_epochs) + len(self.epochs)}", _leaves(params))
            if event.reconstructions is not None and self.originals is not None:
                self.reconstructions = np.asarray(event.reconstructions, np.float32)
                self.writer.put_arrays("payload/reconstructions", {
                    "originals": self.originals, "reconstructions": self.reconstructions})
        if event.kind == "epoch" or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self, **extra_progress) -> None:
        self.last_flush = time.monotonic()
        steps = np.concatenate(self.steps) if self.steps else np.empty(0, np.int64)
        losses = np.concatenate(self.losses) if self.losses else np.empty(0, np.float32)
        self.progress.update(extra_progress)
        self.writer("append_history", steps, losses, list(self.epochs), dict(self.progress))
        self.all_steps.append(steps)
        self.all_losses.append(losses)
        self.all_epochs += self.epochs
        self.steps, self.losses, self.epochs = [], [], []

    def start(self, dataset) -> None:
        """The run begins on ``dataset``: RUNNING in the store."""
        self.originals = dataset.reconstruction_inputs
        self.writer("set_state", RunState.RUNNING, "Training…")

    def should_stop(self) -> bool:
        if self.stop_event is not None and self.stop_event.is_set():
            return True
        now = time.monotonic()
        if now - self.last_stop_check < STOP_POLL_SECONDS:
            return False
        self.last_stop_check = now
        return self.writer.state() == RunState.STOPPED

    def finish(self, config: TrainConfig, dataset, result) -> RunState:
        """Write the parameters, payloads, last history, receipt and final state of a ``RunResult``."""
        from lossviz.lab import autoencoder_common_bce, classifier_report

        writer = self.writer
        initial = getattr(result, "initial_params", None)
        if initial is None:
            from lossviz import engine
            initial = engine.init_state(config, dataset)[0]
        writer.put_arrays("params/initial", _leaves(initial))
        writer.put_arrays("params/final", _leaves(result.params))
        for number, params in enumerate(getattr(result, "epoch_params", None) or [], start=1):
            if f"params/epoch/{number}" not in writer.arrays:
                writer.put_arrays(f"params/epoch/{number}", _leaves(params))
        extra = {"seconds": float(result.seconds)}
        if config.task == "autoencoder" and result.epochs:
            extra["common_bce"] = _plain(autoencoder_common_bce(config, result.params, dataset))
            if result.reconstructions is not None:
                writer.put_arrays("payload/reconstructions", {
                    "originals": np.asarray(dataset.reconstruction_inputs, np.float32),
                    "reconstructions": np.asarray(result.reconstructions, np.float32)})
        if config.task == "classifier" and result.epochs:
            report = classifier_report(config, result.params, dataset)
            writer.put_arrays("payload/confusion", [np.asarray(report["confusion"], np.int64)])
            writer.put_arrays("payload/misclassified", {
                "images": np.asarray(report["images"], np.float32), "true": np.asarray(report["true"], np.int64),
                "predicted": np.asarray(report["predicted"], np.int64)})
        sent = sum(part.size for part in self.all_steps + self.steps)
        if result.steps.size > sent:  # a diverged run's last finite steps come without a chunk event
            self.steps.append(np.asarray(result.steps[sent:], np.int64))
            self.losses.append(np.asarray(result.step_losses[sent:], np.float32))
        self.flush(**extra)
        run_receipt = receipts.receipt(self.run_id, config.seed, self.chunk_marks)
        return self._end(RunState.from_engine(result.status), result.message, run_receipt)

    def fail(self, err: BaseException) -> RunState:
        """The run raised: FAILED, with the error in its message (never lost in a thread)."""
        log.error("run %s failed", self.run_id, exc_info=err)
        return self._end(RunState.FAILED, f"The run failed: {type(err).__name__}: {err}", {})

    def _end(self, state: RunState, message: str, run_receipt: dict) -> RunState:
        if self.writer.lost is None:
            self.writer("set_state", state, message, progress=self.progress, receipt=run_receipt)
        if self.writer.lost is not None:
            message = f"{message} {STORE_LOST.format(error=self.writer.lost)}".strip()
            _keep(self.run_id, self._kept(state, message, run_receipt))
        return state

    def _kept(self, state: RunState, message: str, run_receipt: dict) -> KeptRun:
        from lossviz.runs.store import RunRow

        steps, losses = self.all_steps + self.steps, self.all_losses + self.losses
        row = RunRow(run_id=self.run_id, config=self.config, state=state, message=message,
                     created_at=self.started, updated_at=time.time(), version=-1, owner=None,
                     progress=dict(self.progress), receipt=dict(run_receipt),
                     steps=np.concatenate(steps) if steps else np.empty(0, np.int64),
                     step_losses=np.concatenate(losses) if losses else np.empty(0, np.float32),
                     epochs=self.all_epochs + self.epochs)
        return KeptRun(row=row, arrays=dict(self.writer.arrays))


def _run_engine(config, dataset, progress: Recorder):
    """``engine.run`` keeping per-epoch parameters (the landscape page reads them from the store)."""
    from lossviz import engine

    return engine.run(config, dataset, on_progress=progress, should_stop=progress.should_stop,
                      keep_epoch_params=True)


def train_into_store(run_id: str, config: dict, store_url: str | None, limit_train: int | None, *,
                     store=None, mnist=None, stop_event: threading.Event | None = None) -> RunState:
    """Train stored run ``run_id`` and write everything the lab shows into the store.

    Progress and history go in between jitted chunks (at most every :data:`FLUSH_SECONDS`), parameters
    after every epoch (when the engine offers them) and at the start and end, then the payloads
    (reconstructions; confusion matrix and misclassified digits), the receipt and the final state.
    A Stop is honoured between chunks: ``stop_event`` (this process) or a ``STOPPED`` state in the store
    (any process). A store that fails mid-run does not end the training: the result is kept in memory
    (:func:`kept_run`) with a message saying so.

    Args:
        run_id: the run's id; its row exists (queued) unless the store is already lost.
        config: the stored configuration (``TrainConfig`` dict, optionally with ``train_size``).
        store_url: the store to open when ``store`` is not given (``None``: the configured default).
        limit_train: training images (``None``: ``config["train_size"]`` or all).
        store: an open ``RunStore`` (the in-process pool shares one).
        mnist: ``data.load_mnist()``'s tuple (loaded here when ``None``).
        stop_event: set by the service for a fast stop in this process.

    Returns:
        The run's final state.
    """
    from lossviz.runs.store import RunStore

    store = store if store is not None else RunStore(store_url)
    recorder = Recorder(store, run_id, config, stop_event)
    try:
        train_config, stored_size = split_config(config)
        if recorder.writer.state() == RunState.STOPPED:  # stopped by its owner while it waited in the queue
            return RunState.STOPPED
        mnist = mnist if mnist is not None else data_mod.load_mnist()
        dataset = _dataset(train_config, mnist, limit_train or stored_size)
        recorder.start(dataset)
        result = _run_engine(train_config, dataset, recorder)
        return recorder.finish(train_config, dataset, result)
    except Exception as err:  # noqa: BLE001  (reported in the run's row)
        return recorder.fail(err)


# ---------------------------------------------------------------- backends
class Backend(Protocol):
    """Where the service sends runs: the in-process pool here, Ray in :mod:`lossviz.runs.ray_backend`."""

    def submit(self, run_id: str, config: dict, limit_train: int | None = None) -> None: ...

    def shutdown(self) -> None: ...


# Well under the store's HEARTBEAT_STALE_SECONDS (60 s).
HEARTBEAT_EVERY_SECONDS = 15.0


class LocalPool:
    """Runs in a thread pool of this process; each thread calls :func:`train_into_store`.

    Args:
        store: the open ``RunStore`` every run writes to.
        load_mnist: returns the data set (called in the worker thread, so a page never waits on it).
        workers: trainings at once (the service passes ``LOSSVIZ_MAX_CONCURRENT_TRAININGS``).
    """

    def __init__(self, store, load_mnist: Callable[[], object], workers: int):
        self.store, self.load_mnist = store, load_mnist
        self.workers = max(1, int(workers))
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lossviz-run")
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._beat, name="lossviz-run-heartbeat", daemon=True).start()
        self.computed = 0
        """Trainings started by this pool (the class benchmark and the tests read it)."""

    def submit(self, run_id: str, config: dict, limit_train: int | None = None) -> None:
        with self._lock:
            self._stops[run_id] = threading.Event()
        self._executor.submit(self._train, run_id, config, limit_train)

    def _train(self, run_id: str, config: dict, limit_train: int | None) -> None:
        with self._lock:
            self.computed += 1
            stop = self._stops.get(run_id)
        try:
            mnist = self.load_mnist()
        except Exception as err:  # a data source that broke after the page checked it
            from lossviz.runs.store import StoreError
            try:
                self.store.set_state(run_id, RunState.FAILED, f"MNIST could not be loaded: {err}")
            except StoreError:
                pass
            return
        try:
            train_into_store(run_id, config, None, limit_train, store=self.store, mnist=mnist, stop_event=stop)
        finally:
            with self._lock:
                self._stops.pop(run_id, None)

    def _beat(self) -> None:
        """Touch the heartbeat of every run this pool holds, queued ones included, so that another replica
        starting on a shared store does not take a run waiting in this pool's queue for an orphan."""
        from lossviz.runs.store import StoreError

        while not self._closed.wait(HEARTBEAT_EVERY_SECONDS):
            with self._lock:
                held = list(self._stops)
            if held:
                try:
                    self.store.heartbeat(held)
                except StoreError as err:  # a store briefly away: the next beat tries again
                    log.warning("heartbeat failed: %s", err)

    def request_stop(self, run_id: str) -> None:
        """Stop ``run_id`` at its next chunk boundary if this pool trains it."""
        with self._lock:
            event = self._stops.get(run_id)
        if event is not None:
            event.set()

    def shutdown(self) -> None:
        self._closed.set()
        with self._lock:
            for event in self._stops.values():
                event.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
