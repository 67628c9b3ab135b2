"""Loss functions under their Keras names, as pure ``jnp`` functions.

Every loss takes ``(y_true, y_pred)`` and returns one value per example,
reducing the last axis the way Keras does: binary cross-entropy, MSE and MAE
average over it; categorical cross-entropy and KL divergence sum over it
(they compare whole distributions).

From probabilities, predictions are clipped to ``[EPSILON, 1 - EPSILON]`` as
Keras does, so a prediction of exactly 0 or 1 gives a large finite loss
rather than ``inf``.  Each cross-entropy and KL also has a ``*_from_logits``
form that is exact and numerically stable for any finite logit, with no
clipping at all.

Look a loss up the Keras way::

    >>> import jax.numpy as jnp
    >>> from lossviz import losses
    >>> losses.get("mse")(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 0.5]]))
    Array([0.25], dtype=float32)
"""

from __future__ import annotations

import math
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

    >>> float(bernoulli_kl(0.3, 0.3))
    0.0
    """
    y = jnp.asarray(y)
    p = jnp.asarray(p)
    return xlogy(y, y) - xlogy(y, p) + xlogy(1.0 - y, 1.0 - y) - xlogy(1.0 - y, 1.0 - p)


def entropy(p: Array, axis: int = -1) -> Array:
    r"""Shannon entropy of a categorical distribution, in nats.

    .. math:: H(P) = -\sum_k p_k \log p_k

    >>> entropy(jnp.array([0.5, 0.5]))
    Array(0.6931472, dtype=float32)
    """
    return 0.0 - jnp.sum(xlogy(p, p), axis=axis)


def cross_entropy(p: Array, q: Array, axis: int = -1) -> Array:
    r"""Cross-entropy H(P, Q) of distribution ``q`` relative to ``p``, unclipped.

    .. math:: H(P, Q) = -\sum_k p_k \log q_k = H(P) + \mathrm{KL}(P \| Q)

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

    >>> round(float(kl(jnp.array([0.5, 0.5]), jnp.array([0.9, 0.1]))), 4)
    0.5108
    """
    return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=axis)


# --------------------------------------------------------------------------
# Keras-named losses: (y_true, y_pred) -> one value per example.
# --------------------------------------------------------------------------


def binary_crossentropy(y_true: Array, y_pred: Array, epsilon: float = EPSILON) -> Array:
    r"""Keras's ``binary_crossentropy`` on probabilities, mean over the last axis.

    .. math:: \frac1n \sum_i -y_i \log \hat p_i - (1 - y_i)\log(1 - \hat p_i),
              \quad \hat p = \mathrm{clip}(p, \epsilon, 1 - \epsilon)

    >>> binary_crossentropy(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0]]))
    Array([1.1920929e-07], dtype=float32)
    """
    return jnp.mean(binary_crossentropy_elementwise(y_true, y_pred, epsilon), axis=-1)


def binary_crossentropy_from_logits(y_true: Array, logits: Array) -> Array:
    r"""Binary cross-entropy of ``σ(logits)``, stable, mean over the last axis.

    .. math:: \frac1n \sum_i (1 - y_i) z_i + \log(1 + e^{-z_i})

    >>> binary_crossentropy_from_logits(jnp.array([[1.0, 0.0]]), jnp.array([[1e4, -1e4]]))
    Array([0.], dtype=float32)
    """
    return jnp.mean(binary_crossentropy_with_logits_elementwise(y_true, logits), axis=-1)


def mean_squared_error(y_true: Array, y_pred: Array) -> Array:
    r"""Keras's ``mean_squared_error``: :math:`\frac1n \sum_i (\hat y_i - y_i)^2`.

    >>> mean_squared_error(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]))
    Array([0.5], dtype=float32)
    """
    return jnp.mean(jnp.square(jnp.asarray(y_pred) - jnp.asarray(y_true)), axis=-1)


def mean_absolute_error(y_true: Array, y_pred: Array) -> Array:
    r"""Keras's ``mean_absolute_error``: :math:`\frac1n \sum_i |\hat y_i - y_i|`.

    >>> mean_absolute_error(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]))
    Array([0.5], dtype=float32)
    """
    return jnp.mean(jnp.abs(jnp.asarray(y_pred) - jnp.asarray(y_true)), axis=-1)


def categorical_crossentropy(y_true: Array, y_pred: Array, epsilon: float = EPSILON) -> Array:
    r"""Keras's ``categorical_crossentropy`` on probabilities, summed over classes.

    .. math:: -\sum_k y_k \log \hat q_k, \quad
              \hat q = \mathrm{clip}\Big(\frac{q}{\sum_j q_j}, \epsilon, 1 - \epsilon\Big)

    Keras first renormalises ``y_pred`` to sum to one, then clips.

    >>> categorical_crossentropy(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 0.5]]))
    Array([0.6931472], dtype=float32)
    """
    q = jnp.asarray(y_pred)
    q = _clip(q / jnp.sum(q, axis=-1, keepdims=True), epsilon)
    return -jnp.sum(xlogy(jnp.asarray(y_true), q), axis=-1)


def categorical_crossentropy_from_logits(y_true: Array, logits: Array) -> Array:
    r"""Categorical cross-entropy of ``softmax(logits)``, stable.

    .. math:: -\sum_k y_k \log \mathrm{softmax}(z)_k
              = \log \sum_j e^{z_j} - \sum_k y_k z_k \quad (\textstyle\sum_k y_k = 1)

    >>> categorical_crossentropy_from_logits(jnp.array([[0.0, 1.0]]), jnp.array([[0.0, 0.0]]))
    Array([0.6931472], dtype=float32)
    """
    return -jnp.sum(jnp.asarray(y_true) * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def kl_divergence(y_true: Array, y_pred: Array, epsilon: float = EPSILON) -> Array:
    r"""Keras's ``kl_divergence``: KL(y_true ‖ y_pred), both clipped to ``[ε, 1]``.

    .. math:: \sum_k \hat y_k \log\frac{\hat y_k}{\hat q_k}, \quad
              \hat y = \mathrm{clip}(y, \epsilon, 1),\ \hat q = \mathrm{clip}(q, \epsilon, 1)

    For a one-hot ``y_true`` this equals categorical cross-entropy up to the
    clipping, because the entropy of a one-hot target is 0.

    >>> kl_divergence(jnp.array([[0.5, 0.5]]), jnp.array([[0.5, 0.5]]))
    Array([0.], dtype=float32)
    """
    p = jnp.clip(jnp.asarray(y_true), epsilon, 1.0)
    q = jnp.clip(jnp.asarray(y_pred), epsilon, 1.0)
    return jnp.sum(p * jnp.log(p / q), axis=-1)


def kl_divergence_from_logits(y_true: Array, logits: Array) -> Array:
    r"""KL(y_true ‖ softmax(logits)), stable and unclipped.

    .. math:: \sum_k y_k \big(\log y_k - \log \mathrm{softmax}(z)_k\big)

    Terms with ``y_k = 0`` contribute exactly 0, so with one-hot targets this
    is identical to :func:`categorical_crossentropy_from_logits`.

    >>> kl_divergence_from_logits(jnp.array([[0.0, 1.0]]), jnp.array([[0.0, 0.0]]))
    Array([0.6931472], dtype=float32)
    """
    y = jnp.asarray(y_true)
    return jnp.sum(xlogy(y, y) - y * jax.nn.log_softmax(logits, axis=-1), axis=-1)


# --------------------------------------------------------------------------
# A softmax output scored with BCE: the honest number and the one Keras 3 prints
# --------------------------------------------------------------------------


def softmax_bce(y_true: Array, logits: Array, epsilon: float | None = EPSILON) -> Array:
    r"""Keras's clipped BCE of ``p = softmax(logits)``, mean over the last axis.

    .. math:: \frac1n\sum_i -y_i\log\hat p_i - (1-y_i)\log(1-\hat p_i),\quad
              \hat p = \mathrm{clip}(\mathrm{softmax}(z), \epsilon, 1-\epsilon)

    Computed from ``log_softmax`` clipped to ``[log ε, log(1-ε)]``, the same
    value as clipping ``p`` (log is monotone) without taking the log of an
    underflowed probability.  Targets outside [0, 1] (raw pixels) are legal
    and make the loss unbounded below: that is the confused original's
    lesson, not something to fix.

    Args:
      y_true: targets ``y``, shape ``(..., n)``.
      logits: ``z``, shape ``(..., n)``; the softmax runs over the last axis.
      epsilon: Keras's clipping; ``None`` clips nothing (the exact BCE of the softmax).

    Returns:
      One loss per example, shape ``(...)``.

    >>> softmax_bce(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 0.0]]))
    Array([0.6931472], dtype=float32)
    """
    log_p = jax.nn.log_softmax(logits, axis=-1)
    if epsilon is not None:
        log_p = jnp.clip(log_p, math.log(epsilon), math.log1p(-epsilon))
    log_not_p = jnp.log1p(-jnp.exp(log_p))
    return jnp.mean(-y_true * log_p - (1.0 - y_true) * log_not_p, axis=-1)


def keras_reported_bce(y_true: Array, logits: Array) -> Array:
    r"""What Keras 3 reports as BCE for a softmax (or sigmoid) output layer, per example.

    Keras caches the output layer's logits and its ``binary_crossentropy``
    silently uses them as *sigmoid* logits, whatever the layer's activation:

    .. math:: \frac1n\sum_i \max(z_i,0) - z_i y_i + \log(1+e^{-|z_i|})

    For a softmax output this does not describe the outputs the model makes
    (compare :func:`softmax_bce`).

    Args:
      y_true: targets ``y``, shape ``(..., n)``.
      logits: the output layer's pre-activations ``z``, shape ``(..., n)``.

    Returns:
      One number per example, shape ``(...)``.

    >>> keras_reported_bce(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 0.0]]))
    Array([0.6931472], dtype=float32)
    """
    return binary_crossentropy_from_logits(y_true, logits)


_PROBABILITY_LOSSES: dict[str, Loss] = {
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "categorical_crossentropy": categorical_crossentropy,
    "kl_divergence": kl_divergence,
}
_LOGIT_LOSSES: dict[str, Loss] = {
    "binary_crossentropy": binary_crossentropy_from_logits,
    "categorical_crossentropy": categorical_crossentropy_from_logits,
    "kl_divergence": kl_divergence_from_logits,
}
ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "kullback_leibler_divergence": "kl_divergence",
    "kld": "kl_divergence",
}
NAMES = tuple(_PROBABILITY_LOSSES)
"""Canonical Keras names of every loss :func:`get` knows."""

LOGIT_ACTIVATION = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "kl_divergence": "softmax",
}
"""The output activation whose logits each ``*_from_logits`` loss expects."""


def canonical_name(name: str) -> str:
    """The Keras name behind ``name`` or one of its aliases; ``ValueError`` if unknown."""
    key = ALIASES.get(name, name)
    if key not in _PROBABILITY_LOSSES:
        known = ", ".join(sorted(set(_PROBABILITY_LOSSES) | set(ALIASES)))
        raise ValueError(f"unknown loss {name!r}; known losses: {known}")
    return key


def get(name: str, from_logits: bool = False) -> Loss:
    """Look a loss up by its Keras name or alias, like ``keras.losses.get``.

    With ``from_logits=True`` the stable logits form is returned; MSE and MAE
    compare outputs directly and have none, so asking for it is an error.

    >>> get("kullback_leibler_divergence") is kl_divergence
    True
    """
    key = canonical_name(name)
    if not from_logits:
        return _PROBABILITY_LOSSES[key]
    if key not in _LOGIT_LOSSES:
        raise ValueError(f"{key} compares outputs directly and has no from-logits form")
    return _LOGIT_LOSSES[key]
