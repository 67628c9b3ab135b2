r"""The BCE floor of real MNIST, and the best a softmax output can do for one digit.

The floor: no model's mean BCE on MNIST pixels scaled to [0, 1] can go below
the mean binary entropy of the pixels, :math:`\frac{1}{N\cdot 784}\sum H(x)`.
The softmax: its 784 outputs must sum to 1 while a digit's pixels sum to
about 100, so its best BCE (an optax fit, checked against an independent
convex solver) stays far above that floor.  Raw 0–255 targets have no
minimum at all; :func:`raw_digit_infimum` is where Keras's clipping stops them.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import losses
from lossviz.lessons import fit
from lossviz.lessons.bce import CLIP_TOP, EPSILON, read_only

# --------------------------------------------------------------------------
# The floor of real MNIST
# --------------------------------------------------------------------------


class FloorStats(NamedTuple):
    images: int
    fraction_soft: float
    """Fraction of pixels strictly between 0 and 1."""
    mean_floor: float
    """Mean binary entropy per pixel, nats: no model's mean BCE can go below it."""
    per_image: np.ndarray
    """Each image's floor: the mean of ``H(x)`` over its 784 pixels."""
    pixel_sum: float
    """Mean over images of the sum of an image's pixels in [0, 1]."""
    hist_counts: np.ndarray
    hist_edges: np.ndarray


FLOOR_CHUNK = 4096


@jax.jit
def _floor_chunk(pixels_uint8: jax.Array):
    # Under jit XLA turns /255 into *(1/255), and 255 * (1/255) can land a hair
    # above 1, where log(1 − x) is NaN: clip back into [0, 1].
    x = jnp.clip(pixels_uint8.astype(jnp.float32) / 255.0, 0.0, 1.0)
    per_image = jnp.mean(losses.binary_entropy(x), axis=-1)
    soft = jnp.sum((x > 0.0) & (x < 1.0), axis=-1)
    return per_image, soft, jnp.sum(x, axis=-1)


def mnist_floor(images_uint8: np.ndarray, bins: int = 60) -> FloorStats:
    r"""The BCE floor of MNIST images scaled to [0, 1], from the data itself.

    .. math:: \text{floor} = \frac{1}{N \cdot 784} \sum_{n, i} H(x_{n i}),
              \quad H(x) = -x \log x - (1 - x) \log (1 - x)

    Computed in fixed-size jitted chunks (one compile, bounded memory).

    Args:
      images_uint8: images, shape ``(N, 28, 28)`` or ``(N, 784)``, dtype uint8.
      bins: bins of the per-image histogram.

    Returns:
      :class:`FloorStats` (``per_image`` of shape ``(N,)``; arrays read-only).
    """
    flat = np.asarray(images_uint8).reshape(len(images_uint8), -1)
    if flat.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {flat.dtype}")
    n, pixels = flat.shape
    per_image, soft, sums = [], 0, []
    for start in range(0, n, FLOOR_CHUNK):
        chunk = flat[start:start + FLOOR_CHUNK]
        rows = len(chunk)
        if rows < FLOOR_CHUNK:
            chunk = np.pad(chunk, ((0, FLOOR_CHUNK - rows), (0, 0)))
        floors, soft_counts, pixel_sums = _floor_chunk(chunk)
        per_image.append(np.asarray(floors[:rows], dtype=np.float64))
        soft += int(np.asarray(soft_counts[:rows]).sum())
        sums.append(np.asarray(pixel_sums[:rows], dtype=np.float64))
    per_image_all = np.concatenate(per_image)
    counts, edges = np.histogram(per_image_all, bins=bins)
    read_only(per_image_all, counts, edges)
    return FloorStats(images=n, fraction_soft=soft / (n * pixels), mean_floor=float(per_image_all.mean()),
                      per_image=per_image_all, pixel_sum=float(np.concatenate(sums).mean()),
                      hist_counts=counts, hist_edges=edges)


def unit_pixels(image_uint8: np.ndarray) -> np.ndarray:
    """An image's pixels as targets in [0, 1]: :math:`x / 255`, flattened, float64.

    Args:
      image_uint8: one image, any shape, values 0–255.

    Returns:
      float64 array, shape ``(pixels,)``.

    >>> unit_pixels(np.array([[0, 51], [255, 102]], np.uint8))
    array([0. , 0.2, 1. , 0.4])
    """
    return np.asarray(image_uint8, np.float64).reshape(-1) / 255.0


