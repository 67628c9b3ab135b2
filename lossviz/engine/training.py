"""The training engine: jit-compiled chunks of steps, progress between chunks.

Public API (the pages and the command line use exactly these names)::

    dataset = prepare(config, mnist=None, limit_train=None, limit_test=None)
    result = run(config, dataset, on_progress=None, should_stop=None,
                 chunk_steps=None, target_seconds_per_chunk=0.25)
    result.status          # "finished" | "stopped" | "diverged"
    result.message         # one readable sentence about how the run ended
    result.epochs          # list of per-epoch dicts (the CLI's JSON lines)
    result.steps, result.step_losses   # every training step's batch loss
    result.params          # final parameters (models.apply / predict take them)

    predict(config, params, x)                 # model outputs, numpy
    confusion_matrix(config, params, dataset)  # (C, C) counts, rows = true class
    misclassified(config, params, dataset, n)  # (test indices, true, predicted)
    honest_and_keras_bce(params, x, config)    # (honest BCE of outputs, Keras 3's number)
    output_loss(config, logits, targets)       # per-example loss the run trains on
    compile_seconds(config, dataset)           # cold compile times (the bench uses it)

``Progress`` events reach ``on_progress`` between chunks: one ``"chunk"``
event per chunk of steps, then one ``"epoch"`` event after each epoch's last
chunk.  Only ``"chunk"`` events carry new ``step_losses``; an ``"epoch"``
event has an empty ``step_losses`` and adds the epoch's metrics.

Data.  ``prepare`` puts the inputs and targets on the default JAX device
once.  Autoencoders reconstruct their inputs (targets *are* the inputs, in
the config's pixel scale, so raw 0–255 targets are kept as the confused
original had them); classifiers get one-hot labels.  ``blobs`` uses
``data.make_blobs(1000, seed=0)`` split 800 train / 200 test, the same
points whatever the run's seed (the seed moves the initialisation and the
shuffles, not the data, so runs stay comparable).

Keras semantics, where a user would compare numbers with Keras:

* Adam uses Keras's ``epsilon=1e-7`` (``optax.adam(lr, eps=1e-7)``).  Keras
  adds ε to ``sqrt(v)`` before bias correction, optax after; the two differ
  by a factor ``sqrt(1 - β₂ᵗ)`` on ε, immaterial beyond the first steps.
* RMSprop uses Keras's ``rho=0.9, epsilon=1e-7`` with ε inside the square
  root; SGD is plain (no momentum).
* Epoch ``e`` is shuffled by ``numpy.random.default_rng((seed, e))`` on the
  host (:func:`epoch_order`); initial parameters are ``models.init`` with
  ``fold_in(PRNGKey(seed), 0)``.  The last, partial batch is trained as its
  own smaller batch (its loss is the mean over the examples it has), as
  ``model.fit`` does.  The epoch's training loss is the mean of its batch
  losses weighted by batch size (Keras's loss tracker weights each batch by
  its size), so it equals the mean over the epoch's examples of the loss at
  the moment each was seen.

Losses are computed honestly on what the model outputs (see
:func:`output_loss`).  Where the output activation is the one a loss has a
stable from-logits form for (sigmoid + BCE, softmax + categorical CE), that
exact form is used; otherwise the Keras probability form with its clipping.
A softmax autoencoder trained with BCE is scored on its softmax
probabilities, not on its logits; :func:`keras_reported_bce` computes the
number Keras 3 would print instead.

Compilation.  The chunk function is jitted at module level with the model
structure, loss, optimizer name, batch size and chunk length as static
arguments; the learning rate, seed and data are traced, so runs that differ
only in those reuse the compiled code (``TRACE_COUNTS`` counts traces).
The next chunk is dispatched before the last one's losses are read, so
host work overlaps device work; there is no host sync inside a chunk.
Parameters are not donated: the previous chunk's parameters are what a
diverged run returns.  An epoch of ``S`` steps is cut into
chunks of equal length ``K``, a divisor of ``S`` where one is near the
wanted length; otherwise steps past the epoch's end in the last chunk are
skipped with ``lax.cond``, so one compiled length serves every chunk.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import data as data_mod
from lossviz import losses
from lossviz.engine import models
from lossviz.config import ACTIVATIONS, OPTIMIZERS, PIXELS, TASKS, TrainConfig

TRACE_COUNTS: Counter = Counter()
"""How many times each jitted function has been traced (a test reads it)."""

RECONSTRUCTION_DIGITS = tuple(range(8))
"""The digits whose first test image is reconstructed after every epoch."""

BLOBS_SAMPLES, BLOBS_TRAIN = 1000, 800

STATUSES = ("finished", "stopped", "diverged")
"""The values of ``RunResult.status``."""


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Device-resident train and test data for one task and pixel scale.

    ``x_train``/``x_test`` are stored compactly: MNIST stays uint8 on the
    device (a quarter of float32's memory, shared by every pixel scale's
    run), and the model's inputs are ``x / pixel_divisor`` in float32, made
    batch by batch (255 for pixels in [0, 1], 1 for raw 0–255 pixels and for
    float data such as blobs).  :meth:`train_inputs`/:meth:`test_inputs` give
    the whole sets as model inputs.

    ``y_train``/``y_test`` are ``None`` for autoencoders (the targets are the
    inputs).  ``labels_*`` are integer classes (numpy) for classifiers and
    blobs, else ``None``.  ``reconstruction_inputs`` holds the 8 fixed test
    digits (numpy, (8, 784)) for autoencoders.
    """

    task: str
    pixels: str
    x_train: jax.Array
    y_train: jax.Array | None
    x_test: jax.Array
    y_test: jax.Array | None
    labels_train: np.ndarray | None
    labels_test: np.ndarray | None
    reconstruction_index: np.ndarray | None = None
    reconstruction_inputs: np.ndarray | None = None
    pixel_divisor: float = 1.0

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def input_width(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def output_width(self) -> int:
        return self.input_width if self.y_train is None else int(self.y_train.shape[1])

    def train_inputs(self) -> jax.Array:
        return _as_inputs(self.x_train, jnp.float32(self.pixel_divisor))

    def test_inputs(self) -> jax.Array:
        return _as_inputs(self.x_test, jnp.float32(self.pixel_divisor))

    def train_targets(self) -> jax.Array:
        return self.train_inputs() if self.y_train is None else self.y_train

    def test_targets(self) -> jax.Array:
        return self.test_inputs() if self.y_test is None else self.y_test


@jax.jit
def _as_inputs(x: jax.Array, divisor: jax.Array) -> jax.Array:
    """Model inputs from stored pixels, exactly as ``data.to_inputs`` makes them."""
    return x.astype(jnp.float32) / divisor


def _reconstruction_index(labels: np.ndarray) -> np.ndarray:
    """First test image of each digit in RECONSTRUCTION_DIGITS (the first 8 images if one is absent)."""
    picks = []
    for digit in RECONSTRUCTION_DIGITS:
        where = np.flatnonzero(labels == digit)
        if where.size == 0:
            return np.arange(min(8, labels.size))
        picks.append(int(where[0]))
    return np.asarray(picks)


def prepare(config: TrainConfig, mnist=None, limit_train: int | None = None,
            limit_test: int | None = None) -> Dataset:
    """The config's task data on the default device, loaded once per run shape.

    ``mnist`` is ``data.load_mnist()``'s tuple (loaded here when ``None`` and
    the task needs it).  ``limit_train``/``limit_test`` keep the first N
    examples, for tiny runs and tests.
    """
    check_config(config)
    if config.task == "blobs":
        points, labels = data_mod.make_blobs(n_samples=BLOBS_SAMPLES, centers=3, seed=0)
        x_tr, l_tr = points[:BLOBS_TRAIN], labels[:BLOBS_TRAIN]
        x_te, l_te = points[BLOBS_TRAIN:], labels[BLOBS_TRAIN:]
        num_classes = 3
    else:
        if mnist is None:
            mnist = data_mod.load_mnist()
        (xi_tr, l_tr), (xi_te, l_te) = mnist
        x_tr = np.asarray(xi_tr[:limit_train], np.uint8).reshape(-1, 28 * 28)
        x_te = np.asarray(xi_te[:limit_test], np.uint8).reshape(-1, 28 * 28)
        l_tr, l_te = l_tr[:limit_train], l_te[:limit_test]
        num_classes = 10
    divisor = 255.0 if config.task != "blobs" and config.pixels == "unit" else 1.0
    if config.task == "blobs":
        x_tr, l_tr, x_te, l_te = x_tr[:limit_train], l_tr[:limit_train], x_te[:limit_test], l_te[:limit_test]
    if len(x_tr) == 0 or len(x_te) == 0:
        raise ValueError("the training and test sets must each keep at least one example")
    l_tr = np.asarray(l_tr, np.int64)
    l_te = np.asarray(l_te, np.int64)
    if config.task == "autoencoder":
        index = _reconstruction_index(l_te)
        return Dataset(
            task=config.task, pixels=config.pixels, x_train=jnp.asarray(x_tr), y_train=None,
            x_test=jnp.asarray(x_te), y_test=None, labels_train=l_tr, labels_test=l_te,
            reconstruction_index=index,
            reconstruction_inputs=np.asarray(x_te[index], np.float32) / np.float32(divisor),
            pixel_divisor=divisor,
        )
    return Dataset(
        task=config.task, pixels=config.pixels,
        x_train=jnp.asarray(x_tr), y_train=jnp.asarray(data_mod.one_hot(l_tr, num_classes)),
        x_test=jnp.asarray(x_te), y_test=jnp.asarray(data_mod.one_hot(l_te, num_classes)),
        labels_train=l_tr, labels_test=l_te, pixel_divisor=divisor,
    )


def check_config(config: TrainConfig) -> None:
    """``ValueError`` with a readable message for a config the engine cannot run."""
    problems = []
    if config.task not in TASKS:
        problems.append(f"task must be one of {', '.join(TASKS)}, not {config.task!r}")
    for name, value in (("output_activation", config.output_activation),
                        ("hidden_activation", config.hidden_activation)):
        if value not in ACTIVATIONS:
            problems.append(f"{name} must be one of {', '.join(ACTIVATIONS)}, not {value!r}")
    if config.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {config.optimizer!r}")
    if config.pixels not in PIXELS:
        problems.append(f"pixels must be one of {', '.join(PIXELS)}, not {config.pixels!r}")
    try:
        losses.canonical_name(config.loss)
    except ValueError as err:
        problems.append(str(err))
    if not (isinstance(config.batch_size, int) and config.batch_size >= 1):
        problems.append(f"batch size must be a positive integer, not {config.batch_size!r}")
    if not (isinstance(config.epochs, int) and config.epochs >= 1):
        problems.append(f"epochs must be a positive integer, not {config.epochs!r}")
    if not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
        problems.append(f"learning rate must be a positive number, not {config.learning_rate!r}")
    if any((not isinstance(w, int)) or w < 1 for w in config.hidden):
        problems.append(f"hidden widths must be positive integers, not {list(config.hidden)!r}")
    if problems:
        raise ValueError("; ".join(problems))


def widths(config: TrainConfig, dataset: Dataset | None = None) -> list[int]:
    """Layer widths input → hidden … → output for the config's task."""
    if dataset is not None:
        return [dataset.input_width, *config.hidden, dataset.output_width]
    io = {"autoencoder": (784, 784), "classifier": (784, 10), "blobs": (2, 3)}[config.task]
    return [io[0], *config.hidden, io[1]]


# --------------------------------------------------------------------------
# Losses on what the model outputs
# --------------------------------------------------------------------------


class Spec(NamedTuple):
    """The static (compile-time) part of a config: what changes the traced program."""

    hidden_activation: str
    output_activation: str
    loss: str
    optimizer: str
    batch_size: int
    autoencoder: bool
    classes: bool
    num_classes: int = 0


def spec_of(config: TrainConfig) -> Spec:
    return Spec(
        hidden_activation=config.hidden_activation, output_activation=config.output_activation,
        loss=losses.canonical_name(config.loss), optimizer=config.optimizer,
        batch_size=config.batch_size, autoencoder=config.task == "autoencoder",
        classes=config.task != "autoencoder",
        num_classes={"classifier": 10, "blobs": 3}.get(config.task, 0),
    )


def _log_clip(log_p: jax.Array, epsilon: float) -> jax.Array:
    return jnp.clip(log_p, math.log(epsilon), math.log1p(-epsilon))


def softmax_bce(targets: jax.Array, logits: jax.Array, epsilon: float = losses.EPSILON) -> jax.Array:
    r"""Keras's clipped BCE of ``p = softmax(logits)``, per example (mean over the last axis).

    .. math:: \frac1n\sum_i -y_i\log\hat p_i - (1-y_i)\log(1-\hat p_i),\quad
              \hat p = \mathrm{clip}(\mathrm{softmax}(z), \epsilon, 1-\epsilon)

    Computed from ``log_softmax`` clipped to ``[log ε, log(1-ε)]``, which is the
    same value as clipping ``p`` (log is monotone) without forming ``log`` of
    an underflowed probability.  Targets outside [0, 1] (raw pixels) are
    legal and make the loss unbounded below: that is the confused original's
    lesson, not something to fix.
    """
    log_p = _log_clip(jax.nn.log_softmax(logits, axis=-1), epsilon)
    log_not_p = jnp.log1p(-jnp.exp(log_p))
    return jnp.mean(-targets * log_p - (1.0 - targets) * log_not_p, axis=-1)


def keras_reported_bce(targets: jax.Array, logits: jax.Array) -> jax.Array:
    r"""What Keras 3 reports as BCE for a softmax (or sigmoid) output layer, per example.

    Keras caches the output layer's logits and its ``binary_crossentropy``
    silently uses them as *sigmoid* logits:

    .. math:: \frac1n\sum_i \max(z_i,0) - z_i y_i + \log(1+e^{-|z_i|})

    For a softmax output this does not describe the outputs the model makes.
    """
    return losses.binary_crossentropy_from_logits(targets, logits)


def _uses_logits(output_activation: str, loss: str) -> bool:
    return losses.LOGIT_ACTIVATION.get(loss) == output_activation and loss != "kl_divergence"


def output_loss(config: TrainConfig | Spec, logits: jax.Array, targets: jax.Array) -> jax.Array:
    r"""The per-example loss of the model's *outputs* ``activate(logits)`` against ``targets``.

    * sigmoid + BCE, softmax + categorical CE: the exact from-logits forms
      (what Keras 3 computes for these pairs too);
    * softmax + BCE: :func:`softmax_bce`, Keras's clipped BCE of the softmax
      probabilities, computed stably;
    * anything else: the Keras probability form (``losses.get(name)``) of the
      activated outputs, with Keras's clipping (KL divergence included, so
      it matches Keras's ``kl_divergence``).
    """
    spec = config if isinstance(config, Spec) else spec_of(config)
    if _uses_logits(spec.output_activation, spec.loss):
        return losses.get(spec.loss, from_logits=True)(targets, logits)
    if spec.output_activation == "softmax" and spec.loss == "binary_crossentropy":
        return softmax_bce(targets, logits)
    return losses.get(spec.loss)(targets, models.activate(logits, spec.output_activation))


def _keras_differs(spec: Spec) -> bool:
    """Keras 3 reports a different number only for softmax + BCE."""
    return spec.output_activation == "softmax" and spec.loss == "binary_crossentropy"


# --------------------------------------------------------------------------
# Optimizers (Keras defaults) and the jitted functions
# --------------------------------------------------------------------------


def optimizer(name: str, learning_rate) -> optax.GradientTransformation:
    """Keras-default Adam (ε 1e-7), plain SGD or Keras-default RMSprop (ρ 0.9, ε 1e-7 in the root)."""
    if name == "adam":
        return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-7)
    if name == "sgd":
        return optax.sgd(learning_rate)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=True)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")


