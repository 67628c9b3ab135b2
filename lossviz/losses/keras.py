"""Keras-named losses ``(y_true, y_pred) -> one value per example``, their from-logits forms, the softmax BCE."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from lossviz.losses.elementwise import (EPSILON, Array, _clip, binary_crossentropy_elementwise,
                                        binary_crossentropy_with_logits_elementwise)

# --------------------------------------------------------------------------
# Keras-named losses: (y_true, y_pred) -> one value per example.
# --------------------------------------------------------------------------


def binary_crossentropy(y_true: Array, y_pred: Array, epsilon: float = EPSILON) -> Array:
    r"""Keras's ``binary_crossentropy`` on probabilities, mean over the last axis.

    .. math:: \frac1n \sum_i -y_i \log \hat p_i - (1 - y_i)\log(1 - \hat p_i),
              \quad \hat p = \mathrm{clip}(p, \epsilon, 1 - \epsilon)

    Args:
      y_true: targets, shape ``(..., n)``.
      y_pred: probabilities, shape ``(..., n)``.
      epsilon: Keras's clipping.

    Returns:
      One loss per example, shape ``(...)``.

    >>> binary_crossentropy(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0]]))
    Array([1.1920929e-07], dtype=float32)
    """
    return jnp.mean(binary_crossentropy_elementwise(y_true, y_pred, epsilon), axis=-1)


def binary_crossentropy_from_logits(y_true: Array, logits: Array) -> Array:
    r"""Binary cross-entropy of ``σ(logits)``, stable, mean over the last axis.

    .. math:: \frac1n \sum_i (1 - y_i) z_i + \log(1 + e^{-z_i})

    Args:
      y_true: targets, shape ``(..., n)``.
      logits: ``z``, shape ``(..., n)``.

    Returns:
      One loss per example, shape ``(...)``.

    >>> binary_crossentropy_from_logits(jnp.array([[1.0, 0.0]]), jnp.array([[1e4, -1e4]]))
    Array([0.], dtype=float32)
    """
    return jnp.mean(binary_crossentropy_with_logits_elementwise(y_true, logits), axis=-1)


def mean_squared_error(y_true: Array, y_pred: Array) -> Array:
    r"""Keras's ``mean_squared_error``: :math:`\frac1n \sum_i (\hat y_i - y_i)^2`.

    Args:
      y_true: targets, shape ``(..., n)``.
      y_pred: outputs, shape ``(..., n)``.

    Returns:
      One loss per example, shape ``(...)``.

    >>> mean_squared_error(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]))
    Array([0.5], dtype=float32)
    """
    return jnp.mean(jnp.square(jnp.asarray(y_pred) - jnp.asarray(y_true)), axis=-1)


def mean_absolute_error(y_true: Array, y_pred: Array) -> Array:
    r"""Keras's ``mean_absolute_error``: :math:`\frac1n \sum_i |\hat y_i - y_i|`.

    Args:
      y_true: targets, shape ``(..., n)``.
      y_pred: outputs, shape ``(..., n)``.

    Returns:
      One loss per example, shape ``(...)``.

    >>> mean_absolute_error(jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]))
    Array([0.5], dtype=float32)
    """
    return jnp.mean(jnp.abs(jnp.asarray(y_pred) - jnp.asarray(y_true)), axis=-1)


def categorical_crossentropy(y_true: Array, y_pred: Array, epsilon: float = EPSILON) -> Array:
    r"""Keras's ``categorical_crossentropy`` on probabilities, summed over classes.

    .. math:: -\sum_k y_k \log \hat q_k, \quad
              \hat q = \mathrm{clip}\Big(\frac{q}{\sum_j q_j}, \epsilon, 1 - \epsilon\Big)

    Keras first renormalises ``y_pred`` to sum to one, then clips.

    Args:
      y_true: target distributions, shape ``(..., k)``.
      y_pred: probabilities, shape ``(..., k)`` (renormalised).
      epsilon: Keras's clipping.

    Returns:
      One loss per example, shape ``(...)``.

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

    Args:
      y_true: target distributions, shape ``(..., k)``.
      logits: ``z``, shape ``(..., k)``.

    Returns:
      One loss per example, shape ``(...)``.

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

    Args:
      y_true: target distributions, shape ``(..., k)``.
      y_pred: probabilities, shape ``(..., k)``.
      epsilon: Keras's clipping.

    Returns:
      One loss per example, shape ``(...)``.

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

    Args:
      y_true: target distributions, shape ``(..., k)``.
      logits: ``z``, shape ``(..., k)``.

    Returns:
      One loss per example, shape ``(...)``.

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
