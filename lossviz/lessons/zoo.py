r"""The math behind the "Loss zoo" page: every optax loss against the margin or the residual.

* :func:`survey` lists ``optax.losses`` itself and sorts every public function
  into the drawn ones (those with an adapter in :mod:`.zoo_catalog`) and the
  rest, each with the reason it is not drawn;
* :func:`curves` gives the loss and its derivative (``jax.grad`` through optax)
  along a 1-D slice: the margin :math:`m = y z` (binary), the target-class
  logit :math:`z_y` with the other logits at 0 (multiclass), or the residual
  :math:`r = \hat y - y` (regression);
* :func:`properties` computes, from such curves, whether a loss is convex,
  has a bounded gradient, reaches zero, gives calibrated probabilities and
  resists outliers (each check's method and source is in :data:`PROPERTY_NOTES`).

Fits live in :mod:`.zoo_fit`, uploads in :mod:`.zoo_upload`.
"""

from __future__ import annotations

import inspect
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz.lessons.zoo_catalog import (BINARY, CATALOG, DEFAULT_HYPER, MULTICLASS, NOT_DRAWN, PARAMS,
                                         REGRESSION, ZooLoss)

CURVE_CLASSES = 3          # the multiclass slice: logits (m, 0, 0), true class first (the blobs have 3)
CURVE_RANGE = (-4.0, 4.0)
CURVE_STRIDE = 4           # plot every fourth point of the property grid: steps of 0.04, both ends included
# Every evaluation uses PROPERTY_POINTS points, so each loss compiles one program per number of classes.
PROPERTY_POINTS = 1201
SLICE_GRID = np.linspace(-6.0, 6.0, PROPERTY_POINTS, dtype=np.float32)  # steps of 0.01, 0.0 exactly inside
MAX_CHOSEN = 5
OPTAX_VERSION = optax.__version__
DEFAULT_CLASSIFICATION = ("sigmoid_binary_cross_entropy", "hinge_loss", "perceptron_loss", "sigmoid_focal_loss",
                          "softmax_cross_entropy")
DEFAULT_REGRESSION = ("squared_error", "huber_loss", "log_cosh")

# The two inputs of a function that scores a prediction against a target, as optax names them.
_PAIRS = {("predictions", "targets"), ("logits", "labels"), ("predictor_outputs", "targets"),
          ("scores", "labels"), ("log_predictions", "targets"), ("log_predictions", "log_targets")}


class Survey(NamedTuple):
    drawn: tuple[ZooLoss, ...]          # in catalogue order
    skipped: dict[str, str]             # optax name -> why it is not drawn
    unknown: tuple[str, ...]            # pairwise functions this lossviz has no adapter for (a newer optax)


def survey(module=optax.losses) -> Survey:
    """Sort every public function of ``module`` (``optax.losses``) into drawn and not drawn.

    A function is a candidate when its first two parameters are a prediction
    and a target (:data:`_PAIRS`); a candidate is drawn when the catalogue
    says how to call it.  Catalogue entries the installed optax lacks are
    silently left out, so the zoo is always exactly what optax provides.
    """
    by_name = {loss.name: loss for loss in CATALOG}
    found, skipped, unknown = set(), {}, []
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if name.startswith("_") or not callable(obj) or inspect.isclass(obj):
            continue
        first_two = tuple(list(inspect.signature(obj).parameters)[:2])
        if first_two not in _PAIRS:
            skipped[name] = f"takes ({', '.join(first_two)}): not one prediction scored against one target"
        elif name in by_name:
            found.add(name)
        elif name in NOT_DRAWN:
            skipped[name] = NOT_DRAWN[name]
        else:
            skipped[name] = "not drawn yet: this optax is newer than the zoo's table of adapters"
            unknown.append(name)
    return Survey(tuple(loss for loss in CATALOG if loss.name in found), skipped, tuple(unknown))


def survey_rows() -> list[dict[str, str]]:
    """Every public function of ``optax.losses``: drawn (and as what) or why not."""
    found = survey()
    rows = [{"optax.losses.": loss.name, "drawn": f"yes: {loss.family}", "why not": ""} for loss in found.drawn]
    rows += [{"optax.losses.": name, "drawn": "no", "why not": why} for name, why in found.skipped.items()]
    return sorted(rows, key=lambda row: row["optax.losses."])