def _batch_loss(params, xb, yb, wb, spec: Spec):
    logits = models.apply(params, xb, spec.hidden_activation)
    per_example = output_loss(spec, logits, yb)
    count = jnp.sum(wb)
    loss = jnp.sum(per_example * wb) / count
    if _keras_differs(spec):
        keras = jnp.sum(keras_reported_bce(yb, logits) * wb) / count
    else:
        keras = loss
    return loss, keras


def epoch_order(seed: int, epoch: int, n: int, padded: int) -> np.ndarray:
    """The seeded shuffle of epoch ``epoch``: a permutation of ``n`` indices, then zeros up to ``padded``.

    Drawn on the host with numpy (``default_rng((seed, epoch))``): cheap,
    the same on every device, and nothing to compile.
    """
    order = np.zeros(padded, np.int32)
    order[:n] = np.random.default_rng((seed, epoch)).permutation(n)
    return order


def slot_weights(n: int, padded: int) -> np.ndarray:
    """1 for the ``n`` real examples of an epoch, 0 for the padding after them."""
    weights = np.zeros(padded, np.float32)
    weights[:n] = 1.0
    return weights


@partial(jax.jit, static_argnames=("spec", "steps", "ragged", "unroll"))
def _train_chunk(params, opt_state, learning_rate, x, pixel_divisor, labels, order, weights, first_step,
                 valid_steps, *, spec: Spec, steps: int, ragged: bool = True, unroll: int = 1):
    """``steps`` optimizer steps from ``first_step`` of the epoch's ``order``; steps ≥ ``valid_steps`` are skipped.

    ``order``/``weights`` cover whole chunks (zero-padded past the epoch).
    ``labels`` are integer classes (one-hot encoded per batch: gathering a
    few ints is much cheaper than gathering one-hot rows), ignored for
    autoencoders.  With ``ragged=False`` every chunk is full and the skipping
    ``cond`` is left out of the compiled loop; ``unroll`` steps share one
    loop iteration, which pays off for tiny models whose steps are mostly
    loop overhead.

    Returns the new params and optimizer state, the per-step batch losses
    and the per-step Keras-reported losses (equal to the losses unless the
    config is a softmax + BCE one).
    """
    TRACE_COUNTS["train_chunk"] += 1
    opt = optimizer(spec.optimizer, learning_rate)
    batch = spec.batch_size
    grad_fn = jax.value_and_grad(_batch_loss, has_aux=True)

    # The chunk's batches as rows, sliced once: the scan hands each step its row.
    rows = (jax.lax.dynamic_slice_in_dim(order, first_step * batch, steps * batch).reshape(steps, batch),
            jax.lax.dynamic_slice_in_dim(weights, first_step * batch, steps * batch).reshape(steps, batch))

    def train_step(carry, step):
        params, opt_state = carry
        _, idx, wb = step
        # Indices come from a permutation, so the bounds checks of jnp.take's default mode are waste.
        xb = x.at[idx].get(mode="promise_in_bounds").astype(jnp.float32) / pixel_divisor
        yb = xb if spec.autoencoder else jax.nn.one_hot(
            labels.at[idx].get(mode="promise_in_bounds"), spec.num_classes)
        (loss, keras), grads = grad_fn(params, xb, yb, wb, spec)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), jnp.stack([loss, keras])

    def skip_step(carry, step):
        return carry, jnp.full((2,), jnp.nan, jnp.float32)

    def body(carry, step):
        if not ragged:
            return train_step(carry, step)
        return jax.lax.cond(step[0] < valid_steps, train_step, skip_step, carry, step)

    (params, opt_state), out = jax.lax.scan(body, (params, opt_state), (jnp.arange(steps), *rows),
                                            unroll=unroll)
    return params, opt_state, out[:, 0], out[:, 1]


