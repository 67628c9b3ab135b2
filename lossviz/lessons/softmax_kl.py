r"""The softmax explorer and KL's asymmetry, for the "Softmax & KL" page.

* the softmax explorer: probabilities, cross-entropy, entropy, KL and the
  gradient ``softmax(z) − p`` of a logit vector against a target, with the
  identity :math:`H(P, Q) = H(P) + \mathrm{KL}(P\|Q)`;
* discrete KL asymmetry: each term's contribution to KL(P‖Q) and KL(Q‖P).

The page's other two parts live beside this module: forward vs reverse KL
fits in :mod:`lossviz.lessons.kl_fit`, the 2-D classifier trained at many
learning rates in :mod:`lossviz.lessons.classifier`.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lossviz import losses

# --------------------------------------------------------------------------
# Softmax explorer
# --------------------------------------------------------------------------

MAX_CLASSES = 10


def parse_distribution(text: str, k: int | None = None) -> np.ndarray:
    r"""Comma-separated non-negative weights, normalised to a distribution.

    .. math:: p_k = w_k / \sum_j w_j

    ``ValueError`` (with a message a visitor can act on) if a value is not a
    finite number, is negative, all are zero, or there are not ``k`` of them.

    >>> parse_distribution("1, 1, 2")
    array([0.25, 0.25, 0.5 ])

    Args:
      text: e.g. ``"0.2, 0.5, 0.3"``.
      k: the number of values required, or ``None`` for 2 … :data:`MAX_CLASSES`.

    Returns:
      float64 array, shape ``(k,)``, summing to 1.

    Raises:
      ValueError: with the message to show.
    """
    parts = [part.strip() for part in str(text).split(",")]
    if not parts or any(part == "" for part in parts):
        raise ValueError("write numbers separated by commas, e.g. 0.2,0.5,0.3")
    try:
        weights = np.array([float(part) for part in parts], dtype=np.float64)
    except ValueError:
        raise ValueError("every entry must be a number, e.g. 0.2,0.5,0.3") from None
    if not np.all(np.isfinite(weights)):
        raise ValueError("every entry must be a finite number")
    if len(weights) < 2 or len(weights) > MAX_CLASSES:
        raise ValueError(f"give between 2 and {MAX_CLASSES} values, not {len(weights)}")
    if k is not None and len(weights) != k:
        raise ValueError(f"give exactly {k} values (one per class), not {len(weights)}")
    if np.any(weights < 0):
        raise ValueError("weights cannot be negative")
    total = weights.sum()
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    return weights / total


def parse_positive_distribution(text: str, k: int | None = None) -> np.ndarray:
    """:func:`parse_distribution`, but every probability must be > 0 so both KL directions are finite.

    Args:
      text: e.g. ``"0.2, 0.5, 0.3"``.
      k: the number of values required, or ``None``.

    Returns:
      float64 array, shape ``(k,)``, every entry > 0, summing to 1.

    Raises:
      ValueError: with the message to show.
    """
    p = parse_distribution(text, k)
    if np.any(p <= 0):
        raise ValueError("every value must be positive here (a zero makes one KL direction infinite)")
    return p


def uniform_distribution(k: int) -> np.ndarray:
    """:math:`p_j = 1/k` for every class: the fallback while a typed target is invalid.

    Args:
      k: the number of classes.

    Returns:
      float64 array, shape ``(k,)``.
    """
    return np.full(k, 1.0 / k)


def one_hot_target(k: int, index: int) -> np.ndarray:
    """The one-hot distribution on class ``index`` (0-based) of ``k``: :math:`p_j = [j = i]`.

    Args:
      k: the number of classes.
      index: the class, 0 … k − 1.

    Returns:
      float64 array, shape ``(k,)``.

    >>> one_hot_target(3, 1)
    array([0., 1., 0.])
    """
    p = np.zeros(k)
    p[index] = 1.0
    return p


class ExplorerStats(NamedTuple):
    probabilities: np.ndarray
    cross_entropy: float
    entropy: float
    kl: float
    gradient: np.ndarray


def explore_softmax(logits: Sequence[float], target: Sequence[float]) -> ExplorerStats:
    r"""Softmax of ``logits`` against ``target`` P, with the identity's three numbers.

    .. math:: q = \mathrm{softmax}(z),\quad H(P, Q) = H(P) + \mathrm{KL}(P\|Q),\quad
              \frac{\partial H(P, Q)}{\partial z} = q - p

    The cross-entropy comes from the stable from-logits form; entropy and KL
    from :mod:`lossviz.losses`.

    Args:
      logits: ``z``, ``K`` numbers.
      target: ``P``, a distribution over ``K`` classes.

    Returns:
      :class:`ExplorerStats`: ``probabilities`` and ``gradient`` of shape
      ``(K,)``; cross-entropy, entropy and KL in nats, floats.
    """
    z = jnp.asarray(logits, jnp.float32)
    p = jnp.asarray(target, jnp.float32)
    q = jax.nn.softmax(z)
    log_q = jax.nn.log_softmax(z)
    ce = losses.categorical_crossentropy_from_logits(p, z)
    h = losses.entropy(p)
    kl = jnp.sum(jax.scipy.special.xlogy(p, p) - p * log_q)
    return ExplorerStats(np.asarray(q), float(ce), float(h), float(kl), np.asarray(q - p))


def kl_contributions(p: Sequence[float], q: Sequence[float]) -> np.ndarray:
    r"""The terms of KL(P‖Q), one per outcome; they sum to the divergence.

    .. math:: c_k = p_k \log\frac{p_k}{q_k}, \qquad \mathrm{KL}(P\|Q) = \sum_k c_k

    A term can be negative (where :math:`q_k > p_k`); the sum never is.

    Args:
      p: ``P``, a distribution, shape ``(K,)``.
      q: ``Q``, a distribution, shape ``(K,)``.

    Returns:
      float32 array, shape ``(K,)``.

    >>> kl_contributions([0.5, 0.5], [0.5, 0.5])
    array([0., 0.], dtype=float32)
    """
    p = jnp.asarray(p, jnp.float32)
    q = jnp.asarray(q, jnp.float32)
    return np.asarray(jax.scipy.special.xlogy(p, p) - jax.scipy.special.xlogy(p, q))


class KLBothWays(NamedTuple):
    forward_terms: np.ndarray  # p_k log(p_k/q_k)
    reverse_terms: np.ndarray  # q_k log(q_k/p_k)
    forward: float             # KL(P‖Q)
    reverse: float             # KL(Q‖P)

    @property
    def difference(self) -> float:
        """KL(Q‖P) − KL(P‖Q): zero for every pair only if KL were symmetric."""
        return self.reverse - self.forward


def kl_both_ways(p: Sequence[float], q: Sequence[float]) -> KLBothWays:
    r"""Both directions' terms and totals: :math:`\mathrm{KL}(P\|Q)` and :math:`\mathrm{KL}(Q\|P)`.

    Args:
      p: ``P``, shape ``(K,)``.
      q: ``Q``, shape ``(K,)``.

    Returns:
      :class:`KLBothWays`: each direction's terms, shape ``(K,)``, and total.
    """
    forward_terms, reverse_terms = kl_contributions(p, q), kl_contributions(q, p)
    return KLBothWays(forward_terms, reverse_terms, float(forward_terms.sum()), float(reverse_terms.sum()))