def zoo() -> dict[str, ZooLoss]:
    """The drawn losses by optax name (cached: optax does not change while the server runs)."""
    return _zoo()


@lru_cache(maxsize=1)
def _zoo() -> dict[str, ZooLoss]:
    return {loss.name: loss for loss in survey().drawn}


def family_names(*families: str) -> list[str]:
    """Names of the drawn losses of the given families, in catalogue order."""
    return [name for name, loss in zoo().items() if loss.family in families]


# --------------------------------------------------------------------------
# One loss along a 1-D slice
# --------------------------------------------------------------------------


def slice_loss(loss: ZooLoss, x: jax.Array, h: jax.Array, positive=True,
               classes: int = CURVE_CLASSES) -> jax.Array:
    r"""The loss along the slice, one value per entry of ``x`` (shape ``(n,)``).

    Binary: score :math:`z = x` against the positive (``positive``) or negative
    label, so for the positive class the margin is :math:`m = x`.  Multiclass:
    logits :math:`(x, 0, \dots, 0)` against class 0 (``positive``) or class 1.
    Regression: prediction :math:`x` against target 0, so the residual is :math:`x`.
    """
    if loss.family == BINARY:
        return loss(x, jnp.where(positive, 1.0, 0.0) * jnp.ones_like(x), h)
    if loss.family == MULTICLASS:
        logits = jnp.concatenate([x[:, None], jnp.zeros((x.shape[0], classes - 1), x.dtype)], axis=1)
        return loss(logits, jnp.where(positive, 0, 1) * jnp.ones(x.shape, jnp.int32), h)
    return loss(x, jnp.zeros_like(x), h)


@partial(jax.jit, static_argnames=("name", "classes"))
def _values_and_slopes(name: str, x: jax.Array, h: jax.Array, positive: jax.Array, classes: int):
    loss = zoo()[name]
    # Each value depends only on its own x, so the gradient of the sum is the pointwise derivative.
    total = lambda x: jnp.sum(slice_loss(loss, x, h, positive, classes))  # noqa: E731
    return slice_loss(loss, x, h, positive, classes), jax.grad(total)(x)


def values_and_slopes(name: str, x, hyper=DEFAULT_HYPER, positive: bool = True,
                      classes: int = CURVE_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """ℓ and dℓ/dx (from ``jax.grad`` through the optax function) at each ``x``, as float32 numpy arrays."""
    if zoo()[name].family != MULTICLASS:
        classes = CURVE_CLASSES  # unused: one compiled program whatever the caller passed
    values, slopes = _values_and_slopes(name, jnp.asarray(x, jnp.float32), jnp.asarray(hyper, jnp.float32),
                                        jnp.bool_(positive), classes)
    return np.asarray(values), np.asarray(slopes)


class Curves(NamedTuple):
    x: np.ndarray            # (points,) margin or residual
    names: list[str]
    values: np.ndarray       # (losses, points)
    slopes: np.ndarray       # (losses, points)


def curves(names, hyper=DEFAULT_HYPER, x_range=CURVE_RANGE, stride: int = CURVE_STRIDE) -> Curves:
    """Loss and derivative of each named loss along its slice (see :func:`slice_loss`), on every
    ``stride``-th point of :data:`SLICE_GRID` within ``x_range``."""
    shown = np.flatnonzero((SLICE_GRID >= x_range[0] - 1e-6) & (SLICE_GRID <= x_range[1] + 1e-6))[::stride]
    pairs = [values_and_slopes(name, SLICE_GRID, hyper) for name in names]
    return Curves(SLICE_GRID[shown], list(names), np.array([v[shown] for v, _ in pairs]).reshape(len(pairs), -1),
                  np.array([s[shown] for _, s in pairs]).reshape(len(pairs), -1))


# --------------------------------------------------------------------------
# Properties, computed from curves
# --------------------------------------------------------------------------

CONVEX_GRID = SLICE_GRID
WIDE, WIDER = 50.0, 100.0
BOUND_GRID = np.linspace(-WIDER, WIDER, PROPERTY_POINTS, dtype=np.float32)
CALIBRATION_GRID = np.linspace(-8.0, 8.0, PROPERTY_POINTS, dtype=np.float32)
CALIBRATION_ETAS = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
SKEWED_SAMPLE = np.random.default_rng(7).exponential(1.0, PROPERTY_POINTS).astype(np.float32)

_TWO_CLASS_LINKS = {  # logits (z, 0) or score z -> probability of the first class
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)), "softmax": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "sparse_sigmoid": lambda z: np.clip((z + 1.0) / 2.0, 0.0, 1.0),
    "sparsemax": lambda z: np.clip((z + 1.0) / 2.0, 0.0, 1.0),
}