def pixel_total(image_uint8: np.ndarray) -> float:
    """The sum of an image's pixels in [0, 1], :math:`\\sum_i x_i / 255`: about 100 for a digit.

    Args:
      image_uint8: one image, values 0–255.

    Returns:
      The sum, a float.
    """
    return float(unit_pixels(image_uint8).sum())


def image_floor(image_uint8: np.ndarray) -> float:
    """One image's floor, :math:`\\frac{1}{784}\\sum_i H(x_i)`: the BCE of the sigmoid's best, ``p = x``.

    Args:
      image_uint8: one image, values 0–255.

    Returns:
      Mean binary entropy of its pixels in nats, a float.
    """
    x = jnp.clip(jnp.asarray(np.asarray(image_uint8).reshape(-1), jnp.float32) / 255.0, 0.0, 1.0)
    return float(jnp.mean(losses.binary_entropy(x)))


# --------------------------------------------------------------------------
# The best softmax output for one digit
# --------------------------------------------------------------------------


def softmax_bce(logits: jax.Array, target: jax.Array) -> jax.Array:
    r"""Mean BCE of ``softmax(z)`` against pixel targets in [0, 1], unclipped and stable.

    .. math:: \frac1n \sum_i -y_i \log q_i - (1 - y_i) \log(1 - q_i),
              \quad \log q = \mathrm{log\_softmax}(z)

    Args:
      logits: ``z``, shape ``(n,)``: one logit per pixel.
      target: ``y``, shape ``(n,)``, in [0, 1].

    Returns:
      The mean over the ``n`` pixels, a scalar.
    """
    return losses.softmax_bce(target, logits, epsilon=None)


ADAM = optax.scale_by_adam()
"""The fit's direction; the learning rate is a traced argument (see :mod:`lossviz.lessons.fit`)."""


class FitProgress(NamedTuple):
    step: int
    losses: np.ndarray
    """Mean BCE before each step so far."""
    output: np.ndarray
    """``softmax(z)`` now, shape (784,)."""
    loss: float
    """Mean BCE of ``output`` now."""
    done: bool


def fit_softmax(target: np.ndarray, steps: int = 2000, learning_rate: float = 0.1,
                chunk: int = 100) -> Iterator[FitProgress]:
    r"""Fit 784 logits so ``softmax(z)`` is the best BCE reconstruction of ``target``.

    .. math:: \min_z \frac1n \sum_i \mathrm{BCE}(y_i, \mathrm{softmax}(z)_i)

    Yields after each jitted chunk of ``chunk`` Adam steps so a page can redraw.
    Every chunk has the same length (the last is not shortened) so nothing recompiles.

    Args:
      target: pixel targets in [0, 1], any shape (flattened to ``(n,)``).
      steps: Adam steps in all, rounded up to whole chunks.
      learning_rate: Adam's η (a traced argument: a new one does not recompile).
      chunk: steps per jitted chunk, i.e. per yield.

    Yields:
      :class:`FitProgress` after each chunk.

    Raises:
      FloatingPointError: if a loss becomes NaN or infinite.
    """
    if steps < 1 or chunk < 1:
        raise ValueError("steps and chunk must be positive")
    y = jnp.asarray(np.asarray(target, np.float32).reshape(-1))
    logits = jnp.zeros(y.shape, jnp.float32)  # the uniform softmax
    state, rate = ADAM.init(logits), jnp.float32(learning_rate)
    history: list[np.ndarray] = []
    done_steps = 0
    while done_steps < steps:
        logits, state, chunk_losses = fit.fit_chunk(logits, state, rate, (y,), objective=softmax_bce,
                                                    direction=ADAM, steps=chunk)
        done_steps += chunk
        history.append(np.asarray(chunk_losses, np.float64))
        losses_so_far = np.concatenate(history)
        if not np.all(np.isfinite(losses_so_far)):
            raise FloatingPointError("the softmax fit diverged; try a smaller learning rate")
        yield FitProgress(step=done_steps, losses=losses_so_far,
                          output=np.asarray(jax.nn.softmax(logits), np.float64),
                          loss=float(softmax_bce(logits, y)), done=done_steps >= steps)