def _unroll(config: TrainConfig, dataset: Dataset | None = None) -> int:
    """Four steps per loop iteration for models whose steps are mostly loop overhead."""
    return 4 if estimated_step_seconds(config, dataset) < 60e-6 else 1


@partial(jax.jit, static_argnames=("spec",))
def _evaluate(params, x, pixel_divisor, y, labels, recon_index, *, spec: Spec):
    """Mean test loss, accuracy (NaN without classes), Keras-reported loss, and reconstructions."""
    TRACE_COUNTS["evaluate"] += 1
    x = x.astype(jnp.float32) / pixel_divisor
    logits = models.apply(params, x, spec.hidden_activation)
    targets = x if spec.autoencoder else y
    loss = jnp.mean(output_loss(spec, logits, targets))
    keras = jnp.mean(keras_reported_bce(targets, logits)) if _keras_differs(spec) else loss
    if spec.classes:
        accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == labels)
    else:
        accuracy = jnp.float32(jnp.nan)
    recon = models.activate(logits[recon_index], spec.output_activation)
    return loss, accuracy, keras, recon


@partial(jax.jit, static_argnames=("hidden_activation", "output_activation"))
def _outputs(params, x, hidden_activation: str, output_activation: str):
    return models.activate(models.apply(params, x, hidden_activation), output_activation)