PROPERTY_NOTES = {
    "convex": "Computed: ℓ′ (from jax.grad) never decreases on [−6, 6], i.e. the curve's second differences are "
              "≥ 0. Along this slice only: convex in all logits implies it, not the converse.",
    "bounded gradient": f"Computed: the largest |ℓ′| on [−{WIDER:g}, {WIDER:g}] is no larger than on "
                        f"[−{WIDE:g}, {WIDE:g}] (to 1 %).",
    "zero when right": "Computed: ℓ is exactly 0 at some margin in [0, 6] (classification) or at residual 0.",
    "calibrated": "Classification, computed on two classes: for true class probabilities η = 0.1 … 0.9, the score "
                  "z* minimising η ℓ(z, first) + (1 − η) ℓ(z, second), read through the loss's own link "
                  "(σ, softmax, sparsemax), gives back η (to 0.01): a proper scoring rule (Gneiting & Raftery "
                  "2007). No link, no probability (hinge, perceptron: Bartlett, Jordan & McAuliffe 2006). "
                  "Regression, computed: the best constant prediction for a skewed sample is its mean "
                  "(squared error elicits the mean; Gneiting 2011).",
    "robust": "Classification, computed: ℓ(z, first) + ℓ(z, second) is constant, the symmetry that makes a loss "
              "tolerant of random label noise (Ghosh, Kumar & Sastry 2017). Regression, computed: a bounded "
              "gradient, so one far outlier has bounded pull (bounded influence: Huber 1964, Hampel 1974).",
}
PROPERTY_COLUMNS = tuple(PROPERTY_NOTES)


def _yes(ok: bool, detail: str) -> str:
    return f"{'yes' if ok else 'no'} ({detail})"


def properties(name: str, hyper=DEFAULT_HYPER) -> dict[str, str]:
    """Each of :data:`PROPERTY_COLUMNS` as "yes (…)" or "no (…)", the detail giving the number behind it."""
    return dict(_properties(name, tuple(float(v) for v in hyper)))


@lru_cache(maxsize=512)
def _properties(name: str, hyper: tuple[float, ...]) -> tuple[tuple[str, str], ...]:
    loss = zoo()[name]
    regression = loss.family == REGRESSION
    values, slopes = values_and_slopes(name, CONVEX_GRID, hyper)
    worst_bend = float(np.min(np.diff(slopes)))
    scale = max(float(np.max(np.abs(slopes))), 1e-6)
    found = {"convex": _yes(worst_bend >= -1e-5 * scale, f"least change of ℓ′ per step {worst_bend:+.2g}")}

    _, wide_slopes = values_and_slopes(name, BOUND_GRID, hyper)
    inner = float(np.max(np.abs(wide_slopes[np.abs(BOUND_GRID) <= WIDE])))
    outer = float(np.max(np.abs(wide_slopes)))
    bounded = np.isfinite(outer) and outer <= 1.01 * inner + 1e-6
    found["bounded gradient"] = _yes(bounded, f"|ℓ′| ≤ {outer:.3g}" if bounded else
                                     f"|ℓ′| reaches {inner:.3g} at ±{WIDE:g} and {outer:.3g} at ±{WIDER:g}")

    if regression:
        centre = int(np.argmin(np.abs(CONVEX_GRID)))  # exactly 0.0: the grid is symmetric with an odd length
        found["zero when right"] = _yes(values[centre] == 0.0, f"ℓ({CONVEX_GRID[centre]:g}) = {values[centre]:.3g}")
    else:
        right = CONVEX_GRID >= 0
        zeros = CONVEX_GRID[right][values[right] == 0.0]
        found["zero when right"] = _yes(zeros.size > 0, f"ℓ = 0 from m = {zeros[0]:.2f}" if zeros.size else
                                        f"ℓ(6) = {values[-1]:.2g} > 0")

    found["calibrated"] = _elicits_mean(name, hyper) if regression else _calibrated(loss, hyper)
    if regression:
        found["robust"] = _yes(bounded, "bounded pull" if bounded else "pull grows with the residual")
    else:
        first, second = _two_class_values(name, hyper)
        total = first + second
        spread = float(total.max() - total.min())
        found["robust"] = _yes(spread <= 1e-4 * max(1.0, float(np.abs(total).max())),
                               f"ℓ(z, +) + ℓ(z, −) spans {spread:.3g}")
    return tuple(found.items())