def simplex_optimum(target: np.ndarray, tol: float = 1e-13) -> tuple[float, np.ndarray]:
    r"""The least mean BCE any ``q`` on the probability simplex can reach, solved independently.

    Minimise :math:`f(q) = \frac1n\sum_i \mathrm{BCE}(y_i, q_i)` subject to
    :math:`\sum_i q_i = 1,\ q \ge 0`.  ``f`` is convex, so the KKT conditions
    are sufficient: with a multiplier ``c < 0``, each pixel satisfies

    .. math:: -\frac{y_i}{q_i} + \frac{1 - y_i}{1 - q_i} = c
              \iff c q_i^2 + (1 - c) q_i - y_i = 0
              \iff q_i(c) = \frac{2 y_i}{(1 - c) + \sqrt{(1 - c)^2 + 4 c y_i}}

    (``q_i = 0`` where ``y_i = 0``, since the slope there is 1 > c).  Each
    ``q_i(c)`` grows with ``c``, so bisection on ``c`` finds ``Σ q_i = 1``.
    This is numpy in float64, sharing nothing with the optax fit it checks.
    Needs ``Σ y_i > 1`` (a digit sums to about 100).
    Returns the optimal value and ``q``.

    Args:
      target: pixel targets ``y`` in [0, 1], any shape (flattened to ``(n,)``), summing to more than 1.
      tol: relative width of the bracket on ``c`` at which bisection stops.

    Returns:
      ``(value, q)``: the least mean BCE, a float, and the optimal ``q``, float64 ``(n,)``.
    """
    y = np.asarray(target, np.float64).reshape(-1)
    if y.min() < 0 or y.max() > 1:
        raise ValueError("targets must lie in [0, 1]")
    if y.sum() <= 1.0:
        raise ValueError("the bisection assumes the targets sum to more than 1")

    def q_of(c: float) -> np.ndarray:
        return 2.0 * y / ((1.0 - c) + np.sqrt((1.0 - c) ** 2 + 4.0 * c * y))

    low, high = -1.0, 0.0  # sum q(0) = sum y > 1; widen low until sum q(low) < 1
    while q_of(low).sum() >= 1.0:
        low *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if q_of(mid).sum() > 1.0:
            high = mid
        else:
            low = mid
        if high - low < tol * max(1.0, abs(low)):
            break
    q = q_of(0.5 * (low + high))
    q /= q.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -np.where(y > 0, y * np.log(q), 0.0) - np.where(y < 1, (1 - y) * np.log1p(-q), 0.0)
    return float(terms.mean()), q


def mean_bce(target: np.ndarray, output: np.ndarray) -> float:
    """Keras's ``binary_crossentropy`` (ε-clipped) of one image, mean over its pixels.

    Args:
      target: pixel targets, shape ``(n,)`` (or any shape, flattened).
      output: predictions in [0, 1], as many as ``target``.

    Returns:
      The mean clipped BCE, a float.
    """
    y = jnp.asarray(np.asarray(target, np.float32).reshape(1, -1))
    q = jnp.asarray(np.asarray(output, np.float32).reshape(1, -1))
    return float(losses.binary_crossentropy(y, q)[0])


# --------------------------------------------------------------------------
# Raw 0–255 targets: where Keras's clip stops the fall
# --------------------------------------------------------------------------


def raw_digit_infimum(image_uint8: np.ndarray) -> float:
    r"""The lowest mean BCE Keras's clipping allows with raw 0–255 targets.

    Each pixel's BCE is monotone for ``y = 0`` (best ``p = ε``) and for ``y ≥ 1``
    (best ``p = t``, the top of the clip), so the infimum under clipping is

    .. math:: \frac1n\Big[\sum_{y_i=0} -\log(1-\epsilon) + \sum_{y_i \ge 1} -y_i\log t + (y_i - 1)\log(1 - t)\Big]

    with ``t = CLIP_TOP``, the float32 value of ``1 − ε`` Keras actually uses.

    Args:
      image_uint8: one image, values 0–255, used as raw targets.

    Returns:
      The infimum of the mean clipped BCE, a float (negative for a digit).
    """
    y = np.asarray(image_uint8, np.float64).reshape(-1)
    per_pixel = np.where(
        y == 0, -np.log1p(-EPSILON), -y * np.log(CLIP_TOP) + (y - 1.0) * np.log1p(-CLIP_TOP))
    return float(per_pixel.mean())

