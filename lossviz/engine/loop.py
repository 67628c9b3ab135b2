"""The run loop: chunks dispatched ahead, progress events between them, a typed end.

The next chunk is dispatched before the last one's losses are read, so host
work (callbacks, redraws) overlaps device work; there is no host sync inside a
chunk.  Parameters are not donated: the previous chunk's parameters are what a
diverged run returns.  The epoch's training loss is the mean of its batch
losses weighted by batch size (Keras's loss tracker weights each batch by its
size), so it equals the mean over the epoch's examples of the loss at the
moment each was seen.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lossviz.config import TrainConfig
from lossviz.engine.chunk import (_evaluate, _train_chunk, chunk_length, epoch_order, init_state, slot_weights,
                                  steps_per_epoch, unroll_of)
from lossviz.engine.dataset import Dataset, check_config
from lossviz.engine.objectives import keras_differs, spec_of


class Status(str, enum.Enum):
    """How a run ended; the value is the word the CLI's JSON and the run store write."""

    FINISHED = "finished"
    STOPPED = "stopped"    # should_stop() said so between chunks
    DIVERGED = "diverged"  # a batch loss or the test loss stopped being finite

    def __str__(self) -> str:
        return self.value


class EventKind(str, enum.Enum):
    """What a :class:`Progress` event reports."""

    CHUNK = "chunk"  # a chunk of steps: its step losses
    EPOCH = "epoch"  # an epoch's end: its metrics (and its parameters when asked for)

    def __str__(self) -> str:
        return self.value


def flat_params(params) -> list[np.ndarray]:
    """``models``' ``[(W0, b0), (W1, b1), …]`` as the flat numpy list ``[W0, b0, W1, b1, …]``.

    ``W`` has shape ``(fan_in, fan_out)`` and ``b`` shape ``(fan_out,)``;
    ``lessons.landscape.as_layers`` and ``models.apply`` (after pairing) read it back.
    """
    return [np.asarray(array) for layer in params for array in layer]


@dataclass(frozen=True)
class Progress:
    """What the caller learns between chunks.

    ``kind`` is :attr:`EventKind.CHUNK` (after every chunk; ``step_losses``
    holds that chunk's per-step batch losses, for steps
    ``first_step … step``) or :attr:`EventKind.EPOCH` (after an epoch's last
    chunk; ``step_losses`` is empty, ``chunk_loss`` is the epoch's training
    loss, and the epoch metrics are set, with ``record`` a copy of the
    epoch's entry in ``RunResult.epochs`` and, when the run keeps them,
    ``params`` the epoch's parameters as :func:`flat_params`).
    ``samples_per_second`` counts from the end of the first chunk (which
    includes compiling) once there is one; ``eta_seconds`` is the remaining
    samples at that rate.  ``epoch`` is fractional: 2.5 means halfway
    through the third epoch.  A store persists CHUNK events' step losses and
    EPOCH events' ``record`` (and ``params``) as they come.
    """

    kind: EventKind
    step: int
    total_steps: int
    epoch: float
    samples_done: int
    chunk_loss: float
    step_losses: np.ndarray
    samples_per_second: float
    eta_seconds: float
    elapsed_seconds: float
    train_loss: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    keras_reported_loss: float | None = None
    reconstructions: np.ndarray | None = None
    record: dict | None = None
    params: list[np.ndarray] | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0

    @property
    def first_step(self) -> int:
        """The 1-based step of ``step_losses[0]``."""
        return self.step - len(self.step_losses) + 1


