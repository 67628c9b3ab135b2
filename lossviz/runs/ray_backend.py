"""Runs as Ray tasks, for a course: ``LOSSVIZ_RAY_ADDRESS`` = ``local`` | ``auto`` | ``ray://host:10001``.

The same Streamlit-free ``train_into_store`` that the in-process pool calls runs here inside a Ray
worker: it writes progress, history and parameters to the shared store between chunks and honours
stop by reading the run's state there, so any app replica can watch or stop any run.

Ray starts its workers as fresh processes (never a fork of a process that has started JAX). Each
worker gets ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (several workers may share one GPU) and JAX's
persistent compilation cache directory, so a configuration compiled once is not compiled again by
another worker or after a restart. A task asks for one GPU when the cluster has any.

A worker that dies mid-run (its node lost, the process killed) surfaces here as a Ray error on the
task's result; the run is then marked interrupted in the store, keeping its history up to the last
chunk, so the lab offers to resubmit it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from lossviz import settings
from lossviz.runs.state import RunState
from lossviz.runs.workers import HEARTBEAT_EVERY_SECONDS

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
LOST_WORKER_MESSAGE = ("The Ray worker training this run was lost ({reason}); its history up to the last "
                       "chunk is kept. Resubmit it to train it again.")


class RayUnavailable(RuntimeError):
    """Ray could not be started or reached; the message is one line naming the address."""


def worker_environment(address: str) -> dict[str, str]:
    """Environment variables every Ray worker of lossviz starts with.

    Args:
        address: the ``LOSSVIZ_RAY_ADDRESS`` in force; a ``local`` cluster also gets this checkout on
            its ``PYTHONPATH`` (a remote cluster's image has lossviz installed where it runs).

    Returns:
        A mapping for Ray's ``runtime_env={"env_vars": ...}``.
    """
    env = {
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "JAX_COMPILATION_CACHE_DIR": str(settings.jax_cache_dir()),
        # Our chunks compile in under a second: cache them too, not only programs slower than JAX's 1 s default.
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    for name in ("LOSSVIZ_MNIST", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    if address == "local":
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _train_task(run_id: str, config: dict, store_url: str | None, limit_train: int | None) -> str:
    from lossviz.runs.workers import train_into_store

    return train_into_store(run_id, config, store_url, limit_train).value


class RayBackend:
    """Submits runs to a Ray cluster and watches their tasks for lost workers.

    Args:
        address: ``local`` starts a Ray instance on this machine; ``auto`` joins the cluster this
            machine belongs to; ``ray://host:port`` connects through Ray Client.
        store_url: the run store's URL, which every worker writes to (``None``: the default store,
            only sensible for a ``local`` cluster sharing this machine's disk).
        on_lost: called as ``on_lost(run_id, message)`` when a task dies with its worker.
        num_cpus: CPUs of a ``local`` cluster (``None``: all of this machine's).
        heartbeat: called with the ids of the runs Ray holds, every :data:`HEARTBEAT_EVERY_SECONDS`
            (the store's ``heartbeat``), so no replica takes a run queued in Ray for an orphan.
    """

    def __init__(self, address: str, store_url: str | None, on_lost: Callable[[str, str], None],
                 num_cpus: int | None = None, heartbeat: Callable[[list[str]], None] | None = None):
        import ray

        self._ray = ray
        self._started_here = address == "local"
        self._store_url = store_url
        self._on_lost = on_lost
        self._heartbeat = heartbeat
        options = dict(include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                       runtime_env={"env_vars": worker_environment(address)})
        try:
            if address == "local":
                ray.init(num_cpus=num_cpus, **options)
            else:
                ray.init(address=address, **options)
        except Exception as err:  # Ray raises ConnectionError, RuntimeError, ValueError… depending on the address
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise RayUnavailable(f"Ray at {address!r} cannot be reached: {first_line}") from None
        gpus = ray.cluster_resources().get("GPU", 0)
        self.uses_gpu = gpus > 0
        self._task = ray.remote(_train_task).options(num_cpus=1, num_gpus=1 if self.uses_gpu else 0,
                                                     max_retries=0)
        self._pending: dict = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._watcher = threading.Thread(target=self._watch, name="lossviz-ray-watch", daemon=True)
        self._watcher.start()

    def submit(self, run_id: str, config: dict, limit_train: int | None = None) -> None:
        """Start ``run_id`` as a Ray task; it moves from queued to running when Ray schedules it."""
        ref = self._task.remote(run_id, config, self._store_url, limit_train)
        with self._lock:
            self._pending[ref] = run_id
        self._wake.set()

    def _watch(self) -> None:
        ray = self._ray
        last_beat = 0.0
        while not self._closed:
            with self._lock:
                refs = list(self._pending)
                run_ids = list(self._pending.values())
            if run_ids and time.monotonic() - last_beat > HEARTBEAT_EVERY_SECONDS and self._heartbeat:
                last_beat = time.monotonic()
                try:
                    self._heartbeat(run_ids)
                except Exception as err:  # a store that is briefly away must not stop the watcher
                    log.warning("heartbeat failed: %s", err)
            if not refs:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            done, _ = ray.wait(refs, num_returns=1, timeout=0.5)
            for ref in done:
                with self._lock:
                    run_id = self._pending.pop(ref)
                try:
                    ray.get(ref)
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.LocalRayletDiedError, ray.exceptions.OwnerDiedError,
                        ray.exceptions.TaskCancelledError, ray.exceptions.OutOfMemoryError) as err:
                    self._on_lost(run_id, LOST_WORKER_MESSAGE.format(reason=type(err).__name__))
                except Exception as err:  # the task itself raised: train_into_store records failures itself
                    log.warning("Ray task for run %s ended with %s", run_id, type(err).__name__)
                    self._on_lost(run_id, LOST_WORKER_MESSAGE.format(reason=type(err).__name__))

    def running(self) -> int:
        """Tasks submitted and not yet ended."""
        with self._lock:
            return len(self._pending)

    def shutdown(self) -> None:
        """Stop watching; a ``local`` Ray started by this backend is shut down with it."""
        self._closed = True
        self._wake.set()
        self._watcher.join(timeout=2)
        if self._started_here:
            self._ray.shutdown()


def mark_lost(store, run_id: str, message: str) -> None:
    """The ``on_lost`` the service uses: a run still live in the store becomes interrupted."""
    row = store.get(run_id)
    if row is not None and row.state.live:
        store.set_state(run_id, RunState.INTERRUPTED, message)


def backend_from_settings(store, store_url: str | None = None) -> RayBackend | None:
    """The backend ``LOSSVIZ_RAY_ADDRESS`` asks for: a :class:`RayBackend`, or ``None`` for the in-process pool.

    Args:
        store: the app's open ``RunStore``; runs whose Ray worker is lost are marked interrupted in it.
        store_url: the URL workers write to (default: ``settings.database_url()``, resolved here so a
            local Ray's workers open the same file even if their environment differs).

    Raises:
        RayUnavailable: the address is set but Ray cannot be reached (one line naming the address).
    """
    address = settings.ray_address()
    if address is None:
        return None
    return RayBackend(address, store_url or settings.database_url(),
                      on_lost=lambda run_id, message: mark_lost(store, run_id, message), heartbeat=store.heartbeat)
