"""Element-wise building blocks of the losses (no reduction) and the information quantities; the pages plot these.

``EPSILON`` is Keras's clipping; every probability loss clips with it.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

EPSILON = 1e-7
"""Keras's ``backend.epsilon()``: how far from 0 and 1 predictions are clipped."""

Array = jax.Array
Loss = Callable[[Array, Array], Array]


def _clip(p: Array, epsilon: float) -> Array:
    return jnp.clip(p, epsilon, 1.0 - epsilon)


# --------------------------------------------------------------------------
# Element-wise building blocks (no reduction).  The pages plot these.
# --------------------------------------------------------------------------


def binary_crossentropy_elementwise(y: Array, p: Array, epsilon: float | None = EPSILON) -> Array:
    r"""BCE of one Bernoulli target ``y`` against one prediction ``p``.

    .. math:: \mathrm{BCE}(y, p) = -y \log p - (1 - y) \log(1 - p)

    With ``epsilon=None`` nothing is clipped, so ``p`` at 0 or 1 gives ``inf``
    wherever the target disagrees; ``xlogy`` keeps ``0 · log 0 = 0``.

    Args:
      y: targets, any shape.
      p: predictions, broadcastable with ``y``.
      epsilon: Keras's clipping of ``p``; ``None`` for none.

    Returns:
      BCE of each element, the broadcast shape; no reduction.

    >>> round(float(binary_crossentropy_elementwise(0.3, 0.3)), 4)  # = H(0.3)
    0.6109
    """
    y = jnp.asarray(y)
    p = jnp.asarray(p)
    if epsilon is not None:
        p = _clip(p, epsilon)
    return 0.0 - xlogy(y, p) - xlogy(1.0 - y, 1.0 - p)


@jax.custom_jvp
def softplus(x: Array) -> Array:
    r"""``log(1 + eˣ)``, stable for any ``x``, with the exact derivative ``σ(x)`` everywhere.

    .. math:: \mathrm{softplus}(x) = \max(x, 0) + \log(1 + e^{-|x|})

    Same values as ``jax.nn.softplus``, but several times faster on CPU (its
    ``logaddexp`` dominates an autoencoder step there).  The derivative is
    given explicitly so the kinks of ``max`` and ``|x|`` at 0 do not leak in.

    Args:
      x: any shape.

    Returns:
      ``softplus(x)``, the same shape.

    >>> float(softplus(0.0)) == float(jnp.log(2.0))
    True
    """
    x = jnp.asarray(x)
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return softplus(x), jax.nn.sigmoid(x) * dx


def binary_crossentropy_with_logits_elementwise(y: Array, z: Array) -> Array:
    r"""BCE of a target ``y`` against ``σ(z)``, stable for any logit ``z``.

    .. math:: \mathrm{BCE}(y, \sigma(z)) = (1 - y) z + \log(1 + e^{-z})
              = \max(z, 0) - z y + \log(1 + e^{-|z|})

    The second form is ``tf.nn.sigmoid_cross_entropy_with_logits``'s; the
    first, with a stable softplus, has the exact derivative ``σ(z) − y``
    everywhere, including at ``z = 0`` where ``max`` and ``|z|`` have kinks.

    Args:
      y: targets, any shape.
      z: logits, broadcastable with ``y``.

    Returns:
      BCE of each element, the broadcast shape; no reduction.

    >>> float(binary_crossentropy_with_logits_elementwise(1.0, 1e4))
    0.0
    """
    y = jnp.asarray(y)
    z = jnp.asarray(z)
    return (1.0 - y) * z + softplus(-z)


