"""What a run minimises and how it steps: the compile-time ``Spec``, the loss of the outputs, the optimizers.

Losses are computed honestly on what the model outputs (:func:`output_loss`).
Where the output activation is the one a loss has a stable from-logits form
for (sigmoid + BCE, softmax + categorical CE), that exact form is used;
otherwise the Keras probability form with its clipping.  A softmax
autoencoder trained with BCE is scored on its softmax probabilities
(``losses.softmax_bce``), not on its logits; ``losses.keras_reported_bce`` is
the number Keras 3 would print instead.

Optimizers follow Keras's defaults, where a user would compare numbers:

* Adam uses Keras's ``epsilon=1e-7`` (``optax.adam(lr, eps=1e-7)``).  Keras
  adds ε to ``sqrt(v)`` before bias correction, optax after; the two differ
  by a factor ``sqrt(1 - β₂ᵗ)`` on ε, immaterial beyond the first steps.
* RMSprop uses Keras's ``rho=0.9, epsilon=1e-7`` with ε inside the square
  root; SGD is plain (no momentum).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from lossviz import losses
from lossviz.config import OPTIMIZERS, TrainConfig
from lossviz.engine import models


class Spec(NamedTuple):
    """The static (compile-time) part of a config: what changes the traced program."""

    hidden_activation: str
    output_activation: str
    loss: str
    optimizer: str
    batch_size: int
    autoencoder: bool
    classes: bool
    num_classes: int = 0


def spec_of(config: TrainConfig) -> Spec:
    """The config's :class:`Spec` (the loss under its canonical Keras name).

    >>> from lossviz.config import PRESETS
    >>> spec_of(PRESETS["blobs-kl"].replace(loss="kld")).loss
    'kl_divergence'
    """
    return Spec(
        hidden_activation=config.hidden_activation, output_activation=config.output_activation,
        loss=losses.canonical_name(config.loss), optimizer=config.optimizer,
        batch_size=config.batch_size, autoencoder=config.task == "autoencoder",
        classes=config.task != "autoencoder",
        num_classes={"classifier": 10, "blobs": 3}.get(config.task, 0),
    )


def _uses_logits(output_activation: str, loss: str) -> bool:
    return losses.LOGIT_ACTIVATION.get(loss) == output_activation and loss != "kl_divergence"


def output_loss(config: TrainConfig | Spec, logits: jax.Array, targets: jax.Array) -> jax.Array:
    r"""The per-example loss of the model's *outputs* ``activate(logits)`` against ``targets``.

    * sigmoid + BCE, softmax + categorical CE: the exact from-logits forms
      (what Keras 3 computes for these pairs too);
    * softmax + BCE: ``losses.softmax_bce``, Keras's clipped BCE of the
      softmax probabilities, computed stably;
    * anything else: the Keras probability form (``losses.get(name)``) of the
      activated outputs, with Keras's clipping (KL divergence included, so
      it matches Keras's ``kl_divergence``).

    Args:
      config: the run's config, or its :class:`Spec` (inside jitted code).
      logits: the output layer's pre-activations, shape ``(batch, outputs)``.
      targets: what the outputs should be, shape ``(batch, outputs)``.

    Returns:
      One loss per example, shape ``(batch,)``.

    >>> from lossviz.config import PRESETS
    >>> output_loss(PRESETS["classifier-cce"], jnp.zeros((1, 10)), jnp.eye(10)[:1])
    Array([2.3025851], dtype=float32)
    """
    spec = config if isinstance(config, Spec) else spec_of(config)
    if _uses_logits(spec.output_activation, spec.loss):
        return losses.get(spec.loss, from_logits=True)(targets, logits)
    if spec.output_activation == "softmax" and spec.loss == "binary_crossentropy":
        return losses.softmax_bce(targets, logits)
    return losses.get(spec.loss)(targets, models.activate(logits, spec.output_activation))


def keras_differs(spec: Spec) -> bool:
    """Keras 3 reports a different number only for softmax + BCE (see ``losses.keras_reported_bce``)."""
    return spec.output_activation == "softmax" and spec.loss == "binary_crossentropy"


def optimizer(name: str, learning_rate) -> optax.GradientTransformation:
    """Keras-default Adam (ε 1e-7), plain SGD or Keras-default RMSprop (ρ 0.9, ε 1e-7 in the root).

    Args:
      name: ``"adam"``, ``"sgd"`` or ``"rmsprop"``.
      learning_rate: a float or a traced scalar (runs that differ only in it share compiled code).

    Returns:
      The optax transformation.

    >>> optimizer("sgd", 0.5).update({"w": jnp.ones(2)}, optimizer("sgd", 0.5).init({"w": jnp.ones(2)}))[0]
    {'w': Array([-0.5, -0.5], dtype=float32)}
    """
    if name == "adam":
        return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-7)
    if name == "sgd":
        return optax.sgd(learning_rate)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=True)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {name!r}")


def batch_loss(params, xb, yb, wb, spec: Spec):
    """``(loss, keras)``: the ``wb``-weighted mean loss of one batch, and what Keras 3 would report for it.

    Args:
      params: ``models`` parameters ``[(kernel, bias), …]``.
      xb: inputs ``(batch, inputs)``; yb: targets ``(batch, outputs)``;
      wb: weights ``(batch,)``, 1 for real examples and 0 for padding.
      spec: the run's :class:`Spec`.

    Returns:
      Two scalars; equal unless :func:`keras_differs`.
    """
    logits = models.apply(params, xb, spec.hidden_activation)
    per_example = output_loss(spec, logits, yb)
    count = jnp.sum(wb)
    loss = jnp.sum(per_example * wb) / count
    if keras_differs(spec):
        keras = jnp.sum(losses.keras_reported_bce(yb, logits) * wb) / count
    else:
        keras = loss
    return loss, keras
