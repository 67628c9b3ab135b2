"""The MNIST lab's bookkeeping: smoothing, run records, exports and fair sharing.

Everything the lab page computes that is not training itself lives here, as
pure functions (no Streamlit):

- :func:`debiased_ema`: the smoothed loss curve;
- :func:`bce_floor_of_images`: the entropy floor of binary cross-entropy on the data;
- :class:`RunRecord`: one run's history, filled from the engine's progress events,
  with :func:`comparison_rows`, :func:`history_csv`, :func:`steps_csv` and :func:`history_json`;
- :func:`export_script`: a standalone jax + optax file that reproduces a run;
- :func:`keras_snippet`: the equivalent Keras 3 code;
- :class:`TrainingSlots`: at most N trainings at once per process, FIFO queue.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from lossviz import data, losses, settings
from lossviz.config import PRESETS, TrainConfig

# --------------------------------------------------------------------------
# Smoothing and the BCE floor
# --------------------------------------------------------------------------


def debiased_ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    r"""Exponential moving average with Adam-style bias correction.

    .. math:: s_0 = 0,\quad s_t = \beta s_{t-1} + (1 - \beta) x_t,\quad
              \hat s_t = \frac{s_t}{1 - \beta^t}

    with :math:`\beta` = ``smoothing`` in [0, 1).  Without the correction the
    curve would start near 0; with it, :math:`\hat s_1 = x_1` and every
    :math:`\hat s_t` is a weighted mean of :math:`x_1 … x_t` with weights
    :math:`\propto \beta^{t-k}`.  ``smoothing=0`` returns the values.

    >>> debiased_ema([1.0, 3.0], 0.5).tolist()
    [1.0, 2.3333333333333335]
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {smoothing}")
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    s, correction = 0.0, 1.0
    for t, value in enumerate(x):
        s = smoothing * s + (1.0 - smoothing) * value
        correction *= smoothing
        out[t] = s / (1.0 - correction)
    return out


def bce_floor_of_images(images: np.ndarray) -> float:
    r"""The lowest mean binary cross-entropy any model can reach on these images.

    .. math:: \min_p \mathrm{BCE}(y, p) = H(y), \qquad
              \text{floor} = \frac{1}{N}\sum_i H(y_i),\quad y_i = \text{pixel}_i / 255

    ``images`` are uint8 pixels (any shape).  Counting the 256 grey levels
    first makes this exact and cheap for all of MNIST; about 0.058 nats per
    pixel for MNIST's training images.
    """
    pixels = np.asarray(images)
    if pixels.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {pixels.dtype}")
    if pixels.size == 0:
        raise ValueError("no pixels")
    counts = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    entropies = np.asarray(losses.binary_entropy(levels), dtype=np.float64)
    return float(counts @ entropies / counts.sum())


# --------------------------------------------------------------------------
# Run records
# --------------------------------------------------------------------------

EPOCH_FIELDS = ("epoch", "train_loss", "test_loss", "test_accuracy", "keras_reported_loss",
                "seconds", "samples_per_second")


def describe(config: TrainConfig) -> str:
    """A short human label: the preset name when it is one, else the key choices."""
    for name, preset in PRESETS.items():
        if preset == config:
            return name
    for name, preset in PRESETS.items():
        if preset.replace(seed=config.seed, epochs=config.epochs) == config:
            return f"{name} (seed {config.seed}, {config.epochs} ep)"
    widths = "-".join(str(w) for w in config.hidden) or "none"
    return (f"{config.task} [{widths}] {config.output_activation}+{short_loss(config.loss)} "
            f"{config.optimizer} {config.learning_rate:g} {config.pixels}")


def short_loss(name: str) -> str:
    """``binary_crossentropy`` → ``BCE`` and so on, for legends."""
    return {"binary_crossentropy": "BCE", "categorical_crossentropy": "CCE",
            "mean_squared_error": "MSE", "mean_absolute_error": "MAE",
            "kl_divergence": "KL"}.get(losses.ALIASES.get(name, name), name)