def _two_class_values(name: str, hyper) -> tuple[np.ndarray, np.ndarray]:
    """ℓ(z, first class) and ℓ(z, second class) on :data:`CALIBRATION_GRID`, two classes, float64."""
    first = values_and_slopes(name, CALIBRATION_GRID, hyper, True, 2)[0].astype(np.float64)
    second = values_and_slopes(name, CALIBRATION_GRID, hyper, False, 2)[0].astype(np.float64)
    return first, second


def best_scores(name: str, hyper=DEFAULT_HYPER, etas=CALIBRATION_ETAS) -> np.ndarray:
    """For each class-1 probability η, the score minimising the expected two-class loss (grid search)."""
    first, second = _two_class_values(name, hyper)
    risk = etas[:, None] * first[None] + (1.0 - etas[:, None]) * second[None]
    # A flat minimum (perceptron) has many minimisers: take the middle of them.
    at_min = risk <= risk.min(axis=1, keepdims=True) + 1e-7
    return np.array([np.median(CALIBRATION_GRID[row]) for row in at_min])


def _calibrated(loss: ZooLoss, hyper) -> str:
    if loss.link is None:
        return "no (a score without a probability reading)"
    probabilities = _TWO_CLASS_LINKS[loss.link](best_scores(loss.name, hyper).astype(np.float64))
    error = np.abs(probabilities - CALIBRATION_ETAS)
    worst = int(np.argmax(error))
    if error[worst] <= 0.01:
        return _yes(True, f"{loss.link} of the best score is η to {error[worst]:.3f}")
    return _yes(False, f"at η = {CALIBRATION_ETAS[worst]:g} the best score says {probabilities[worst]:.2f}")


def best_constant(name: str, hyper=DEFAULT_HYPER, sample=SKEWED_SAMPLE, iterations: int = 40) -> float:
    """The constant c minimising Σᵢ ℓ(c − yᵢ): what the loss estimates of a sample (mean, median, …).

    Bisection on Σᵢ ℓ′(c − yᵢ) = 0, which increases with c for a convex loss
    (every regression loss in optax is convex, and :func:`properties` says so).
    """
    low, high = float(sample.min()), float(sample.max())
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        pull = float(np.sum(values_and_slopes(name, middle - sample, hyper)[1], dtype=np.float64))
        low, high = (middle, high) if pull < 0 else (low, middle)
    return 0.5 * (low + high)


def _elicits_mean(name: str, hyper) -> str:
    best, mean, median = best_constant(name, hyper), float(SKEWED_SAMPLE.mean()), float(np.median(SKEWED_SAMPLE))
    ok = abs(best - mean) <= 0.01
    return _yes(ok, f"best constant {best:.2f}; the sample's mean {mean:.2f}, median {median:.2f}")


def property_table(names, hyper=DEFAULT_HYPER, details: bool = False) -> list[dict[str, str]]:
    """One row per loss: its title and each property, as "yes"/"no" or (``details``) the number behind it."""
    rows = []
    for name in names:
        found = properties(name, hyper)
        rows.append({"loss": zoo()[name].title, **{k: _split(v)[1 if details else 0] for k, v in found.items()}})
    return rows


def _split(answer: str) -> tuple[str, str]:
    """"yes (detail)" -> ("yes", "detail")."""
    verdict, _, detail = answer.partition(" (")
    return verdict, detail[:-1]


def param_keys(names) -> set[str]:
    """The parameters (keys of :data:`PARAMS`) that the named losses use."""
    return {key for name in names for key in zoo()[name].params}


__all__ = ["BINARY", "MULTICLASS", "REGRESSION", "PARAMS", "MAX_CHOSEN", "survey", "survey_rows", "zoo",
           "family_names", "curves", "properties", "property_table", "values_and_slopes", "slice_loss",
           "best_scores", "best_constant", "param_keys"]