@partial(jax.jit, static_argnames=("hidden_activation",))
def _argmax(params, x, hidden_activation: str):
    return jnp.argmax(models.apply(params, x, hidden_activation), axis=-1)


@partial(jax.jit, static_argnames=("layer_widths", "bias_init", "optimizer_name"))
def _init_state(seed, *, layer_widths: tuple[int, ...], bias_init: float, optimizer_name: str):
    # One compiled call instead of dozens of eagerly dispatched ops: the first chunk comes sooner.
    params = models.init(jax.random.fold_in(jax.random.PRNGKey(seed), 0), layer_widths, bias_init)
    return params, optimizer(optimizer_name, 0.0).init(params)  # the state does not depend on the rate


def init_state(config: TrainConfig, dataset: Dataset | None = None):
    """Keras-default initial parameters (``models.init``) and the optimizer state for ``config.seed``."""
    return _init_state(jnp.uint32(config.seed), layer_widths=tuple(widths(config, dataset)),
                       bias_init=float(config.bias_init), optimizer_name=config.optimizer)


# --------------------------------------------------------------------------
# Chunk sizing
# --------------------------------------------------------------------------

_CPU_FLOPS = 40e9
"""Sustained FLOP/s of a small-batch training step on a 2-core CPU (measured, conservative)."""
_ACCELERATOR_FLOPS = 2e12
_STEP_OVERHEAD = {"cpu": 15e-6}
_ACCELERATOR_STEP_OVERHEAD = 60e-6