@dataclass
class RunRecord:
    """One run of the lab, filled as progress arrives, kept after it ends.

    ``status`` is ``"queued"``, ``"running"``, ``"finished"``, ``"stopped"``
    or ``"diverged"``.  ``steps``/``step_losses`` hold the loss of every
    training step; ``epochs`` one dict per finished epoch (:data:`EPOCH_FIELDS`).
    """

    run_id: int
    config: TrainConfig
    train_size: int
    label: str = ""
    status: str = "queued"
    message: str = ""
    steps: list[int] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    total_steps: int = 0
    samples_done: int = 0
    samples_per_second: float = float("nan")
    eta_seconds: float = float("nan")
    seconds: float = 0.0
    started_at: float = field(default_factory=time.time)
    originals: np.ndarray | None = None
    reconstructions: np.ndarray | None = None
    confusion: np.ndarray | None = None
    misclassified: list[dict] = field(default_factory=list)
    common_bce: float | None = None
    """Autoencoders: test BCE against pixels in [0, 1] (:func:`autoencoder_common_bce`)."""

    def __post_init__(self):
        if not self.label:
            self.label = f"#{self.run_id} {describe(self.config)}"

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "diverged")

    def add_chunk(self, first_step: int, losses_of_steps: Sequence[float]) -> None:
        """Append the per-step losses of one chunk that starts at step ``first_step`` (1-based)."""
        values = [float(v) for v in losses_of_steps]
        self.steps.extend(range(first_step, first_step + len(values)))
        self.step_losses.extend(values)

    def add_epoch(self, row: dict) -> None:
        self.epochs.append({k: _plain(row.get(k)) for k in EPOCH_FIELDS})

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.total_steps // max(1, self.config.epochs))

    @property
    def fraction_done(self) -> float:
        """Steps done over steps planned, in [0, 1]."""
        return min(1.0, len(self.steps) / self.total_steps) if self.total_steps else 0.0

    @property
    def epochs_done(self) -> float:
        """Fractional epochs trained: steps done / steps per epoch."""
        return len(self.steps) / self.steps_per_epoch

    def smoothed_loss(self, smoothing: float) -> float | None:
        """The last value of the debiased EMA of the step losses, or ``None`` before the first step."""
        return float(debiased_ema(self.step_losses, smoothing)[-1]) if self.step_losses else None

    def observe(self, event) -> None:
        """Record one ``training.Progress`` event: a chunk's step losses or an epoch's metrics."""
        self.status = "running"
        self.total_steps = int(event.total_steps)
        self.samples_done = int(event.samples_done)
        self.samples_per_second = float(event.samples_per_second)
        self.eta_seconds = float(event.eta_seconds)
        self.seconds = float(event.elapsed_seconds)
        if event.kind == "chunk":
            self.add_chunk(int(event.step) - len(event.step_losses) + 1, event.step_losses)
        else:
            self.add_epoch({
                "epoch": int(round(event.epoch)), "train_loss": event.train_loss,
                "test_loss": event.test_loss, "test_accuracy": event.test_accuracy,
                "keras_reported_loss": event.keras_reported_loss,
                "samples_per_second": event.samples_per_second,
            })
            if event.reconstructions is not None:
                self.reconstructions = np.asarray(event.reconstructions)

    def finish(self, result) -> None:
        """Take the status, message, epochs (with their timings) and steps of a ``training.RunResult``."""
        self.status = result.status
        self.message = result.message
        self.seconds = float(result.seconds)
        self.epochs = []
        for row in result.epochs:
            self.add_epoch({**row, "train_loss": row.get("loss")})
        self.steps = [int(s) for s in result.steps]
        self.step_losses = [float(v) for v in result.step_losses]
        if result.reconstructions is not None:
            self.reconstructions = np.asarray(result.reconstructions)
        if self.epochs and self.epochs[-1].get("samples_per_second"):
            self.samples_per_second = float(np.mean([r["samples_per_second"] for r in self.epochs
                                                     if r.get("samples_per_second")]))

    def interrupt(self) -> None:
        """Mark a run cut short between chunks (Stop, another control, a closed tab); history stays."""
        if self.done:
            return
        self.status = "stopped"
        self.message = (f"Stopped at step {len(self.steps):,} of {self.total_steps or 0:,}"
                        f" (epoch {self.epochs_done:.2f} of {self.config.epochs});"
                        " the history so far is kept.")

    def excess_over_floor(self, floor: float, smoothing: float) -> float | None:
        """Smoothed loss minus the data's BCE floor: the part of the loss that learning can still remove."""
        smoothed = self.smoothed_loss(smoothing)
        return None if smoothed is None else smoothed - floor

    def settle(self, timeout: float = 3.0, poll_seconds: float = 0.05) -> None:
        """Wait for a run another thread is ending, then make sure it is marked ended.

        Streamlit's fast reruns start the new script run while the old one is
        still finishing its chunk; the old thread marks its run stopped when it
        reaches its next Streamlit call.  Past ``timeout`` it is marked here.
        """
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            time.sleep(poll_seconds)
        self.interrupt()

    def final(self) -> dict:
        """The last epoch's metrics (``nan`` where there are none)."""
        last = self.epochs[-1] if self.epochs else {}
        return {k: _plain(last.get(k, float("nan"))) for k in EPOCH_FIELDS}

    def to_dict(self) -> dict:
        """Everything but the images, as JSON-ready plain values."""
        return {
            "run": self.run_id,
            "label": self.label,
            "config": self.config.to_dict(),
            "train_size": self.train_size,
            "status": self.status,
            "message": self.message,
            "seconds": self.seconds,
            "samples_per_second": _plain(self.samples_per_second),
            "epochs": [dict(row) for row in self.epochs],
            "steps": list(self.steps),
            "step_losses": [_plain(v) for v in self.step_losses],
            "confusion_matrix": None if self.confusion is None else np.asarray(self.confusion).tolist(),
        }