def binary_entropy(y: Array) -> Array:
    r"""Entropy of a Bernoulli(``y``) variable, in nats: the floor of BCE.

    .. math:: H(y) = -y \log y - (1 - y) \log(1 - y)

    It is the value of ``BCE(y, p)`` at its minimum ``p = y``; it is zero only
    for ``y`` in {0, 1} and reaches ``log 2`` at ``y = 1/2``.

    H is defined for ``y`` in [0, 1]; ``y`` is clipped to it, because float
    rounding (XLA computes ``x / 255`` as ``x · (1/255)``) can land a pixel
    of 255 just above 1, where ``log(1 − y)`` would be NaN.

    Args:
      y: Bernoulli means in [0, 1], any shape.

    Returns:
      ``H(y)`` in nats, the same shape.

    >>> binary_entropy(jnp.array([0.0, 0.5, 1.0]))
    Array([0.       , 0.6931472, 0.       ], dtype=float32)
    """
    y = jnp.clip(jnp.asarray(y), 0.0, 1.0)
    return 0.0 - xlogy(y, y) - xlogy(1.0 - y, 1.0 - y)


def bernoulli_kl(y: Array, p: Array) -> Array:
    r"""KL(Bernoulli(``y``) ‖ Bernoulli(``p``)), the excess of BCE over its floor.

    .. math:: \mathrm{KL} = y \log\frac{y}{p} + (1-y)\log\frac{1-y}{1-p}
              = \mathrm{BCE}(y, p) - H(y) \ge 0

    Zero exactly when ``p = y``.  Computed directly (not as a difference) so it
    stays accurate near the minimum.

    Args:
      y: target means in [0, 1], any shape.
      p: predicted means, broadcastable with ``y``.

    Returns:
      KL of each element in nats, the broadcast shape.

    >>> float(bernoulli_kl(0.3, 0.3))
    0.0
    """
    y = jnp.asarray(y)
    p = jnp.asarray(p)
    return xlogy(y, y) - xlogy(y, p) + xlogy(1.0 - y, 1.0 - y) - xlogy(1.0 - y, 1.0 - p)


def entropy(p: Array, axis: int = -1) -> Array:
    r"""Shannon entropy of a categorical distribution, in nats.

    .. math:: H(P) = -\sum_k p_k \log p_k

    Args:
      p: probabilities, shape ``(..., k, ...)``.
      axis: the categories' axis.

    Returns:
      ``H(P)``, ``p``'s shape without ``axis``.

    >>> entropy(jnp.array([0.5, 0.5]))
    Array(0.6931472, dtype=float32)
    """
    return 0.0 - jnp.sum(xlogy(p, p), axis=axis)


def cross_entropy(p: Array, q: Array, axis: int = -1) -> Array:
    r"""Cross-entropy H(P, Q) of distribution ``q`` relative to ``p``, unclipped.

    .. math:: H(P, Q) = -\sum_k p_k \log q_k = H(P) + \mathrm{KL}(P \| Q)

    Args:
      p: the reference distribution, shape ``(..., k, ...)``.
      q: the model's, same shape.
      axis: the categories' axis.

    Returns:
      ``H(P, Q)``, the shape without ``axis``.

    >>> cross_entropy(jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]))
    Array(0.6931472, dtype=float32)
    """
    return 0.0 - jnp.sum(xlogy(p, q), axis=axis)


def kl(p: Array, q: Array, axis: int = -1) -> Array:
    r"""KL(P ‖ Q) between categorical distributions, unclipped, in nats.

    .. math:: \mathrm{KL}(P \| Q) = \sum_k p_k \log\frac{p_k}{q_k}

    Terms with ``p_k = 0`` contribute 0; ``q_k = 0`` where ``p_k > 0`` gives
    ``inf``.  Note the order: the first argument is the distribution the
    expectation is taken under.

    Args:
      p: the reference distribution, shape ``(..., k, ...)``.
      q: the model's, same shape.
      axis: the categories' axis.

    Returns:
      ``KL(P ‖ Q)``, the shape without ``axis``.

    >>> round(float(kl(jnp.array([0.5, 0.5]), jnp.array([0.9, 0.1]))), 4)
    0.5108
    """
    return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=axis)