def estimated_step_seconds(config: TrainConfig, dataset: Dataset | None = None) -> float:
    """A rough time per training step on the default device, from the step's FLOPs.

    ``6 · batch · Σ fan_in · fan_out`` (forward 2, backward 4) over the
    device's sustained rate, plus a fixed per-step overhead.
    """
    w = widths(config, dataset)
    flops = 6.0 * config.batch_size * sum(a * b for a, b in zip(w[:-1], w[1:]))
    platform = jax.default_backend()
    if platform == "cpu":
        return flops / _CPU_FLOPS + _STEP_OVERHEAD["cpu"]
    return flops / _ACCELERATOR_FLOPS + _ACCELERATOR_STEP_OVERHEAD


def steps_per_epoch(config: TrainConfig, dataset: Dataset) -> int:
    return math.ceil(dataset.n_train / config.batch_size)


def chunk_length(config: TrainConfig, dataset: Dataset, chunk_steps: int | None = None,
                 target_seconds_per_chunk: float = 0.25) -> tuple[int, int]:
    """``(K, C)``: the compiled chunk length and the number of chunks per epoch.

    ``K`` aims at ``target_seconds_per_chunk`` (or is ``chunk_steps``) and is
    at most one epoch.  It becomes the largest divisor of the epoch's ``S``
    steps above ``K/2`` and up to ``K`` if there is one; otherwise it is evened
    out to ``ceil(S / C)`` so the ``C`` chunks skip fewer than ``C`` steps.
    """
    s = steps_per_epoch(config, dataset)
    if chunk_steps is None:
        chunk_steps = max(1, int(target_seconds_per_chunk / estimated_step_seconds(config, dataset)))
    k = max(1, min(int(chunk_steps), s))
    # A divisor of S above K/2 leaves no step to skip, so the compiled scan needs no cond at all.
    for divisor in range(k, k // 2, -1):
        if s % divisor == 0:
            return divisor, s // divisor
    c = math.ceil(s / k)
    return math.ceil(s / c), c


# --------------------------------------------------------------------------
# Progress and results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """What the caller learns between chunks.

    ``kind`` is ``"chunk"`` (after every chunk; ``step_losses`` holds that
    chunk's per-step batch losses) or ``"epoch"`` (after an epoch's last
    chunk; ``step_losses`` is empty, ``chunk_loss`` is the epoch's training
    loss, and the epoch metrics are set, with ``record`` a copy of the
    epoch's entry in ``RunResult.epochs``).  ``samples_per_second`` counts
    from the end of the first chunk (which includes compiling) once there
    is one; ``eta_seconds`` is the remaining samples at that rate.
    ``epoch`` is fractional: 2.5 means halfway through the third epoch.
    """

    kind: str
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

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0


@dataclass
class RunResult:
    """A finished, stopped or diverged run with everything recorded so far.

    ``epochs`` holds one dict per completed epoch: ``epoch`` (1-based),
    ``loss`` (training loss, batch-size-weighted mean of the epoch's batch
    losses), ``test_loss``, ``test_accuracy`` (classifiers and blobs),
    ``keras_reported_loss`` and ``keras_reported_test_loss`` (softmax + BCE
    only), ``seconds`` and ``samples_per_second``.  ``steps`` and
    ``step_losses`` are every trained step (1-based) and its batch loss.
    """

    status: str
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


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


@dataclass
class _Pending:
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

    def event(self, kind: str, now: float, chunk_losses: np.ndarray, **epoch_metrics) -> Progress:
        sps = self.rate(now)
        remaining = self.samples_of(self.total_steps) - self.samples_of(self.steps_done)
        return Progress(
            kind=kind, step=self.steps_done, total_steps=self.total_steps,
            epoch=self.steps_done / self.steps_per_epoch, samples_done=self.samples_of(self.steps_done),
            chunk_loss=float(np.mean(chunk_losses)) if chunk_losses.size else float("nan"),
            step_losses=chunk_losses if kind == "chunk" else np.empty(0, np.float32),
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
        target_seconds_per_chunk: float = 0.25) -> RunResult:
    """Train ``config`` on ``dataset`` in jitted chunks, reporting progress between them.

    ``should_stop()`` is asked after each chunk; when it returns true the run
    ends with status ``"stopped"`` and keeps its history.  A non-finite batch
    loss ends it with ``"diverged"``: the history up to the last finite step
    is kept and ``params`` are those before the chunk that diverged.

    The next chunk is dispatched before the previous chunk's losses are read
    back, so the host's work (callbacks, redraws) overlaps the device's.
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
    padded = c * k * config.batch_size  # whole chunks: the last one may run past the epoch's end
    weights = jnp.asarray(slot_weights(dataset.n_train, padded))
    learning_rate = jnp.float32(config.learning_rate)
    x, x_test, y_test = dataset.x_train, dataset.x_test, dataset.y_test
    divisor = jnp.float32(dataset.pixel_divisor)
    labels = jnp.asarray(dataset.labels_train if dataset.labels_train is not None
                         else np.zeros(dataset.n_train, np.int64), jnp.int32)
    unroll = _unroll(config, dataset)
    labels_test = jnp.asarray(dataset.labels_test if dataset.labels_test is not None
                              else np.zeros(dataset.n_test, np.int64), jnp.int32)
    recon_index = jnp.asarray(dataset.reconstruction_index if dataset.reconstruction_index is not None
                              else np.arange(min(8, dataset.n_test)), jnp.int32)
    rec = _Recorder(config=config, dataset=dataset, total_steps=s * config.epochs, steps_per_epoch=s,
                    on_progress=on_progress, started=started, epoch_started=started)
    status, message = "finished", ""
    last_good_params = params

    def process(p: _Pending) -> str | None:
        """Read one chunk back, record it and report; returns a status that ends the run, if any."""
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
            return "diverged:" + _divergence_message(rec.steps_done + 1, s, float(chunk_losses[keep]))
        rec.step_losses.append(chunk_losses)
        rec.keras_losses.append(chunk_keras)
        rec.steps_done += p.valid_steps
        last_good_params = p.params_after
        now = time.perf_counter()
        event = rec.event("chunk", now, chunk_losses)
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
        if _keras_differs(spec):
            entry["keras_reported_loss"] = float(np.dot(epoch_keras, batch_sizes) / dataset.n_train)
            entry["keras_reported_test_loss"] = _finite_or_none(test_keras)
        entry["seconds"] = seconds
        entry["samples_per_second"] = dataset.n_train / seconds if seconds > 0 else float("inf")
        rec.epochs.append(entry)
        rec.reconstructions = recon if spec.autoencoder else None
        if on_progress is not None:
            on_progress(rec.event(
                "epoch", now, np.asarray([train_loss]), train_loss=train_loss,
                test_loss=entry["test_loss"], test_accuracy=entry.get("test_accuracy"),
                keras_reported_loss=entry.get("keras_reported_loss"),
                reconstructions=rec.reconstructions, record=dict(entry)))
        if not math.isfinite(test_loss):
            return ("diverged:" + f"The test loss became non-finite after epoch {p.epoch + 1}: "
                    "the run diverged; history up to then is kept.")
        return None

    pending: _Pending | None = None
    ended: str | None = None
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
                ended = process(pending)
                stop_requested = ended is None and should_stop is not None and bool(should_stop())
            pending = item
            if ended is not None or stop_requested:
                break
        if ended is not None or stop_requested:
            break
    if ended is None and pending is not None:
        ended = process(pending)
        if ended is None and should_stop is not None and rec.steps_done < rec.total_steps:
            stop_requested = stop_requested or bool(should_stop())
    if ended is not None:
        status, message = "diverged", ended.split(":", 1)[1]
    elif rec.steps_done < rec.total_steps:
        status = "stopped"
        message = (f"Stopped at step {rec.steps_done} of {rec.total_steps} "
                   f"(epoch {rec.steps_done / s:.2f} of {config.epochs}); history so far is kept.")
    else:
        message = f"Finished {config.epochs} epoch{'s' * (config.epochs != 1)} ({rec.total_steps} steps)."
    all_losses = np.concatenate(rec.step_losses) if rec.step_losses else np.empty(0, np.float32)
    return RunResult(
        status=status, message=message, config=config, epochs=rec.epochs,
        steps=np.arange(1, all_losses.size + 1), step_losses=all_losses, params=last_good_params,
        seconds=time.perf_counter() - started, first_progress_seconds=rec.first_progress,
        chunk_steps=k, reconstructions=rec.reconstructions,
    )


def compile_seconds(config: TrainConfig, dataset: Dataset, chunk_steps: int | None = None,
                    target_seconds_per_chunk: float = 0.25) -> dict[str, float]:
    """Seconds to trace and compile a run's functions: ``{"init", "chunk", "evaluate"}``.

    ``init`` and ``chunk`` are needed before the first step; ``evaluate``
    only at the end of the first epoch.  Ahead-of-time
    (``jit(...).lower(...).compile()``) with the run's exact argument
    shapes; call ``jax.clear_caches()`` first to time a cold start.
    """
    spec = spec_of(config)
    s = steps_per_epoch(config, dataset)
    k, c = chunk_length(config, dataset, chunk_steps, target_seconds_per_chunk)
    params, opt_state = init_state(config, dataset)
    padded = c * k * config.batch_size
    order = jax.ShapeDtypeStruct((padded,), jnp.int32)
    weights = jax.ShapeDtypeStruct((padded,), jnp.float32)
    labels = jax.ShapeDtypeStruct((dataset.n_test,), jnp.int32)
    recon = jax.ShapeDtypeStruct((8 if dataset.reconstruction_index is None
                                  else len(dataset.reconstruction_index),), jnp.int32)
    started = time.perf_counter()
    _init_state.lower(jnp.uint32(config.seed), layer_widths=tuple(widths(config, dataset)),
                      bias_init=float(config.bias_init), optimizer_name=config.optimizer).compile()
    after_init = time.perf_counter()
    train_labels = jax.ShapeDtypeStruct((dataset.n_train,), jnp.int32)
    divisor = jnp.float32(dataset.pixel_divisor)
    _train_chunk.lower(params, opt_state, jnp.float32(config.learning_rate), dataset.x_train, divisor,
                       train_labels, order, weights, 0, k, spec=spec, steps=k,
                       ragged=k * c != s, unroll=_unroll(config, dataset)).compile()
    after_chunk = time.perf_counter()
    _evaluate.lower(params, dataset.x_test, divisor, dataset.y_test, labels, recon, spec=spec).compile()
    return {"init": after_init - started, "chunk": after_chunk - after_init,
            "evaluate": time.perf_counter() - after_chunk}


# --------------------------------------------------------------------------
# Helpers for the pages
# --------------------------------------------------------------------------


def predict(config: TrainConfig, params, x) -> np.ndarray:
    """The model's outputs ``activate(apply(params, x))`` as numpy."""
    return np.asarray(_outputs(params, jnp.asarray(x, jnp.float32), config.hidden_activation,
                               config.output_activation))


def predicted_classes(config: TrainConfig, params, x) -> np.ndarray:
    """``argmax`` of the logits (the same as of the outputs for monotone activations)."""
    return np.asarray(_argmax(params, jnp.asarray(x, jnp.float32), config.hidden_activation))


def confusion_matrix(config: TrainConfig, params, dataset: Dataset) -> np.ndarray:
    """Test-set counts ``M[true, predicted]`` for classifiers and blobs."""
    if dataset.labels_test is None or config.task == "autoencoder":
        raise ValueError("a confusion matrix needs a classifier")
    classes = dataset.output_width
    predicted = predicted_classes(config, params, dataset.test_inputs())
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (dataset.labels_test, predicted), 1)
    return matrix


def misclassified(config: TrainConfig, params, dataset: Dataset, n: int = 8):
    """The first ``n`` misclassified test examples: ``(indices, true labels, predicted labels)``."""
    if dataset.labels_test is None or config.task == "autoencoder":
        raise ValueError("misclassified examples need a classifier")
    predicted = predicted_classes(config, params, dataset.test_inputs())
    wrong = np.flatnonzero(predicted != dataset.labels_test)[:n]
    return wrong, dataset.labels_test[wrong], predicted[wrong]


@partial(jax.jit, static_argnames=("spec",))
def _bce_pair(params, x, y, *, spec: Spec):
    logits = models.apply(params, x, spec.hidden_activation)
    return jnp.mean(output_loss(spec, logits, y)), jnp.mean(keras_reported_bce(y, logits))


def honest_and_keras_bce(params, x, config: TrainConfig, y=None) -> tuple[float, float]:
    """``(honest, keras)``: the mean BCE of the model's actual outputs, and Keras 3's number.

    ``y`` defaults to ``x`` (an autoencoder).  The config's loss is replaced
    by BCE; for a sigmoid output the two agree, for softmax they do not.
    """
    x = jnp.asarray(x, jnp.float32)
    y = x if y is None else jnp.asarray(y, jnp.float32)
    spec = spec_of(config.replace(loss="binary_crossentropy"))
    honest, keras = _bce_pair(params, x, y, spec=spec)
    return float(honest), float(keras)