def _plain(value: Any) -> Any:
    """numpy scalars → Python; non-finite floats → ``None`` (valid JSON, empty CSV cell)."""
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def comparison_rows(records: Sequence[RunRecord]) -> list[dict]:
    """One row of final metrics per run, for the comparison table."""
    rows = []
    for r in records:
        last = r.final()
        rows.append({
            "run": r.label,
            "status": r.status,
            "loss": r.config.loss,
            "output": r.config.output_activation,
            "pixels": r.config.pixels,
            "epochs done": len(r.epochs),
            "train loss": last["train_loss"],
            "test loss": last["test_loss"],
            "test accuracy": last["test_accuracy"],
            "Keras-reported loss": last["keras_reported_loss"],
            "test BCE, pixels in [0,1]": _plain(r.common_bce),
            "seconds": round(r.seconds, 2),
            "samples/s": _plain(r.samples_per_second),
        })
    return rows


def history_csv(record: RunRecord) -> str:
    """Per-epoch history as CSV, one row per epoch, header :data:`EPOCH_FIELDS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EPOCH_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in record.epochs:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in EPOCH_FIELDS})
    return buf.getvalue()


def steps_csv(record: RunRecord) -> str:
    """The loss of every training step as CSV (``step,loss``)."""
    lines = ["step,loss"]
    lines += [f"{s},{'' if not math.isfinite(v) else repr(v)}" for s, v in zip(record.steps, record.step_losses)]
    return "\n".join(lines) + "\n"


def history_json(record: RunRecord) -> str:
    """The whole run (configuration, status, epochs, step losses) as JSON."""
    return json.dumps(record.to_dict(), indent=1)


# --------------------------------------------------------------------------
# Fair sharing of the server
# --------------------------------------------------------------------------


class TrainingSlots:
    """At most ``capacity`` trainings at once in this process, first come first served.

    ``capacity`` defaults to ``settings.limits().max_concurrent_trainings``,
    read at every check so a deployment's setting applies without restart.
    Use :meth:`slot` as a context manager around a run; the slot is released
    in ``finally``, so a run interrupted by any exception (the visitor pressed
    Stop, closed the tab, the run diverged) frees it.
    """

    def __init__(self, capacity: int | None = None):
        self._fixed_capacity = capacity
        self._cond = threading.Condition()
        self._active = 0
        self._queue: deque[object] = deque()

    @property
    def capacity(self) -> int:
        return self._fixed_capacity or settings.limits().max_concurrent_trainings

    @property
    def active(self) -> int:
        with self._cond:
            return self._active

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    def _try_take(self, ticket: object) -> bool:
        """Caller holds the lock.  The head of the queue takes a free slot."""
        if self._queue and self._queue[0] is ticket and self._active < self.capacity:
            self._queue.popleft()
            self._active += 1
            return True
        return False

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None,
             poll_seconds: float = 0.25) -> Iterator[None]:
        """Hold one slot for the ``with`` body, waiting in line for it first.

        While queued, ``on_wait(ahead)`` is called about every
        ``poll_seconds`` with the number of visitors ahead in line; an
        exception it raises (Streamlit interrupting the script) leaves the
        queue cleanly.
        """
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._try_take(ticket):
                        break
                    ahead = list(self._queue).index(ticket)
                if on_wait is not None:
                    on_wait(ahead)
                with self._cond:
                    if self._try_take(ticket):
                        break
                    self._cond.wait(poll_seconds)
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()


SLOTS = TrainingSlots()
"""The process-wide limiter every lab page shares."""


# --------------------------------------------------------------------------
# The equivalent Keras code
# --------------------------------------------------------------------------

_KERAS_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def keras_snippet(config: TrainConfig) -> str:
    """Keras 3 code that builds, compiles and fits the model ``config`` describes.

    The data lines follow the task (MNIST images as their own targets, MNIST
    one-hot digits, or scikit-learn's blobs); a softmax autoencoder trained
    with binary cross-entropy gets a comment on what Keras then reports.
    """
    lines = ["import keras", "from keras import layers", ""]
    if config.task == "blobs":
        lines += [
            "from sklearn.datasets import make_blobs",
            "from sklearn.model_selection import train_test_split",
            "",
            "x, labels = make_blobs(n_samples=1000, centers=3, cluster_std=2.0, random_state=0)",
            "y = keras.utils.to_categorical(labels, 3)",
            "x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)",
        ]
        inputs, outputs = 2, 3
    else:
        scale = " / 255.0" if config.pixels == "unit" else ""
        comment = "  # pixels in [0, 1]" if config.pixels == "unit" else "  # raw pixels, 0-255"
        lines += [
            "(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()",
            f'x_train = x_train.reshape(-1, 784).astype("float32"){scale}{comment}',
            f'x_test = x_test.reshape(-1, 784).astype("float32"){scale}',
        ]
        if config.task == "autoencoder":
            lines += ["y_train, y_test = x_train, x_test  # an autoencoder reproduces its input"]
            outputs = 784
        else:
            lines += ["y_train = keras.utils.to_categorical(y_train, 10)",
                      "y_test = keras.utils.to_categorical(y_test, 10)"]
            outputs = 10
        inputs = 784
    bias = ""
    if config.bias_init:
        bias = f", bias_initializer=keras.initializers.Constant({config.bias_init:g})"
    lines += ["", "model = keras.Sequential([", f"    keras.Input(shape=({inputs},)),"]
    for width in config.hidden:
        lines.append(f'    layers.Dense({width}, activation="{config.hidden_activation}"{bias}),')
    lines += [f'    layers.Dense({outputs}, activation="{config.output_activation}"{bias}),', "])"]
    optimizer = f"keras.optimizers.{_KERAS_OPTIMIZERS[config.optimizer]}(learning_rate={config.learning_rate:g})"
    metrics = ', metrics=["accuracy"]' if config.task != "autoencoder" else ""
    if config.output_activation == "softmax" and losses.ALIASES.get(config.loss, config.loss) == "binary_crossentropy":
        lines += [
            "# Keras 3 computes this binary cross-entropy from the cached pre-softmax logits, as if",
            "# the output were a sigmoid: the loss it reports does not describe the softmax outputs.",
        ]
    lines += [
        f'model.compile(optimizer={optimizer}, loss="{config.loss}"{metrics})',
        f"model.fit(x_train, y_train, batch_size={config.batch_size}, epochs={config.epochs},",
        "          shuffle=True, validation_data=(x_test, y_test))",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# "Export as script": a standalone jax + optax reproduction
# --------------------------------------------------------------------------

_SCRIPT_LOSSES = {
    # (output activation or None for any, loss) -> body of loss_per_example(z, y); z are logits.
    ("sigmoid", "binary_crossentropy"): (
        "    # BCE of sigmoid(z), in its exact from-logits form\n"
        "    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))), axis=-1)\n"),
    ("softmax", "categorical_crossentropy"): (
        "    # categorical cross-entropy of softmax(z), in its exact from-logits form\n"
        "    return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)\n"),
    ("softmax", "binary_crossentropy"): (
        "    # Keras's clipped BCE of the softmax probabilities (not of the logits), computed stably\n"
        "    log_p = jnp.clip(jax.nn.log_softmax(z, axis=-1), math.log(EPSILON), math.log1p(-EPSILON))\n"
        "    return jnp.mean(-y * log_p - (1.0 - y) * jnp.log1p(-jnp.exp(log_p)), axis=-1)\n"),
    (None, "binary_crossentropy"): (
        "    p = jnp.clip(activate(z), EPSILON, 1.0 - EPSILON)\n"
        "    return jnp.mean(-xlogy(y, p) - xlogy(1.0 - y, 1.0 - p), axis=-1)\n"),
    (None, "categorical_crossentropy"): (
        "    q = activate(z)\n"
        "    q = jnp.clip(q / jnp.sum(q, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)\n"
        "    return -jnp.sum(xlogy(y, q), axis=-1)\n"),
    (None, "kl_divergence"): (
        "    p = jnp.clip(y, EPSILON, 1.0)\n"
        "    q = jnp.clip(activate(z), EPSILON, 1.0)\n"
        "    return jnp.sum(p * jnp.log(p / q), axis=-1)\n"),
    (None, "mean_squared_error"): "    return jnp.mean(jnp.square(activate(z) - y), axis=-1)\n",
    (None, "mean_absolute_error"): "    return jnp.mean(jnp.abs(activate(z) - y), axis=-1)\n",
}

_SCRIPT_OPTIMIZERS = {
    "adam": "optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-7)  # Keras's defaults",
    "sgd": "optax.sgd(learning_rate)",
    "rmsprop": "optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=True)  # Keras's defaults",
}

_SCRIPT_ACTIVATIONS = {
    "linear": "z",
    "sigmoid": "jax.nn.sigmoid(z)",
    "softmax": "jax.nn.softmax(z, axis=-1)",
    "relu": "jax.nn.relu(z)",
    "tanh": "jnp.tanh(z)",
}

_SCRIPT_TEMPLATE = '''#!/usr/bin/env python3
"""Reproduce a lossviz MNIST lab run from the command line: {label}.

Generated by lossviz's "Export as script". It needs only jax, optax and numpy:

    python {filename} [--epochs N] [--limit-train N] [--limit-test N] [--seed N] [--mnist mnist.npz]

It prints one JSON object per epoch (epoch, loss, test_loss, test_accuracy,
seconds), then {{"status": ..., "final": {{...}}}}.  The initialisation, the
per-epoch shuffles, the optimizer and the loss follow the lab's engine, so
the same configuration and seed give the same numbers.
"""

import argparse
import hashlib
import json
import math
import sys
import time
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import xlogy

CONFIG = {config}
EPSILON = 1e-7  # Keras's clipping of probabilities
KERAS_MNIST_URL = {keras_url!r}
KERAS_MNIST_SHA256 = {keras_sha256!r}
HIDDEN = {{"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda z: z}}


def load_mnist(path=None):
    """MNIST as uint8 ((x_train, y_train), (x_test, y_test)): a given mnist.npz, lossviz's loader, or Keras's file."""
    if path is None:
        try:
            from lossviz.data import load_mnist as lossviz_load_mnist
        except ImportError:
            path = Path.home() / ".keras" / "datasets" / "mnist.npz"
            if not path.exists():
                try:
                    payload = urllib.request.urlopen(KERAS_MNIST_URL, timeout=60).read()
                except OSError as err:
                    sys.exit(f"cannot download MNIST ({{err}}); pass --mnist PATH/TO/mnist.npz")
                if hashlib.sha256(payload).hexdigest() != KERAS_MNIST_SHA256:
                    sys.exit("the downloaded mnist.npz does not match its SHA-256")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(payload)
        else:
            return lossviz_load_mnist()
    with np.load(path) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def to_inputs(images):
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    return x / 255.0 if CONFIG["pixels"] == "unit" else x  # "raw" keeps 0-255


def init(key, widths):
    """Glorot-uniform kernels and constant biases, as Keras initialises Dense layers."""
    glorot = jax.nn.initializers.glorot_uniform()
    keys = jax.random.split(key, len(widths) - 1)
    return [(glorot(k, (a, b), jnp.float32), jnp.full((b,), CONFIG["bias_init"], jnp.float32))
            for k, a, b in zip(keys, widths[:-1], widths[1:])]


def logits_of(params, x):
    act = HIDDEN[CONFIG["hidden_activation"]]
    for kernel, bias in params[:-1]:
        x = act(x @ kernel + bias)
    kernel, bias = params[-1]
    return x @ kernel + bias


def activate(z):
    """The output layer's activation: {output_activation}."""
    return {activation}


def loss_per_example(z, y):
    """{loss} of the outputs activate(z) against the targets y, one value per example."""
{loss_body}

def batch_loss(params, x, y):
    return jnp.mean(loss_per_example(logits_of(params, x), y))


def make_optimizer(learning_rate):
    return {optimizer}


@jax.jit
def train_step(params, opt_state, learning_rate, x, y):
    loss, grads = jax.value_and_grad(batch_loss)(params, x, y)
    updates, opt_state = make_optimizer(learning_rate).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


@jax.jit
def evaluate(params, x, y, labels):
    z = logits_of(params, x)
    return jnp.mean(loss_per_example(z, y)), jnp.mean(jnp.argmax(z, axis=-1) == labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--limit-train", type=int, default={limit_train}, help="train on the first N images")
    parser.add_argument("--limit-test", type=int, default=None, help="test on the first N images")
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    parser.add_argument("--learning-rate", type=float, default=CONFIG["learning_rate"])
    parser.add_argument("--batch-size", type=int, default=CONFIG["batch_size"])
    parser.add_argument("--mnist", type=Path, default=None, help="path of Keras's mnist.npz")
    args = parser.parse_args(argv)
    for name in ("epochs", "limit_train", "limit_test", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{{name.replace('_', '-')}} must be at least 1")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        parser.error("--learning-rate must be a positive number")

    (x_train, l_train), (x_test, l_test) = load_mnist(args.mnist)
    x_train, l_train = to_inputs(x_train[: args.limit_train]), l_train[: args.limit_train].astype(np.int64)
    x_test, l_test = to_inputs(x_test[: args.limit_test]), l_test[: args.limit_test].astype(np.int64)
    if CONFIG["task"] == "autoencoder":
        y_train, y_test = x_train, x_test  # an autoencoder reproduces its input
    else:
        y_train, y_test = np.eye(10, dtype=np.float32)[l_train], np.eye(10, dtype=np.float32)[l_test]
    n, batch = x_train.shape[0], args.batch_size
    steps = math.ceil(n / batch)  # the last, partial batch is trained too, as Keras does

    root = jax.random.PRNGKey(args.seed)
    params = init(jax.random.fold_in(root, 0), [x_train.shape[1], *CONFIG["hidden"], y_train.shape[1]])
    learning_rate = jnp.float32(args.learning_rate)
    opt_state = make_optimizer(learning_rate).init(params)
    x_test_d, y_test_d, l_test_d = jnp.asarray(x_test), jnp.asarray(y_test), jnp.asarray(l_test, jnp.int32)
    status, final = "finished", {{}}
    for epoch in range(args.epochs):
        started = time.perf_counter()
        order = np.random.default_rng((args.seed, epoch)).permutation(n)  # the seeded shuffle of this epoch
        total = 0.0
        for step in range(steps):
            idx = order[step * batch:(step + 1) * batch]
            params, opt_state, loss = train_step(params, opt_state, learning_rate, x_train[idx], y_train[idx])
            loss = float(loss)
            if not math.isfinite(loss):
                status = "diverged"
                break
            total += loss * len(idx)  # Keras weights each batch's loss by its size
        if status == "diverged":
            break
        test_loss, accuracy = evaluate(params, x_test_d, y_test_d, l_test_d)
        seconds = time.perf_counter() - started
        final = {{"epoch": epoch + 1, "loss": total / n, "test_loss": float(test_loss), "seconds": seconds}}
        if CONFIG["task"] != "autoencoder":
            final["test_accuracy"] = float(accuracy)
        print(json.dumps(final), flush=True)
    print(json.dumps({{"status": status, "final": final}}))
    return 0 if status == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
'''


def script_loss_body(config: TrainConfig) -> str:
    """The body of the exported ``loss_per_example``: the engine's choice for this output and loss."""
    loss = losses.canonical_name(config.loss)
    body = _SCRIPT_LOSSES.get((config.output_activation, loss))
    if body is None or (loss == "kl_divergence"):
        body = _SCRIPT_LOSSES[(None, loss)]
    return body


def script_filename(config: TrainConfig) -> str:
    return f"lossviz_{describe(config).split(' ')[0]}_seed{config.seed}.py"


def export_script(config: TrainConfig, limit_train: int | None = None) -> str:
    """A standalone Python file (jax, optax, numpy) that trains ``config`` on MNIST and prints its history.

    ``limit_train`` becomes the default of ``--limit-train`` (the run's
    training subset).  The script mirrors the engine: Keras-default init from
    ``fold_in(PRNGKey(seed), 0)``, epoch ``e`` shuffled by numpy's
    ``default_rng((seed, e)).permutation(n)``, the partial
    last batch trained, and the same loss forms and optimizer settings.
    """
    if config.task not in ("autoencoder", "classifier"):
        raise ValueError("only MNIST runs (autoencoder, classifier) can be exported as a script")
    config_text = json.dumps(config.to_dict(), indent=4).replace("\n", "\n")
    return _SCRIPT_TEMPLATE.format(
        label=describe(config),
        filename=script_filename(config),
        config=config_text,
        output_activation=config.output_activation,
        activation=_SCRIPT_ACTIVATIONS[config.output_activation],
        loss=losses.canonical_name(config.loss),
        loss_body=script_loss_body(config),
        optimizer=_SCRIPT_OPTIMIZERS[config.optimizer],
        limit_train=repr(limit_train),
        keras_url=data.KERAS_URL,
        keras_sha256=data.KERAS_SHA256,
    )


# --------------------------------------------------------------------------
# Page support: configuration fields, data, classifier reports, overlays
# --------------------------------------------------------------------------

MNIST_PRESETS = tuple(name for name, c in PRESETS.items() if c.task in ("autoencoder", "classifier"))
TRAIN_SIZES = (1000, 10000, 60000)
FIELD_KEYS = {
    "task": "task", "hidden": "hidden", "hidden_activation": "act", "output_activation": "out",
    "loss": "loss", "optimizer": "opt", "learning_rate": "lr", "batch_size": "bs", "epochs": "ep",
    "pixels": "px", "bias_init": "bias", "seed": "seed",
}
"""``TrainConfig`` field → the link key of the lab's widget for it."""


def hidden_text(hidden: Sequence[int]) -> str:
    """``(128, 64)`` → ``"128,64"``, the text the widths box shows."""
    return ",".join(str(int(w)) for w in hidden)


def parse_hidden(text: str, max_layers: int = 8, max_width: int = 2048) -> tuple[int, ...]:
    """``"128, 64"`` → ``(128, 64)``; empty text means no hidden layer.  ``ValueError`` when malformed."""
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    if len(parts) > max_layers:
        raise ValueError(f"at most {max_layers} hidden layers")
    widths = []
    for part in parts:
        if not part.isdigit():
            raise ValueError(f"{part!r} is not a whole number")
        width = int(part)
        if not 1 <= width <= max_width:
            raise ValueError(f"widths must be between 1 and {max_width}, not {width}")
        widths.append(width)
    return tuple(widths)


def widget_values(config: TrainConfig) -> dict[str, Any]:
    """The lab's widget values (by link key) that show ``config``."""
    values = {FIELD_KEYS[name]: getattr(config, name) for name in FIELD_KEYS}
    values["hidden"] = hidden_text(config.hidden)
    values["lr"] = float(config.learning_rate)
    values["bias"] = float(config.bias_init)
    return values


def preset_of(config: TrainConfig) -> str | None:
    """The name of the MNIST preset equal to ``config``, if any."""
    return next((name for name in MNIST_PRESETS if PRESETS[name] == config), None)


def test_size(train_size: int) -> int:
    """Test images evaluated after each epoch: all 10000 unless the training subset is smaller."""
    return min(int(train_size), 10000)


def classifier_report(config: TrainConfig, params, dataset, n: int = 8) -> dict:
    """Confusion matrix and the first ``n`` misclassified test digits of a trained classifier."""
    from lossviz.engine import training

    matrix = training.confusion_matrix(config, params, dataset)
    index, true, predicted = training.misclassified(config, params, dataset, n)
    images = np.asarray(dataset.test_inputs())[np.asarray(index, dtype=np.int64)]
    return {"confusion": matrix, "images": images, "true": np.asarray(true), "predicted": np.asarray(predicted)}


def bce_floor_applies(config: TrainConfig) -> bool:
    """The data's BCE floor bounds this run's loss: an autoencoder trained with BCE on pixels in [0, 1]."""
    return (config.task == "autoencoder" and config.pixels == "unit"
            and losses.canonical_name(config.loss) == "binary_crossentropy")


def autoencoder_common_bce(config: TrainConfig, params, dataset) -> float:
    r"""Test BCE of an autoencoder's outputs against its test pixels scaled to [0, 1].

    .. math:: \frac{1}{N \cdot 784} \sum_{n,i} \mathrm{BCE}\big(x_{ni} / 255,\ \hat x_{ni}\big)

    Common ground for autoencoders trained on different losses or pixel
    scales: a raw-pixel run's own loss (targets up to 255) cannot be compared
    with a [0, 1] run's, this can.  Uses the engine's honest BCE of the outputs.
    """
    from lossviz.engine import training

    x = dataset.test_inputs()
    targets = x / 255.0 if config.pixels == "raw" else x
    honest, _ = training.honest_and_keras_bce(params, x, config, y=targets)
    return honest


OVERLAY_METRICS = {
    "smoothed training loss per step": ("step", None),
    "training loss per epoch": ("epoch", "train_loss"),
    "test loss per epoch": ("epoch", "test_loss"),
    "test accuracy per epoch": ("epoch", "test_accuracy"),
    "Keras-reported loss per epoch": ("epoch", "keras_reported_loss"),
}


def overlay_series(records: Sequence[RunRecord], metric: str, smoothing: float) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(label, x, y)`` per run for :data:`OVERLAY_METRICS` ``metric``; x in epochs so batch sizes align.

    Per-step losses are smoothed with :func:`debiased_ema` and placed at
    ``step / steps_per_epoch``; runs without the metric are left out.
    """
    kind, key = OVERLAY_METRICS[metric]
    series = []
    for r in records:
        if kind == "step":
            if not r.step_losses:
                continue
            x = np.asarray(r.steps, dtype=np.float64) / r.steps_per_epoch
            y = debiased_ema(r.step_losses, smoothing)
        else:
            rows = [row for row in r.epochs if row.get(key) is not None]
            if not rows:
                continue
            x = np.asarray([row["epoch"] for row in rows], dtype=np.float64)
            y = np.asarray([row[key] for row in rows], dtype=np.float64)
        series.append((r.label, x, y))
    return series


def pair_configs(kind: str, seed: int, epochs: int) -> list[TrainConfig]:
    """The two presets of a one-click comparison, with the same seed and epochs.

    ``"fix"``: seed-autoencoder as written vs autoencoder-sigmoid-bce;
    ``"mse-ce"``: classifier-mse vs classifier-cce.
    """
    names = {"fix": ("seed-autoencoder", "autoencoder-sigmoid-bce"),
             "mse-ce": ("classifier-mse", "classifier-cce")}[kind]
    return [PRESETS[name].replace(seed=seed, epochs=epochs) for name in names]
