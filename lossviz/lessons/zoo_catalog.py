"""How to call each ``optax.losses`` function that scores one prediction against one target.

The zoo never re-implements a loss: each :class:`ZooLoss` names an optax
function and an *adapter*, a one-liner that turns the zoo's common inputs into
that function's own conventions (labels in {0, 1} or {−1, +1}, one-hot or
integer labels, log-probabilities, keyword parameters).  The common inputs:

* binary: a score ``z`` of shape ``(n,)`` and labels ``t ∈ {0, 1}`` of shape ``(n,)``;
* multiclass: logits ``(n, K)`` and integer labels ``(n,)``;
* regression: predictions ``(n,)`` and targets ``(n,)``.

Every adapter returns the per-example loss, shape ``(n,)``.  The hyper-parameters
travel as one float vector ``h`` (indices :data:`GAMMA` …) so that a vmapped
fit can give each member its own values.  Which optax functions exist is
decided by :func:`lossviz.lessons.zoo.survey`, not by this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"


class Param(NamedTuple):
    """A loss parameter shown as a slider."""

    key: str
    label: str
    low: float
    high: float
    default: float
    step: float
    help: str


PARAMS = (
    Param("gamma", "focal γ", 0.0, 5.0, 2.0, 0.25,
          "Exponent of the focal factor (1 − p_t)^γ; γ = 0 is plain (α-weighted) cross-entropy."),
    Param("alpha", "focal α (0 = off)", 0.0, 0.95, 0.0, 0.05,
          "Weight of the positive class, 1 − α for the negative one; 0 means optax's alpha=None."),
    Param("delta", "Huber δ", 0.1, 3.0, 1.0, 0.1,
          "Where Huber turns from quadratic to linear: |r| ≤ δ is squared, beyond it the slope stays δ."),
    Param("epsilon", "poly-1 ε", -1.0, 5.0, 2.0, 0.25,
          "Coefficient of the extra (1 − p_y) term; ε = 0 is softmax cross-entropy (optax's default is 2)."),
)
GAMMA, ALPHA, DELTA, EPSILON = range(len(PARAMS))
DEFAULT_HYPER = tuple(p.default for p in PARAMS)


def hyper_vector(values: dict[str, float] | None = None) -> jax.Array:
    """The parameter vector ``h`` (float32, shape ``(len(PARAMS),)``), defaults where ``values`` is silent."""
    values = values or {}
    return jnp.asarray([float(values.get(p.key, p.default)) for p in PARAMS], jnp.float32)


@dataclass(frozen=True)
class ZooLoss:
    """One optax loss and everything the page says about it."""

    name: str                 # the function's name in optax.losses
    family: str               # BINARY, MULTICLASS or REGRESSION
    title: str                # short human name
    adapt: Callable           # (optax_fn, prediction, target, h) -> per-example loss (n,)
    call: str                 # the optax call as a student would write it
    formula: str              # LaTeX, in the margin m or the residual r
    words: str                # the formula read aloud
    keras: str | None         # the Keras 3 loss name, if Keras has the same loss
    link: str | None          # scores to probabilities: sigmoid, sparse_sigmoid, softmax, sparsemax or none
    params: tuple[str, ...] = ()

    @property
    def function(self) -> Callable:
        return getattr(optax.losses, self.name)

    def __call__(self, prediction: jax.Array, target: jax.Array, h: jax.Array) -> jax.Array:
        """Per-example loss, computed by optax's own function."""
        return self.adapt(self.function, prediction, target, h)


def _signed(t: jax.Array) -> jax.Array:
    return 2.0 * t - 1.0


def _one_hot(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)


def _focal(f, z, t, h):
    # optax's alpha=None is "no weighting"; both calls are made so that α can be traced per member.
    weighted = f(z, t, alpha=jnp.maximum(h[ALPHA], 1e-6), gamma=h[GAMMA])
    return jnp.where(h[ALPHA] > 0, weighted, f(z, t, gamma=h[GAMMA]))


