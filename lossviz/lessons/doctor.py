"""The loss doctor: diagnose a :class:`~lossviz.config.TrainConfig` before it trains.

Each rule looks at the output activation, the loss, the task and the pixel
scaling, and returns a :class:`Finding`: a stable id, a short title, a
two-sentence explanation and a one-click fix (a dict of ``TrainConfig``
changes).  The rules are pure functions of the configuration; nothing here
trains or touches data.

>>> from lossviz.config import PRESETS
>>> [f.id for f in diagnose(PRESETS["seed-autoencoder"])]
['softmax-bce', 'targets-outside-unit']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from lossviz import losses
from lossviz.config import TrainConfig

PROBABILITY_LOSSES = ("binary_crossentropy", "categorical_crossentropy", "kl_divergence")
"""Losses that read the prediction as a probability (Bernoulli or categorical)."""
DISTRIBUTION_LOSSES = ("categorical_crossentropy", "kl_divergence")
"""Losses that compare whole distributions: the outputs must sum to one."""
SQUARED_LOSSES = ("mean_squared_error", "mean_absolute_error")
SATURATING_OUTPUTS = ("sigmoid", "softmax")
UNBOUNDED_OUTPUTS = ("linear", "relu", "tanh")
GRADIENTS_PAGE = "gradients"
"""Link path of the page that shows why a saturated output learns slowly under MSE."""


@dataclass(frozen=True)
class Finding:
    """One problem with a configuration and the change that fixes it."""

    id: str
    title: str
    explanation: str
    fix: dict = field(default_factory=dict)
    fix_label: str = ""
    link: str | None = None
    """Link path of a page that explains the problem (e.g. ``"gradients"``), or ``None``."""


def _loss(config: TrainConfig) -> str:
    try:
        return losses.canonical_name(config.loss)
    except ValueError:
        return config.loss


def _targets_outside_unit(config: TrainConfig) -> bool:
    """Autoencoder targets are the inputs, so raw pixels make targets in 0–255."""
    return config.task == "autoencoder" and config.pixels == "raw"


# --------------------------------------------------------------------------
# The rules: each returns a Finding or None.
# --------------------------------------------------------------------------


def softmax_output_with_bce(config: TrainConfig) -> Finding | None:
    """Softmax output + binary cross-entropy over independent pixels.

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    if not (config.task == "autoencoder" and config.output_activation == "softmax"
            and _loss(config) == "binary_crossentropy"):
        return None
    return Finding(
        id="softmax-bce",
        title="Softmax output with binary cross-entropy over independent pixels",
        explanation=(
            "A softmax makes the 784 outputs sum to 1, so each pixel gets about 1/784 on average "
            "while a digit's target pixels sum to about 100. Binary cross-entropy scores every pixel "
            "as its own yes/no probability, which a sigmoid output gives and a softmax cannot."
        ),
        fix={"output_activation": "sigmoid"},
        fix_label="Use a sigmoid output",
    )


def targets_outside_unit(config: TrainConfig) -> Finding | None:
    """BCE / categorical CE / KL with targets outside [0, 1] (raw-pixel autoencoder).

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    if not (_targets_outside_unit(config) and _loss(config) in PROBABILITY_LOSSES):
        return None
    return Finding(
        id="targets-outside-unit",
        title="Cross-entropy with targets outside [0, 1]",
        explanation=(
            "With raw pixels the autoencoder's targets run from 0 to 255, but cross-entropy reads a "
            "target as a probability, so values above 1 make the loss unbounded below and its minimum "
            "meaningless. Scale the pixels to [0, 1] so that each target is the probability of ink."
        ),
        fix={"pixels": "unit"},
        fix_label="Scale pixels to [0, 1]",
    )


def unbounded_output_probability_loss(config: TrainConfig) -> Finding | None:
    """A linear, relu or tanh output fed to a loss that needs probabilities.

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    loss = _loss(config)
    if not (config.output_activation in UNBOUNDED_OUTPUTS and loss in PROBABILITY_LOSSES):
        return None
    wanted = losses.LOGIT_ACTIVATION[loss]
    return Finding(
        id="unbounded-output-probability-loss",
        title=f"A {config.output_activation} output with a probability loss",
        explanation=(
            f"{loss} takes the log of the prediction, but a {config.output_activation} output can be "
            f"negative, zero or above 1, so the loss is clipped or undefined and its gradient vanishes "
            f"where it matters. A {wanted} output keeps every prediction a valid probability."
        ),
        fix={"output_activation": wanted},
        fix_label=f"Use a {wanted} output",
    )


