r"""The math behind the "BCE landscape" page.

Binary cross-entropy of a target ``y`` against a prediction ``p``,

.. math:: \mathrm{BCE}(y, p) = -y \log p - (1 - y) \log(1 - p),

is minimised at ``p = y`` and its minimum is the binary entropy ``H(y)``,
zero only for ``y`` in {0, 1}.  This module computes what the page shows:
the surface over [0, 1]², slices at one ``y``, the floor of real MNIST, the
best a softmax output over 784 pixels can do (an optax fit, checked against
an independent convex solver), raw 0–255 targets, and the logit view.

Every jitted function lives at module level so a page rerun never
recompiles; grid shapes are padded to buckets for the same reason.
"""

from __future__ import annotations

import functools
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import losses

EPSILON = losses.EPSILON
CLIP_TOP = float(np.float32(1.0 - EPSILON))
"""The top of Keras's clip as float32 really stores it: 1 − 1.19e-7, not 1 − 1e-7."""
GRID_BUCKET = 64
"""Grids are padded to a multiple of this, so a new resolution rarely recompiles."""
SLICE_POINTS = 401
"""Points of a slice over p in [0, 1]: a step of 1/400 puts every y of step 0.01 on the grid."""


def _read_only(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.flags.writeable = False


# --------------------------------------------------------------------------
# The surface BCE(y, p) over [0, 1]²
# --------------------------------------------------------------------------


class Surface(NamedTuple):
    y: np.ndarray
    """Targets, one per row of ``bce``."""
    p: np.ndarray
    """Predictions, one per column of ``bce``."""
    bce: np.ndarray
    """``bce[i, j] = BCE(y[i], p[j])``; ``inf`` where unclipped and the target disagrees."""
    clipped: bool


def unit_grid(points: int) -> np.ndarray:
    """``points`` evenly spaced values from 0 to 1 inclusive: :math:`k / (n - 1)`."""
    if points < 2:
        raise ValueError(f"a grid needs at least 2 points, not {points}")
    return np.linspace(0.0, 1.0, points)


@jax.jit
def _surface_kernel(y: jax.Array, p: jax.Array, clip: jax.Array) -> jax.Array:
    p = jnp.where(clip, jnp.clip(p, EPSILON, 1.0 - EPSILON), p)
    return losses.binary_crossentropy_elementwise(y[:, None], p[None, :], epsilon=None)


def _padded(values: np.ndarray) -> np.ndarray:
    size = -(-len(values) // GRID_BUCKET) * GRID_BUCKET
    return np.pad(values, (0, size - len(values)), constant_values=0.5).astype(np.float32)


@functools.lru_cache(maxsize=32)
def bce_surface(points: int, clip: bool = True) -> Surface:
    r"""BCE(y, p) on a ``points`` × ``points`` grid over [0, 1]².

    .. math:: S_{ij} = -y_i \log \hat p_j - (1 - y_i) \log(1 - \hat p_j),
              \quad \hat p = \mathrm{clip}(p, \epsilon, 1 - \epsilon) \text{ if clipping}

    Without clipping the edges ``p = 0`` and ``p = 1`` are ``inf`` wherever the
    target disagrees; with Keras's clipping they are capped at ``-log ε ≈ 16.1``.
    Memoised: the arrays are shared and read-only.
    """
    grid = unit_grid(points)
    padded = _padded(grid)
    bce = np.asarray(_surface_kernel(padded, padded, jnp.asarray(bool(clip))))[:points, :points]
    bce = bce.astype(np.float64)
    y, p = grid.copy(), grid.copy()
    _read_only(y, p, bce)
    return Surface(y=y, p=p, bce=bce, clipped=bool(clip))


VALLEY_POINTS = 101
"""Points along the drawn valley line, whatever the grid: it is a curve, not a grid."""


def largest_odd_grid(limit: int) -> int:
    """The largest odd resolution within ``limit``: odd grids keep y = p = 1/2 on the grid."""
    return limit if limit % 2 else limit - 1


def valley(points: int) -> tuple[np.ndarray, np.ndarray]:
    """The valley floor: the line ``p = y`` and its height ``H(y)``."""
    y = unit_grid(points)
    return y, np.asarray(losses.binary_entropy(jnp.asarray(y, jnp.float32)), dtype=np.float64)


# --------------------------------------------------------------------------
# A slice at one target y
# --------------------------------------------------------------------------


class Slice(NamedTuple):
    y: float
    p: np.ndarray
    bce: np.ndarray
    mse: np.ndarray
    excess: np.ndarray
    """``BCE − H(y) = KL(Bernoulli(y) ‖ Bernoulli(p))``."""
    dbce: np.ndarray
    """``dBCE/dp = (p − y) / (p (1 − p))``; non-finite at an edge the target disagrees with."""
    dmse: np.ndarray
    floor: float
    """``H(y)``, the height of the minimum."""
    argmin: float
    """The grid point where the computed ``bce`` is smallest."""


@jax.jit
def _slice_kernel(y: jax.Array, p: jax.Array, clip: jax.Array):
    p_used = jnp.where(clip, jnp.clip(p, EPSILON, 1.0 - EPSILON), p)
    bce = losses.binary_crossentropy_elementwise(y, p_used, epsilon=None)
    mse = jnp.square(p - y)
    excess = losses.bernoulli_kl(y, p_used)
    # The closed form, not jax.grad: at an edge it must say ±inf, and the tests
    # check it against jax.grad in the interior.
    dbce = (p - y) / (p * (1.0 - p))
    dmse = 2.0 * (p - y)
    return bce, mse, excess, dbce, dmse, losses.binary_entropy(y)


def bce_slice(y: float, clip: bool = True, points: int = SLICE_POINTS) -> Slice:
    r"""BCE(y, ·), MSE, the excess KL and both derivatives along p ∈ [0, 1].

    .. math:: \frac{\partial\,\mathrm{BCE}}{\partial p} = -\frac{y}{p} + \frac{1 - y}{1 - p}
              = \frac{p - y}{p(1 - p)}, \qquad \frac{\partial (p-y)^2}{\partial p} = 2(p - y)
    """
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"a probability target must lie in [0, 1], not {y}")
    p = unit_grid(points)
    with np.errstate(all="ignore"):
        out = _slice_kernel(jnp.float32(y), jnp.asarray(p, jnp.float32), jnp.asarray(bool(clip)))
    bce, mse, excess, dbce, dmse = (np.asarray(a, dtype=np.float64) for a in out[:5])
    return Slice(y=float(y), p=p, bce=bce, mse=mse, excess=excess, dbce=dbce, dmse=dmse,
                 floor=float(out[5]), argmin=float(p[int(np.argmin(bce))]))


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
    _read_only(per_image_all, counts, edges)
    return FloorStats(images=n, fraction_soft=soft / (n * pixels), mean_floor=float(per_image_all.mean()),
                      per_image=per_image_all, pixel_sum=float(np.concatenate(sums).mean()),
                      hist_counts=counts, hist_edges=edges)


def unit_pixels(image_uint8: np.ndarray) -> np.ndarray:
    """An image's pixels as targets in [0, 1]: :math:`x / 255`, flattened, float64."""
    return np.asarray(image_uint8, np.float64).reshape(-1) / 255.0


def pixel_total(image_uint8: np.ndarray) -> float:
    """The sum of an image's pixels in [0, 1], :math:`\\sum_i x_i / 255`: about 100 for a digit."""
    return float(unit_pixels(image_uint8).sum())


def image_floor(image_uint8: np.ndarray) -> float:
    """One image's floor, :math:`\\frac{1}{784}\\sum_i H(x_i)`: the BCE of the sigmoid's best, ``p = x``."""
    x = jnp.clip(jnp.asarray(np.asarray(image_uint8).reshape(-1), jnp.float32) / 255.0, 0.0, 1.0)
    return float(jnp.mean(losses.binary_entropy(x)))


# --------------------------------------------------------------------------
# The best softmax output for one digit
# --------------------------------------------------------------------------


def softmax_bce(logits: jax.Array, target: jax.Array) -> jax.Array:
    r"""Mean BCE of ``softmax(z)`` against pixel targets in [0, 1], unclipped and stable.

    .. math:: \frac1n \sum_i -y_i \log q_i - (1 - y_i) \log(1 - q_i),
              \quad \log q = \mathrm{log\_softmax}(z)
    """
    log_q = jax.nn.log_softmax(logits)
    log_not_q = jnp.log1p(-jnp.exp(log_q))
    return jnp.mean(-target * log_q - (1.0 - target) * log_not_q)


_OPTIMIZER = optax.inject_hyperparams(optax.adam)(learning_rate=0.1)
"""Adam with its learning rate in the state, so changing it does not recompile."""


def init_fit(pixels: int, learning_rate: float):
    """Uniform softmax (all logits 0) and a fresh Adam state at ``learning_rate``."""
    logits = jnp.zeros((pixels,), jnp.float32)
    state = _OPTIMIZER.init(logits)
    state.hyperparams["learning_rate"] = jnp.asarray(learning_rate, jnp.float32)
    return logits, state


@functools.partial(jax.jit, static_argnames="steps")
def fit_chunk(logits: jax.Array, state, target: jax.Array, steps: int):
    """``steps`` Adam steps on :func:`softmax_bce`, in one ``lax.scan``; returns the loss before each."""

    def step(carry, _):
        z, opt_state = carry
        loss, grad = jax.value_and_grad(softmax_bce)(z, target)
        updates, opt_state = _OPTIMIZER.update(grad, opt_state, z)
        return (optax.apply_updates(z, updates), opt_state), loss

    (logits, state), history = jax.lax.scan(step, (logits, state), None, length=steps)
    return logits, state, history


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
    """
    if steps < 1 or chunk < 1:
        raise ValueError("steps and chunk must be positive")
    y = jnp.asarray(np.asarray(target, np.float32).reshape(-1))
    logits, state = init_fit(y.shape[0], learning_rate)
    history: list[np.ndarray] = []
    done_steps = 0
    while done_steps < steps:
        logits, state, chunk_losses = fit_chunk(logits, state, y, chunk)
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
    """Keras's ``binary_crossentropy`` (ε-clipped) of one image, mean over its pixels."""
    y = jnp.asarray(np.asarray(target, np.float32).reshape(1, -1))
    q = jnp.asarray(np.asarray(output, np.float32).reshape(1, -1))
    return float(losses.binary_crossentropy(y, q)[0])


# --------------------------------------------------------------------------
# Raw 0–255 targets
# --------------------------------------------------------------------------


class RawSlice(NamedTuple):
    y: float
    one_minus_p: np.ndarray
    """``1 − p``, log-spaced from 1/2 down to ε: where the loss runs away."""
    p: np.ndarray
    bce: np.ndarray
    derivative_sign_negative: bool
    """True when dBCE/dp < 0 on the whole interval: no interior minimum."""


@jax.jit
def _raw_kernel(y: jax.Array, p: jax.Array):
    # The raw target is the point: losses' formula takes any real y, and
    # p stays in [ε, 1 − ε] by construction, as Keras's clipping would leave it.
    return losses.binary_crossentropy_elementwise(y, p, epsilon=None)


def raw_slice(y_raw: float, points: int = 200) -> RawSlice:
    r"""BCE(y, p) for a raw pixel value ``y`` (0–255) as ``p → 1``, up to Keras's float32 clip.

    .. math:: \mathrm{BCE}(y, p) = -y\log p + (y - 1)\log(1 - p) \xrightarrow[p \to 1]{} -\infty
              \quad (y > 1)

    For ``y > 1`` both terms of :math:`\partial_p \mathrm{BCE} = -y/p - (y - 1)/(1 - p)`
    are negative: the loss falls forever and only the clip at ``1 − ε`` stops it.
    """
    # Down to where float32 Keras really stops: 1 − CLIP_TOP = 1.19e-7.  Float64
    # here so that gap is represented exactly.
    one_minus_p = np.logspace(np.log10(0.5), np.log10(1.0 - CLIP_TOP), points)
    p = 1.0 - one_minus_p
    with np.errstate(all="ignore"):
        bce = -y_raw * np.log(p) - (1.0 - y_raw) * np.log(one_minus_p)
    return RawSlice(y=float(y_raw), one_minus_p=one_minus_p, p=p, bce=bce,
                    derivative_sign_negative=bool(y_raw > 1))


def raw_digit_bce(image_uint8: np.ndarray, p: float) -> float:
    """Mean BCE of one image with raw 0–255 targets when every output is ``p``."""
    y = np.asarray(image_uint8, np.float64).reshape(-1)
    return float(np.mean(-y * np.log(p) - (1.0 - y) * np.log1p(-p)))


def raw_digit_infimum(image_uint8: np.ndarray) -> float:
    r"""The lowest mean BCE Keras's clipping allows with raw 0–255 targets.

    Each pixel's BCE is monotone for ``y = 0`` (best ``p = ε``) and for ``y ≥ 1``
    (best ``p = t``, the top of the clip), so the infimum under clipping is

    .. math:: \frac1n\Big[\sum_{y_i=0} -\log(1-\epsilon) + \sum_{y_i \ge 1} -y_i\log t + (y_i - 1)\log(1 - t)\Big]

    with ``t = CLIP_TOP``, the float32 value of ``1 − ε`` Keras actually uses.
    """
    y = np.asarray(image_uint8, np.float64).reshape(-1)
    per_pixel = np.where(
        y == 0, -np.log1p(-EPSILON), -y * np.log(CLIP_TOP) + (y - 1.0) * np.log1p(-CLIP_TOP))
    return float(per_pixel.mean())


# --------------------------------------------------------------------------
# The logit view
# --------------------------------------------------------------------------


class LogitSlice(NamedTuple):
    y: float
    z: np.ndarray
    bce: np.ndarray
    grad: np.ndarray
    """``σ(z) − y``, the derivative of the stable form in ``z``."""
    z_star: float | None
    """``log(y / (1 − y))`` where the minimum is; ``None`` for y in {0, 1} (no finite minimum)."""
    floor: float


@jax.jit
def _logit_kernel(y: jax.Array, z: jax.Array):
    bce = losses.binary_crossentropy_with_logits_elementwise(y, z)
    return bce, jax.nn.sigmoid(z) - y


def logit_slice(y: float, z_max: float = 10.0, points: int = 401) -> LogitSlice:
    r"""BCE of ``σ(z)`` against ``y`` along the logit, stable form, with its gradient.

    .. math:: \ell(z) = \max(z, 0) - z y + \log(1 + e^{-|z|}), \qquad \ell'(z) = \sigma(z) - y
    """
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"a probability target must lie in [0, 1], not {y}")
    z = np.linspace(-z_max, z_max, points)
    bce, grad = _logit_kernel(jnp.float32(y), jnp.asarray(z, jnp.float32))
    z_star = None if y in (0.0, 1.0) else float(np.log(y / (1.0 - y)))
    return LogitSlice(y=float(y), z=z, bce=np.asarray(bce, np.float64), grad=np.asarray(grad, np.float64),
                      z_star=z_star, floor=float(losses.binary_entropy(jnp.float32(y))))
