"""Every loss, one home: element-wise blocks and information quantities (elementwise.py), Keras-named losses (keras.py).

May import jax and numpy only; nothing else of lossviz.

Loss functions under their Keras names, as pure ``jnp`` functions.

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

from lossviz.losses.elementwise import (  # noqa: F401  (the one home of every loss, re-exported)
    EPSILON,
    Array,
    Loss,
    bernoulli_kl,
    binary_crossentropy_elementwise,
    binary_crossentropy_with_logits_elementwise,
    binary_entropy,
    cross_entropy,
    entropy,
    kl,
    softplus,
)
from lossviz.losses.keras import (  # noqa: F401
    binary_crossentropy,
    binary_crossentropy_from_logits,
    categorical_crossentropy,
    categorical_crossentropy_from_logits,
    keras_reported_bce,
    kl_divergence,
    kl_divergence_from_logits,
    mean_absolute_error,
    mean_squared_error,
    softmax_bce,
)

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
    """The Keras name behind ``name`` or one of its aliases; ``ValueError`` if unknown.

    Args:
      name: a Keras loss name or alias (``"mse"``, ``"kld"``, …).

    Returns:
      The canonical name.

    Raises:
      ValueError: for an unknown name, listing the known ones.
    """
    key = ALIASES.get(name, name)
    if key not in _PROBABILITY_LOSSES:
        known = ", ".join(sorted(set(_PROBABILITY_LOSSES) | set(ALIASES)))
        raise ValueError(f"unknown loss {name!r}; known losses: {known}")
    return key


def get(name: str, from_logits: bool = False) -> Loss:
    """Look a loss up by its Keras name or alias, like ``keras.losses.get``.

    With ``from_logits=True`` the stable logits form is returned; MSE and MAE
    compare outputs directly and have none, so asking for it is an error.

    Args:
      name: a Keras loss name or alias.
      from_logits: return the stable logits form instead.

    Returns:
      A function ``(y_true, y_pred_or_logits) -> (batch,)``.

    >>> get("kullback_leibler_divergence") is kl_divergence
    True
    """
    key = canonical_name(name)
    if not from_logits:
        return _PROBABILITY_LOSSES[key]
    if key not in _LOGIT_LOSSES:
        raise ValueError(f"{key} compares outputs directly and has no from-logits form")
    return _LOGIT_LOSSES[key]