@dataclass
class RunResult:
    """A finished, stopped or diverged run with everything recorded so far.

    ``status`` is a :class:`Status` and ``message`` one readable sentence
    about how the run ended.  ``epochs`` holds one dict per completed epoch:
    ``epoch`` (1-based), ``loss`` (training loss, batch-size-weighted mean of
    the epoch's batch losses), ``test_loss``, ``test_accuracy`` (classifiers
    and blobs), ``keras_reported_loss`` and ``keras_reported_test_loss``
    (softmax + BCE only), ``seconds`` and ``samples_per_second``.  ``steps``
    and ``step_losses`` are every trained step (1-based) and its batch loss.
    ``params`` are the final parameters in ``models``' layout.  With
    ``run(..., keep_epoch_params=True)``, ``initial_params`` and each entry
    of ``epoch_params`` (one per completed epoch) are :func:`flat_params`.
    """

    status: Status
    message: str
    config: TrainConfig
    epochs: list[dict]
    steps: np.ndarray
    step_losses: np.ndarray
    params: list
    seconds: float
    first_progress_seconds: float | None = None
    chunk_steps: int = 0
    reconstructions: np.ndarray | None = None
    initial_params: list[np.ndarray] | None = None
    epoch_params: list[list[np.ndarray]] | None = None

    @property
    def final(self) -> dict:
        """The last epoch's metrics (empty before the first epoch ends) plus the step count."""
        final = dict(self.epochs[-1]) if self.epochs else {}
        final["steps"] = int(self.steps[-1]) if self.steps.size else 0
        final["last_step_loss"] = _finite_or_none(self.step_losses[-1]) if self.step_losses.size else None
        return final


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class _Pending:
    """A dispatched chunk whose results have not been read back yet."""

    epoch: int
    chunk: int
    first_step: int
    valid_steps: int
    losses: jax.Array
    keras: jax.Array
    params_before: list
    params_after: list
    evaluation: tuple | None = None


@dataclass
class _Recorder:
    config: TrainConfig
    dataset: Dataset
    total_steps: int
    steps_per_epoch: int
    on_progress: Callable[[Progress], None] | None
    started: float
    step_losses: list = field(default_factory=list)
    keras_losses: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    epoch_params: list | None = None
    steps_done: int = 0
    first_progress: float | None = None
    rate_from: tuple[float, int] | None = None
    epoch_started: float = 0.0
    reconstructions: np.ndarray | None = None

    def samples_of(self, steps: int) -> int:
        full_epochs, rest = divmod(steps, self.steps_per_epoch)
        return full_epochs * self.dataset.n_train + min(rest * self.config.batch_size, self.dataset.n_train)

    def rate(self, now: float) -> float:
        done = self.samples_of(self.steps_done)
        if self.rate_from is None:  # the first chunk's time includes compiling: report it anyway
            return done / max(now - self.started, 1e-9)
        t0, s0 = self.rate_from
        return (done - s0) / max(now - t0, 1e-9)

    def event(self, kind: EventKind, now: float, chunk_losses: np.ndarray, **epoch_metrics) -> Progress:
        sps = self.rate(now)
        remaining = self.samples_of(self.total_steps) - self.samples_of(self.steps_done)
        return Progress(
            kind=kind, step=self.steps_done, total_steps=self.total_steps,
            epoch=self.steps_done / self.steps_per_epoch, samples_done=self.samples_of(self.steps_done),
            chunk_loss=float(np.mean(chunk_losses)) if chunk_losses.size else float("nan"),
            step_losses=chunk_losses if kind is EventKind.CHUNK else np.empty(0, np.float32),
            samples_per_second=sps, eta_seconds=remaining / sps if sps > 0 else float("inf"),
            elapsed_seconds=now - self.started, **epoch_metrics,
        )


def _divergence_message(step: int, steps_per_epoch: int, value: float) -> str:
    epoch = (step - 1) // steps_per_epoch + 1
    what = "NaN" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
    return (f"Loss became {what} at step {step} (epoch {epoch}): the run diverged; "
            f"history up to then is kept.")


