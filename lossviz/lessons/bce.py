r"""The math behind the "BCE landscape" page: the surface, a slice, raw targets and the logit view.

Binary cross-entropy of a target ``y`` against a prediction ``p``,

.. math:: \mathrm{BCE}(y, p) = -y \log p - (1 - y) \log(1 - p),

is minimised at ``p = y`` and its minimum is the binary entropy ``H(y)``,
zero only for ``y`` in {0, 1}.  This module computes the surface over
[0, 1]², slices at one ``y``, raw 0–255 targets and the logit view; the floor
of real MNIST and the best softmax output for a digit are in
:mod:`lossviz.lessons.bce_mnist`.

Every jitted function lives at module level so a page rerun never
recompiles; grid shapes are padded to buckets for the same reason.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lossviz import losses

EPSILON = losses.EPSILON
CLIP_TOP = float(np.float32(1.0 - EPSILON))
"""The top of Keras's clip as float32 really stores it: 1 − 1.19e-7, not 1 − 1e-7."""
GRID_BUCKET = 64
"""Grids are padded to a multiple of this, so a new resolution rarely recompiles."""
SLICE_POINTS = 401
"""Points of a slice over p in [0, 1]: a step of 1/400 puts every y of step 0.01 on the grid."""



def read_only(*arrays: np.ndarray) -> None:
    """Mark memoised result arrays read-only, so a caller cannot change what the next one gets.

    Args:
      *arrays: numpy arrays to freeze in place.

    Returns:
      None; each array's ``writeable`` flag is cleared.
    """
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
    """``points`` evenly spaced values from 0 to 1 inclusive: :math:`k / (n - 1)`.

    Args:
      points: how many values, at least 2.

    Returns:
      float64 array, shape ``(points,)``.

    >>> unit_grid(5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
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

    Args:
      points: grid points per axis, at least 2.
      clip: clip ``p`` to ``[ε, 1 − ε]`` as Keras does.

    Returns:
      :class:`Surface` with ``y`` and ``p`` of shape ``(points,)`` and ``bce`` of
      shape ``(points, points)``, float64, read-only.
    """
    grid = unit_grid(points)
    padded = _padded(grid)
    bce = np.asarray(_surface_kernel(padded, padded, jnp.asarray(bool(clip))))[:points, :points]
    bce = bce.astype(np.float64)
    y, p = grid.copy(), grid.copy()
    read_only(y, p, bce)
    return Surface(y=y, p=p, bce=bce, clipped=bool(clip))


VALLEY_POINTS = 101
"""Points along the drawn valley line, whatever the grid: it is a curve, not a grid."""


def largest_odd_grid(limit: int) -> int:
    """The largest odd resolution within ``limit``: odd grids keep y = p = 1/2 on the grid.

    Args:
      limit: the largest resolution allowed.

    Returns:
      ``limit`` if it is odd, else ``limit − 1``.

    >>> largest_odd_grid(200), largest_odd_grid(61)
    (199, 61)
    """
    return limit if limit % 2 else limit - 1


def valley(points: int) -> tuple[np.ndarray, np.ndarray]:
    """The valley floor: the line ``p = y`` and its height ``H(y)``.

    Args:
      points: points along the line, at least 2.

    Returns:
      ``(y, H(y))``, two float64 arrays of shape ``(points,)``.
    """
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

    Args:
      y: the target, in [0, 1].
      clip: clip ``p`` to ``[ε, 1 − ε]`` as Keras does (the derivatives are never clipped).
      points: grid points over p ∈ [0, 1].

    Returns:
      :class:`Slice`: every curve float64 of shape ``(points,)``, plus ``H(y)``
      and the grid's argmin.
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


def raw_slice(y_raw: float, points: int = 200) -> RawSlice:
    r"""BCE(y, p) for a raw pixel value ``y`` (0–255) as ``p → 1``, up to Keras's float32 clip.

    .. math:: \mathrm{BCE}(y, p) = -y\log p + (y - 1)\log(1 - p) \xrightarrow[p \to 1]{} -\infty
              \quad (y > 1)

    For ``y > 1`` both terms of :math:`\partial_p \mathrm{BCE} = -y/p - (y - 1)/(1 - p)`
    are negative: the loss falls forever and only the clip at ``1 − ε`` stops it.

    Args:
      y_raw: the raw target, e.g. a pixel value 0–255.
      points: points from ``1 − p = 1/2`` down to ``1 − CLIP_TOP``, log-spaced.

    Returns:
      :class:`RawSlice`: ``one_minus_p``, ``p`` and ``bce`` of shape ``(points,)``, float64.
    """
    # Down to where float32 Keras really stops: 1 − CLIP_TOP = 1.19e-7.  Float64
    # here so that gap is represented exactly.
    one_minus_p = np.logspace(np.log10(0.5), np.log10(1.0 - CLIP_TOP), points)
    p = 1.0 - one_minus_p
    with np.errstate(all="ignore"):
        bce = -y_raw * np.log(p) - (1.0 - y_raw) * np.log(one_minus_p)
    return RawSlice(y=float(y_raw), one_minus_p=one_minus_p, p=p, bce=bce,
                    derivative_sign_negative=bool(y_raw > 1))



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

    Args:
      y: the target, in [0, 1].
      z_max: the logits run over ``[−z_max, z_max]``.
      points: how many logits.

    Returns:
      :class:`LogitSlice`: ``z``, ``bce`` and ``grad`` of shape ``(points,)``,
      the minimiser ``z*`` (``None`` for y in {0, 1}) and ``H(y)``.
    """
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"a probability target must lie in [0, 1], not {y}")
    z = np.linspace(-z_max, z_max, points)
    bce, grad = _logit_kernel(jnp.float32(y), jnp.asarray(z, jnp.float32))
    z_star = None if y in (0.0, 1.0) else float(np.log(y / (1.0 - y)))
    return LogitSlice(y=float(y), z=z, bce=np.asarray(bce, np.float64), grad=np.asarray(grad, np.float64),
                      z_star=z_star, floor=float(losses.binary_entropy(jnp.float32(y))))

