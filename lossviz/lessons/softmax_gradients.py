r"""Softmax's learning slowdown: the log-likelihood cost vs MSE on the probabilities.

With a softmax output and the log-likelihood (categorical cross-entropy) the
gradient in the logits is just ``p − y``; MSE on the probabilities multiplies
every component by ``p_j`` (the softmax analogue of σ′), so a confidently
wrong output barely learns.  Gradients come from ``jax.grad``; the closed forms
sit beside them for the tests and the page's captions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lossviz import losses

SOFTMAX_COSTS = ("log_likelihood", "mse")
SOFTMAX_COST_LABELS = {"log_likelihood": "log-likelihood (categorical CE)", "mse": "MSE on probabilities"}


def softmax_log_likelihood(logits, target):
    r"""Log-likelihood cost of a softmax output: :math:`C = -\sum_k y_k \log \mathrm{softmax}(z)_k`.

    Args:
      logits: ``z``, shape ``(..., K)``.
      target: ``y``, shape ``(..., K)``, a distribution over the last axis.

    Returns:
      The cost, shape ``(...)``.
    """
    return losses.categorical_crossentropy_from_logits(target, logits)


def softmax_mse(logits, target):
    r"""Keras MSE on the softmax probabilities: :math:`C = \frac1K \sum_k (\mathrm{softmax}(z)_k - y_k)^2`.

    Args:
      logits: ``z``, shape ``(..., K)``.
      target: ``y``, shape ``(..., K)``.

    Returns:
      The cost, shape ``(...)``.
    """
    return losses.mean_squared_error(target, jax.nn.softmax(logits, axis=-1))


def softmax_log_likelihood_gradient_closed_form(logits, target):
    r"""Gradient of the log-likelihood in the logits: :math:`\nabla_z C = p - y`, :math:`p = \mathrm{softmax}(z)`.

    Args:
      logits: ``z``, shape ``(..., K)``.
      target: ``y``, shape ``(..., K)``.

    Returns:
      ``∇_z C``, shape ``(..., K)``.
    """
    return jax.nn.softmax(logits, axis=-1) - target


def softmax_mse_gradient_closed_form(logits, target):
    r"""Gradient of MSE on the probabilities in the logits.

    .. math:: \nabla_z C = \frac{2}{K} J^\top (p - y),\quad J = \mathrm{diag}(p) - p p^\top
              \;\Rightarrow\; \frac{\partial C}{\partial z_j} = \frac{2}{K}\, p_j
              \Big[(p_j - y_j) - \sum_k p_k (p_k - y_k)\Big]

    Every component carries a factor :math:`p_j`, the softmax analogue of σ′.

    Args:
      logits: ``z``, shape ``(..., K)``.
      target: ``y``, shape ``(..., K)``.

    Returns:
      ``∇_z C``, shape ``(..., K)``.
    """
    p = jax.nn.softmax(logits, axis=-1)
    k = logits.shape[-1]
    r = p - target
    return (2.0 / k) * p * (r - jnp.sum(p * r, axis=-1, keepdims=True))


def softmax_logit_grid(points: int = 401, limit: float = 10.0) -> np.ndarray:
    r"""The correct class's logits to sweep: :math:`z_c \in [-\text{limit}, \text{limit}]`.

    Args:
      points: how many logits.
      limit: the largest ``|z_c|``.

    Returns:
      float32 array, shape ``(points,)``.
    """
    return np.linspace(-limit, limit, points, dtype=np.float32)


def softmax_logits(correct_logit, classes: int, dominant_logit: float):
    r"""Logits with class 0 correct at ``correct_logit``, class 1 (wrong) at ``dominant_logit``, the rest 0.

    .. math:: z = (z_c, d, 0, \dots, 0) \in \mathbb{R}^K

    Args:
      correct_logit: ``z_c``, shape ``(n,)`` or a scalar.
      classes: ``K``, at least 2.
      dominant_logit: ``d``, the wrong class's logit.

    Returns:
      float32 logits, shape ``(n, K)`` (or ``(K,)``).

    >>> softmax_logits(1.0, 3, 2.0)
    Array([1., 2., 0.], dtype=float32)
    """
    correct_logit = jnp.asarray(correct_logit, dtype=jnp.float32)
    rest = jnp.zeros(correct_logit.shape + (classes - 1,), jnp.float32).at[..., 0].set(dominant_logit)
    return jnp.concatenate([correct_logit[..., None], rest], axis=-1)


class SoftmaxCurves(NamedTuple):
    """Along the correct class's logit: probabilities and both costs' logit gradients (``jax.grad``)."""

    correct_logit: np.ndarray  # (n,)
    probabilities: np.ndarray  # (n, K)
    gradients: np.ndarray  # (2, n, K) for SOFTMAX_COSTS
    costs: np.ndarray  # (2, n)


@jax.jit
def _softmax_curves(logits):
    target = jnp.zeros(logits.shape[-1]).at[0].set(1.0)
    ll = jax.vmap(jax.value_and_grad(softmax_log_likelihood), in_axes=(0, None))(logits, target)
    mse = jax.vmap(jax.value_and_grad(softmax_mse), in_axes=(0, None))(logits, target)
    return jax.nn.softmax(logits, axis=-1), jnp.stack([ll[1], mse[1]]), jnp.stack([ll[0], mse[0]])


def softmax_gradient_curves(correct_logit, classes: int, dominant_logit: float) -> SoftmaxCurves:
    r"""Gradients of both softmax costs in the logits, as the correct class's logit sweeps.

    .. math:: \nabla_z C(\mathrm{softmax}(z), e_0) = \texttt{jax.grad}(C)(z),\quad
              z = (z_c, d, 0, \dots, 0)

    As :math:`z_c \to -\infty` (confidently wrong) the log-likelihood's
    :math:`\partial C/\partial z_c \to -1`, while MSE's vanishes like :math:`p_c`.

    Args:
      correct_logit: ``z_c`` to sweep, shape ``(n,)``.
      classes: ``K``, at least 2.
      dominant_logit: ``d``.

    Returns:
      :class:`SoftmaxCurves`: ``probabilities`` ``(n, K)``, ``gradients``
      ``(2, n, K)`` and ``costs`` ``(2, n)`` in :data:`SOFTMAX_COSTS` order.
    """
    if not 2 <= classes:
        raise ValueError(f"need at least 2 classes, got {classes}")
    logits = softmax_logits(correct_logit, classes, dominant_logit)
    p, grads, costs = _softmax_curves(logits)
    return SoftmaxCurves(np.asarray(correct_logit, dtype=np.float32), np.asarray(p), np.asarray(grads),
                         np.asarray(costs))


def softmax_closed_form_gap(curves: SoftmaxCurves, classes: int, dominant_logit: float) -> float:
    r"""Largest :math:`|\texttt{jax.grad} - \text{closed form}|` over both softmax costs and all logits.

    Args:
      curves: the output of :func:`softmax_gradient_curves` with the same ``classes`` and ``dominant_logit``.
      classes: ``K``.
      dominant_logit: ``d``.

    Returns:
      The largest absolute difference, a float.
    """
    logits = softmax_logits(curves.correct_logit, classes, dominant_logit)
    target = jnp.zeros(classes).at[0].set(1.0)
    closed = (softmax_log_likelihood_gradient_closed_form(logits, target),
              softmax_mse_gradient_closed_form(logits, target))
    return max(float(np.max(np.abs(np.asarray(c) - g))) for c, g in zip(closed, curves.gradients))