_SIGMOID_PT = r"p_t = \sigma(m)"
CATALOG: tuple[ZooLoss, ...] = (
    # ---- binary: score z, label y ∈ {−1, +1} (t = (y + 1)/2 ∈ {0, 1}), margin m = y·z -------------
    ZooLoss("sigmoid_binary_cross_entropy", BINARY, "sigmoid BCE (logistic)",
            lambda f, z, t, h: f(z, t), "optax.losses.sigmoid_binary_cross_entropy(z, t)  # t in {0, 1}",
            r"\ell(m) = \log\left(1 + e^{-m}\right)",
            "the log of one plus e to the minus margin: never zero, linear for very wrong margins",
            "binary_crossentropy (from_logits=True)", "sigmoid"),
    ZooLoss("hinge_loss", BINARY, "hinge", lambda f, z, t, h: f(z, _signed(t)),
            "optax.losses.hinge_loss(z, y)  # y in {-1, +1}", r"\ell(m) = \max(0,\ 1 - m)",
            "zero once the margin reaches 1, then one unit of loss per unit of margin short of 1",
            "hinge", None),
    ZooLoss("perceptron_loss", BINARY, "perceptron", lambda f, z, t, h: f(z, _signed(t)),
            "optax.losses.perceptron_loss(z, y)  # y in {-1, +1}", r"\ell(m) = \max(0,\ -m)",
            "zero for any correct sign, however small the margin; linear in how wrong the sign is",
            None, None),
    ZooLoss("sigmoid_focal_loss", BINARY, "sigmoid focal", _focal,
            "optax.losses.sigmoid_focal_loss(z, t, alpha=α, gamma=γ)  # t in {0, 1}",
            r"\ell(m) = -\alpha_t\,(1 - p_t)^{\gamma} \log p_t,\quad " + _SIGMOID_PT,
            "cross-entropy scaled down by (1 − p_t)^γ, so confident correct examples count for little",
            "binary_focal_crossentropy", "sigmoid", ("gamma", "alpha")),
    ZooLoss("sparsemax_loss", BINARY, "binary sparsemax", lambda f, z, t, h: f(z, t),
            "optax.losses.sparsemax_loss(z, t)  # t in {0, 1}",
            r"\ell(m) = \begin{cases} 0 & m \ge 1 \\ (1 - m)^2/4 & |m| < 1 \\ -m & m \le -1 \end{cases}",
            "a smoothed hinge: zero from margin 1, quadratic in between, linear for wrong margins",
            None, "sparse_sigmoid"),
    # ---- multiclass: logits z, integer label y, margin m = z_y (other logits 0) ------------------
    ZooLoss("softmax_cross_entropy", MULTICLASS, "softmax CE",
            lambda f, z, y, h: f(z, _one_hot(z, y)), "optax.losses.softmax_cross_entropy(z, one_hot(y))",
            r"\ell(z, y) = -z_y + \log \sum_k e^{z_k}",
            "minus the log of the softmax probability of the true class",
            "categorical_crossentropy (from_logits=True)", "softmax"),
    ZooLoss("softmax_cross_entropy_with_integer_labels", MULTICLASS, "softmax CE (integer labels)",
            lambda f, z, y, h: f(z, y), "optax.losses.softmax_cross_entropy_with_integer_labels(z, y)",
            r"\ell(z, y) = -z_y + \log \sum_k e^{z_k}",
            "the same cross-entropy, the label given as a class index",
            "sparse_categorical_crossentropy (from_logits=True)", "softmax"),
    ZooLoss("safe_softmax_cross_entropy", MULTICLASS, "safe softmax CE",
            lambda f, z, y, h: f(z, _one_hot(z, y)), "optax.losses.safe_softmax_cross_entropy(z, one_hot(y))",
            r"\ell(z, y) = -\sum_k y_k \log \mathrm{softmax}(z)_k,\ 0 \log 0 := 0",
            "the same cross-entropy, also defined when a wrong class has logit −∞",
            "categorical_crossentropy (from_logits=True)", "softmax"),
    ZooLoss("poly_loss_cross_entropy", MULTICLASS, "poly-1",
            lambda f, z, y, h: f(z, _one_hot(z, y), epsilon=h[EPSILON]),
            "optax.losses.poly_loss_cross_entropy(z, one_hot(y), epsilon=ε)",
            r"\ell(z, y) = -\log p_y + \epsilon\,(1 - p_y),\quad p = \mathrm{softmax}(z)",
            "cross-entropy plus ε times the probability given to wrong classes", None, "softmax",
            ("epsilon",)),
    ZooLoss("multiclass_hinge_loss", MULTICLASS, "multiclass hinge", lambda f, z, y, h: f(z, y),
            "optax.losses.multiclass_hinge_loss(z, y)",
            r"\ell(z, y) = \max_k \left(z_k + [k \ne y]\right) - z_y",
            "zero once the true logit beats every other by 1 (Crammer–Singer)", "categorical_hinge", None),
    ZooLoss("multiclass_perceptron_loss", MULTICLASS, "multiclass perceptron", lambda f, z, y, h: f(z, y),
            "optax.losses.multiclass_perceptron_loss(z, y)", r"\ell(z, y) = \max_k z_k - z_y",
            "how far the true logit is below the largest one; zero when it is the largest", None, None),
    ZooLoss("multiclass_sparsemax_loss", MULTICLASS, "multiclass sparsemax", lambda f, z, y, h: f(z, y),
            "optax.losses.multiclass_sparsemax_loss(z, y)",
            r"\ell(z, y) = -z_y + \tfrac12 \sum_{j \in S(z)} \left(z_j^2 - \tau(z)^2\right) + \tfrac12",
            "the sparsemax analogue of cross-entropy: zero once sparsemax puts all mass on the true class",
            None, "sparsemax"),
    ZooLoss("kl_divergence", MULTICLASS, "KL divergence",
            lambda f, z, y, h: f(jax.nn.log_softmax(z), _one_hot(z, y)),
            "optax.losses.kl_divergence(log_softmax(z), one_hot(y))  # log-predictions first",
            r"\ell(z, y) = \sum_k y_k \left(\log y_k - \log \mathrm{softmax}(z)_k\right)",
            "KL(target ‖ prediction); with a one-hot target it equals cross-entropy", "kl_divergence", "softmax"),
    ZooLoss("generalized_kl_divergence", MULTICLASS, "generalized KL",
            lambda f, z, y, h: f(jax.nn.log_softmax(z), _one_hot(z, y)),
            "optax.losses.generalized_kl_divergence(log_softmax(z), one_hot(y))",
            r"\ell(z, y) = \sum_k \left(y_k \log \tfrac{y_k}{p_k} - y_k + p_k\right)",
            "KL extended to unnormalised vectors; for two distributions it is plain KL", None, "softmax"),
    # ---- regression: prediction ŷ, target y, residual r = ŷ − y ---------------------------------
    ZooLoss("squared_error", REGRESSION, "squared error", lambda f, p, y, h: f(p, y),
            "optax.losses.squared_error(prediction, target)", r"\ell(r) = r^2",
            "the residual squared: a point twice as far pulls twice as hard", "mean_squared_error", None),
    ZooLoss("l2_loss", REGRESSION, "L2 (half squared)", lambda f, p, y, h: f(p, y),
            "optax.losses.l2_loss(prediction, target)", r"\ell(r) = \tfrac12 r^2",
            "half the squared residual, so that the derivative is the residual itself", None, None),
    ZooLoss("huber_loss", REGRESSION, "Huber", lambda f, p, y, h: f(p, y, delta=h[DELTA]),
            "optax.losses.huber_loss(prediction, target, delta=δ)",
            r"\ell(r) = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\ \delta\,(|r| - \tfrac12\delta) & |r| > \delta \end{cases}",
            "squared near zero, straight lines beyond δ: a far point pulls no harder than δ", "huber", None,
            ("delta",)),
    ZooLoss("log_cosh", REGRESSION, "log-cosh", lambda f, p, y, h: f(p, y),
            "optax.losses.log_cosh(prediction, target)", r"\ell(r) = \log\cosh r",
            "about r²/2 near zero and |r| − log 2 far away: a smooth Huber with δ = 1", "log_cosh", None),
)

NOT_DRAWN = {
    "convex_kl_divergence": "deprecated in this optax in favour of generalized_kl_divergence (drawn), "
                            "which it calls unchanged",
    "kl_divergence_with_log_targets": "KL with the target in log space: a one-hot target has log 0 = −∞ and "
                                      "0·∞ gives NaN; kl_divergence (drawn) is the same loss for hard labels",
    "cosine_distance": "compares the directions of two vectors; a single score has no direction",
    "cosine_similarity": "a similarity between two vectors' directions, not a loss of one score",
    "binary_dice_loss": "overlap of a whole segmentation mask (a ratio of sums over pixels), not per example",
    "dice_loss": "overlap of whole segmentation masks (ratios of sums over pixels), not per example",
    "multiclass_generalized_dice_loss": "overlap of whole segmentation masks, weighted by class volume",
    "ranking_softmax_loss": "scores a ranked list of items against their relevances, not one prediction",
}
