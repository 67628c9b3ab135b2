"""The compiled pieces of a run: initial state, a chunk of optimizer steps, the end-of-epoch evaluation.

Compilation.  Each function is jitted at module level with the model
structure, loss, optimizer name, batch size and chunk length as static
arguments; the learning rate, seed and data are traced, so runs that differ
only in those reuse the compiled code (``TRACE_COUNTS`` counts traces).  An
epoch of ``S`` steps is cut into chunks of equal length ``K``, a divisor of
``S`` where one is near the wanted length; otherwise steps past the epoch's
end in the last chunk are skipped with ``lax.cond``, so one compiled length
serves every chunk (:func:`chunk_length`).

Order.  Epoch ``e`` is shuffled by ``numpy.random.default_rng((seed, e))`` on
the host (:func:`epoch_order`); initial parameters are ``models.init`` with
``fold_in(PRNGKey(seed), 0)``.  The last, partial batch is trained as its own
smaller batch (its loss is the mean over the examples it has), as Keras's
``model.fit`` does.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import losses
from lossviz.config import TrainConfig
from lossviz.engine import models
from lossviz.engine.dataset import Dataset, widths
from lossviz.engine.objectives import Spec, batch_loss, keras_differs, optimizer, output_loss, spec_of

TRACE_COUNTS: Counter = Counter()
"""How many times each jitted function has been traced (tests read it; the landscape adds its own)."""


def epoch_order(seed: int, epoch: int, n: int, padded: int) -> np.ndarray:
    """The seeded shuffle of epoch ``epoch``: a permutation of ``n`` indices, then zeros up to ``padded``.

    Drawn on the host with numpy (``default_rng((seed, epoch))``): cheap,
    the same on every device, and nothing to compile.

    Returns:
      int32 indices, shape ``(padded,)``.

    >>> epoch_order(0, 0, 3, 5)[3:]
    array([0, 0], dtype=int32)
    """
    order = np.zeros(padded, np.int32)
    order[:n] = np.random.default_rng((seed, epoch)).permutation(n)
    return order


def slot_weights(n: int, padded: int) -> np.ndarray:
    """1 for the ``n`` real examples of an epoch, 0 for the padding after them: float32 ``(padded,)``.

    >>> slot_weights(2, 3)
    array([1., 1., 0.], dtype=float32)
    """
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
    ``(steps,)`` and the per-step Keras-reported losses ``(steps,)`` (equal
    to the losses unless the config is a softmax + BCE one; NaN for skipped steps).
    """
    TRACE_COUNTS["train_chunk"] += 1
    opt = optimizer(spec.optimizer, learning_rate)
    batch = spec.batch_size
    grad_fn = jax.value_and_grad(batch_loss, has_aux=True)

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


@partial(jax.jit, static_argnames=("spec",))
def _evaluate(params, x, pixel_divisor, y, labels, recon_index, *, spec: Spec):
    """Mean test loss, accuracy (NaN without classes), Keras-reported loss, and reconstructions."""
    TRACE_COUNTS["evaluate"] += 1
    x = x.astype(jnp.float32) / pixel_divisor
    logits = models.apply(params, x, spec.hidden_activation)
    targets = x if spec.autoencoder else y
    loss = jnp.mean(output_loss(spec, logits, targets))
    keras = jnp.mean(losses.keras_reported_bce(targets, logits)) if keras_differs(spec) else loss
    if spec.classes:
        accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == labels)
    else:
        accuracy = jnp.float32(jnp.nan)
    recon = models.activate(logits[recon_index], spec.output_activation)
    return loss, accuracy, keras, recon


@partial(jax.jit, static_argnames=("layer_widths", "bias_init", "optimizer_name"))
def _init_state(seed, *, layer_widths: tuple[int, ...], bias_init: float, optimizer_name: str):
    # One compiled call instead of dozens of eagerly dispatched ops: the first chunk comes sooner.
    params = models.init(jax.random.fold_in(jax.random.PRNGKey(seed), 0), layer_widths, bias_init)
    return params, optimizer(optimizer_name, 0.0).init(params)  # the state does not depend on the rate


def init_state(config: TrainConfig, dataset: Dataset | None = None):
    """Keras-default initial parameters and the optimizer state for ``config.seed``.

    Returns:
      ``(params, opt_state)``: ``params`` in ``models``' layout ``[(kernel (in, out), bias (out,)), …]``,
      ``models.init(fold_in(PRNGKey(seed), 0), widths, bias_init)``.

    >>> from lossviz.config import PRESETS
    >>> [(k.shape, b.shape) for k, b in init_state(PRESETS["blobs-cce"])[0]]
    [((2, 50), (50,)), ((50, 3), (3,))]
    """
    return _init_state(jnp.uint32(config.seed), layer_widths=tuple(widths(config, dataset)),
                       bias_init=float(config.bias_init), optimizer_name=config.optimizer)


# --------------------------------------------------------------------------
# Chunk sizing
# --------------------------------------------------------------------------

_CPU_FLOPS = 40e9
"""Sustained FLOP/s of a small-batch training step on a 2-core CPU (measured, conservative)."""
_ACCELERATOR_FLOPS = 2e12
_CPU_STEP_OVERHEAD = 15e-6
_ACCELERATOR_STEP_OVERHEAD = 60e-6


def estimated_step_seconds(config: TrainConfig, dataset: Dataset | None = None) -> float:
    """A rough time per training step on the default device, from the step's FLOPs.

    ``6 · batch · Σ fan_in · fan_out`` (forward 2, backward 4) over the
    device's sustained rate, plus a fixed per-step overhead.
    """
    w = widths(config, dataset)
    flops = 6.0 * config.batch_size * sum(a * b for a, b in zip(w[:-1], w[1:]))
    if jax.default_backend() == "cpu":
        return flops / _CPU_FLOPS + _CPU_STEP_OVERHEAD
    return flops / _ACCELERATOR_FLOPS + _ACCELERATOR_STEP_OVERHEAD


def unroll_of(config: TrainConfig, dataset: Dataset | None = None) -> int:
    """Four steps per loop iteration for models whose steps are mostly loop overhead."""
    return 4 if estimated_step_seconds(config, dataset) < 60e-6 else 1


def steps_per_epoch(config: TrainConfig, dataset: Dataset) -> int:
    """``ceil(n_train / batch_size)``: the last, partial batch is a step of its own."""
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
                       ragged=k * c != s, unroll=unroll_of(config, dataset)).compile()
    after_chunk = time.perf_counter()
    _evaluate.lower(params, dataset.x_test, divisor, dataset.y_test, labels, recon, spec=spec).compile()
    return {"init": after_init - started, "chunk": after_chunk - after_init,
            "evaluate": time.perf_counter() - after_chunk}