def run(config: TrainConfig, dataset: Dataset, on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None, chunk_steps: int | None = None,
        target_seconds_per_chunk: float = 0.25, keep_epoch_params: bool = False) -> RunResult:
    """Train ``config`` on ``dataset`` in jitted chunks, reporting progress between them.

    Args:
      config: the run (checked by ``check_config``).
      dataset: from ``prepare`` for the same task and pixel scale.
      on_progress: called with a :class:`Progress` after every chunk and every epoch.
      should_stop: asked after each chunk; when it returns true the run ends
        with :attr:`Status.STOPPED` and keeps its history.
      chunk_steps: steps per compiled chunk (default: about ``target_seconds_per_chunk`` of work).
      target_seconds_per_chunk: how often progress comes, roughly.
      keep_epoch_params: also return ``initial_params`` and ``epoch_params``
        and put each epoch's parameters on its EPOCH event (numpy copies: a
        host sync per epoch, so off by default).

    Returns:
      A :class:`RunResult`.  A non-finite batch loss ends the run with
      :attr:`Status.DIVERGED`: the history up to the last finite step is kept
      and ``params`` are those before the chunk that diverged.

    Raises:
      ValueError: for a bad config or a dataset prepared for another task or pixel scale.
    """
    check_config(config)
    if dataset.task != config.task or (dataset.pixels != config.pixels and config.task != "blobs"):
        raise ValueError(
            f"the dataset was prepared for task {dataset.task!r} with {dataset.pixels!r} pixels; "
            f"the config needs task {config.task!r} with {config.pixels!r} pixels")
    spec = spec_of(config)
    s = steps_per_epoch(config, dataset)
    k, c = chunk_length(config, dataset, chunk_steps, target_seconds_per_chunk)
    ragged = k * c != s
    started = time.perf_counter()
    params, opt_state = init_state(config, dataset)
    initial_params = flat_params(params) if keep_epoch_params else None
    padded = c * k * config.batch_size  # whole chunks: the last one may run past the epoch's end
    weights = jnp.asarray(slot_weights(dataset.n_train, padded))
    learning_rate = jnp.float32(config.learning_rate)
    x, x_test, y_test = dataset.x_train, dataset.x_test, dataset.y_test
    divisor = jnp.float32(dataset.pixel_divisor)
    labels = jnp.asarray(dataset.labels_train if dataset.labels_train is not None
                         else np.zeros(dataset.n_train, np.int64), jnp.int32)
    unroll = unroll_of(config, dataset)
    labels_test = jnp.asarray(dataset.labels_test if dataset.labels_test is not None
                              else np.zeros(dataset.n_test, np.int64), jnp.int32)
    recon_index = jnp.asarray(dataset.reconstruction_index if dataset.reconstruction_index is not None
                              else np.arange(min(8, dataset.n_test)), jnp.int32)
    rec = _Recorder(config=config, dataset=dataset, total_steps=s * config.epochs, steps_per_epoch=s,
                    on_progress=on_progress, started=started, epoch_started=started,
                    epoch_params=[] if keep_epoch_params else None)
    last_good_params = params

    def process(p: _Pending) -> str | None:
        """Read one chunk back, record it and report; returns the message of a divergence that ends the run."""
        nonlocal last_good_params
        chunk_losses = np.asarray(p.losses)[: p.valid_steps]
        chunk_keras = np.asarray(p.keras)[: p.valid_steps]
        bad = np.flatnonzero(~np.isfinite(chunk_losses))
        if bad.size:
            keep = int(bad[0])
            rec.step_losses.append(chunk_losses[:keep])
            rec.keras_losses.append(chunk_keras[:keep])
            rec.steps_done += keep
            last_good_params = p.params_before
            return _divergence_message(rec.steps_done + 1, s, float(chunk_losses[keep]))
        rec.step_losses.append(chunk_losses)
        rec.keras_losses.append(chunk_keras)
        rec.steps_done += p.valid_steps
        last_good_params = p.params_after
        now = time.perf_counter()
        event = rec.event(EventKind.CHUNK, now, chunk_losses)
        if rec.first_progress is None:  # later rates leave out the compile time of the first chunk
            rec.first_progress = now - started
            rec.rate_from = (now, rec.samples_of(rec.steps_done))
        if on_progress is not None:
            on_progress(event)
        if p.evaluation is not None:
            return finish_epoch(p)
        return None

    def finish_epoch(p: _Pending) -> str | None:
        test_loss, accuracy, test_keras, recon = (np.asarray(v) for v in p.evaluation)
        epoch_losses = np.concatenate(rec.step_losses)[-s:]
        epoch_keras = np.concatenate(rec.keras_losses)[-s:]
        batch_sizes = np.full(s, config.batch_size, np.float64)
        batch_sizes[-1] = dataset.n_train - (s - 1) * config.batch_size
        train_loss = float(np.dot(epoch_losses, batch_sizes) / dataset.n_train)
        now = time.perf_counter()
        seconds = now - rec.epoch_started
        rec.epoch_started = now
        entry = {"epoch": p.epoch + 1, "loss": train_loss, "test_loss": _finite_or_none(test_loss)}
        if spec.classes:
            entry["test_accuracy"] = float(accuracy)
        if keras_differs(spec):
            entry["keras_reported_loss"] = float(np.dot(epoch_keras, batch_sizes) / dataset.n_train)
            entry["keras_reported_test_loss"] = _finite_or_none(test_keras)
        entry["seconds"] = seconds
        entry["samples_per_second"] = dataset.n_train / seconds if seconds > 0 else float("inf")
        rec.epochs.append(entry)
        rec.reconstructions = recon if spec.autoencoder else None
        epoch_params = None
        if rec.epoch_params is not None:
            epoch_params = flat_params(p.params_after)
            rec.epoch_params.append(epoch_params)
        if on_progress is not None:
            on_progress(rec.event(
                EventKind.EPOCH, now, np.asarray([train_loss]), train_loss=train_loss,
                test_loss=entry["test_loss"], test_accuracy=entry.get("test_accuracy"),
                keras_reported_loss=entry.get("keras_reported_loss"),
                reconstructions=rec.reconstructions, record=dict(entry), params=epoch_params))
        if not math.isfinite(test_loss):
            return (f"The test loss became non-finite after epoch {p.epoch + 1}: "
                    "the run diverged; history up to then is kept.")
        return None

    pending: _Pending | None = None
    diverged: str | None = None
    stop_requested = False
    for epoch in range(config.epochs):
        order = jax.device_put(epoch_order(config.seed, epoch, dataset.n_train, padded))
        for chunk in range(c):
            first = chunk * k
            before = params
            params, opt_state, chunk_losses, chunk_keras = _train_chunk(
                params, opt_state, learning_rate, x, divisor, labels, order, weights, first, min(k, s - first),
                spec=spec, steps=k, ragged=ragged, unroll=unroll)
            item = _Pending(epoch, chunk, first, min(k, s - first), chunk_losses, chunk_keras, before, params)
            if chunk == c - 1:
                item.evaluation = _evaluate(params, x_test, divisor, y_test, labels_test, recon_index, spec=spec)
            if pending is not None:
                diverged = process(pending)
                stop_requested = diverged is None and should_stop is not None and bool(should_stop())
            pending = item
            if diverged is not None or stop_requested:
                break
        if diverged is not None or stop_requested:
            break
    if diverged is None and pending is not None:
        diverged = process(pending)
        if diverged is None and should_stop is not None and rec.steps_done < rec.total_steps:
            stop_requested = stop_requested or bool(should_stop())
    if diverged is not None:
        status, message = Status.DIVERGED, diverged
    elif rec.steps_done < rec.total_steps:
        status = Status.STOPPED
        message = (f"Stopped at step {rec.steps_done} of {rec.total_steps} "
                   f"(epoch {rec.steps_done / s:.2f} of {config.epochs}); history so far is kept.")
    else:
        status = Status.FINISHED
        message = f"Finished {config.epochs} epoch{'s' * (config.epochs != 1)} ({rec.total_steps} steps)."
    all_losses = np.concatenate(rec.step_losses) if rec.step_losses else np.empty(0, np.float32)
    return RunResult(
        status=status, message=message, config=config, epochs=rec.epochs,
        steps=np.arange(1, all_losses.size + 1), step_losses=all_losses, params=last_good_params,
        seconds=time.perf_counter() - started, first_progress_seconds=rec.first_progress,
        chunk_steps=k, reconstructions=rec.reconstructions,
        initial_params=initial_params, epoch_params=rec.epoch_params,
    )