def mse_saturating_output(config: TrainConfig) -> Finding | None:
    """MSE on a sigmoid or softmax output: learning slows when the output saturates.

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    if not (_loss(config) in SQUARED_LOSSES and config.output_activation in SATURATING_OUTPUTS):
        return None
    if config.output_activation == "sigmoid" or config.task == "autoencoder":
        fix = {"output_activation": "sigmoid", "loss": "binary_crossentropy"}
        fix_label = "Use binary cross-entropy"
    else:
        fix = {"loss": "categorical_crossentropy"}
        fix_label = "Use categorical cross-entropy"
    return Finding(
        id="mse-saturating-output",
        title=f"Squared error on a {config.output_activation} output",
        explanation=(
            f"The gradient of squared error through a {config.output_activation} is multiplied by the "
            "activation's derivative, which is nearly zero when an output is confidently wrong, so "
            "learning crawls exactly when the error is largest. Cross-entropy cancels that factor and "
            "its gradient is simply prediction minus target."
        ),
        fix=fix,
        fix_label=fix_label,
        link=GRADIENTS_PAGE,
    )


def cce_on_sigmoid(config: TrainConfig) -> Finding | None:
    """Categorical cross-entropy (or KL) on sigmoid outputs that need not sum to 1.

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    if not (_loss(config) in DISTRIBUTION_LOSSES and config.output_activation == "sigmoid"):
        return None
    if config.task == "autoencoder":
        fix, fix_label = {"loss": "binary_crossentropy"}, "Use binary cross-entropy"
        remedy = "Pixels are independent yes/no events, so binary cross-entropy is the matching loss."
    else:
        fix, fix_label = {"output_activation": "softmax"}, "Use a softmax output"
        remedy = "A softmax output makes the classes one distribution, which is what the loss compares."
    return Finding(
        id="cce-sigmoid",
        title="Categorical cross-entropy on a sigmoid output",
        explanation=(
            "Categorical cross-entropy compares two distributions, but independent sigmoids need not "
            "sum to 1, so the loss only ever pushes the true class up and never the others down. "
            + remedy
        ),
        fix=fix,
        fix_label=fix_label,
    )


def unreachable_targets(config: TrainConfig) -> Finding | None:
    """A bounded output asked to reproduce 0–255 targets under a squared loss.

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    if not (_targets_outside_unit(config) and _loss(config) in SQUARED_LOSSES
            and config.output_activation in SATURATING_OUTPUTS):
        return None
    return Finding(
        id="unreachable-targets",
        title="Targets the output can never reach",
        explanation=(
            f"A {config.output_activation} output lies in [0, 1] but raw-pixel targets go up to 255, so "
            "the squared error can never fall below the ink it cannot express. Scale the pixels to "
            "[0, 1] so the targets are within the output's range."
        ),
        fix={"pixels": "unit"},
        fix_label="Scale pixels to [0, 1]",
    )


def raw_inputs(config: TrainConfig) -> Finding | None:
    """Raw 0–255 inputs to a classifier: pre-activations 255 times too large.

    Args:
      config: the configuration to check.

    Returns:
      A :class:`Finding`, or ``None`` when the rule does not apply.
    """
    if not (config.task == "classifier" and config.pixels == "raw"):
        return None
    return Finding(
        id="raw-inputs",
        title="Raw 0–255 inputs",
        explanation=(
            "Inputs up to 255 make the first layer's pre-activations about 255 times larger than "
            "with pixels in [0, 1], so the softmax saturates at once and the gradient steps are huge. "
            "Scaling the pixels to [0, 1] keeps the default initialisation and learning rate sensible."
        ),
        fix={"pixels": "unit"},
        fix_label="Scale pixels to [0, 1]",
    )


RULES: tuple[Callable[[TrainConfig], Finding | None], ...] = (
    softmax_output_with_bce,
    targets_outside_unit,
    unbounded_output_probability_loss,
    mse_saturating_output,
    cce_on_sigmoid,
    unreachable_targets,
    raw_inputs,
)


def diagnose(config: TrainConfig) -> list[Finding]:
    """Every finding of :data:`RULES` for ``config``, in rule order.

    Args:
      config: the configuration to check.

    Returns:
      A list of :class:`Finding`, empty when nothing is wrong.
    """
    return [finding for rule in RULES if (finding := rule(config)) is not None]


def apply_fix(config: TrainConfig, finding: Finding) -> TrainConfig:
    """``config`` with ``finding``'s changes applied.

    Args:
      config: the configuration.
      finding: one of ``diagnose(config)``.

    Returns:
      A new ``TrainConfig``.
    """
    return config.replace(**finding.fix)
