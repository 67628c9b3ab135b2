"""The loss zoo's math: optax found by introspection, values against closed forms, jax.grad against finite
differences, computed properties, the vmapped fit against separate runs, and the CSV checks."""

from __future__ import annotations

import types

import jax
import numpy as np
import optax
import pytest

from lossviz.lessons import zoo
from lossviz.lessons import zoo_fit as zf
from lossviz.lessons import zoo_upload
from lossviz.lessons.zoo_catalog import CATALOG, hyper_vector

# --------------------------------------------------------------------------
# Which optax functions are drawn
# --------------------------------------------------------------------------


def test_every_public_function_of_optax_losses_is_drawn_or_explained():
    found = zoo.survey()
    public = {n for n in dir(optax.losses) if not n.startswith("_") and callable(getattr(optax.losses, n))}
    drawn = {loss.name for loss in found.drawn}
    assert drawn | set(found.skipped) == public
    assert not drawn & set(found.skipped)
    assert found.unknown == (), "optax grew a loss the zoo cannot call yet"
    assert {"sigmoid_focal_loss", "huber_loss", "multiclass_sparsemax_loss", "poly_loss_cross_entropy"} <= drawn
    assert "takes (anchors, positives)" in found.skipped["triplet_margin_loss"]


def test_a_new_pairwise_function_in_optax_is_reported_not_drawn():
    def brand_new_loss(predictions, targets):
        return predictions - targets

    fake = types.SimpleNamespace(brand_new_loss=brand_new_loss, hinge_loss=optax.losses.hinge_loss,
                                 smooth_labels=optax.losses.smooth_labels)
    found = zoo.survey(fake)
    assert [loss.name for loss in found.drawn] == ["hinge_loss"]
    assert found.unknown == ("brand_new_loss",)
    assert "smooth_labels" in found.skipped


# --------------------------------------------------------------------------
# Values and derivatives along the slice
# --------------------------------------------------------------------------

POINTS = np.array([-2.3, -0.3, 0.4, 1.7, 3.1])  # away from every kink (hinge 1, sparsemax ±1 and −½, Huber ±δ)
STEP = 1e-2


def _sigmoid(m):
    return 1.0 / (1.0 + np.exp(-m))


def _sparsemax_loss(z, y):
    """Martins & Astudillo (2016), eq. 19, from a sort: −z_y + ½Σ_{j∈S}(z_j² − τ²) + ½."""
    ordered = np.sort(z)[::-1]
    cumulative = np.cumsum(ordered)
    k = np.arange(1, len(z) + 1)
    support = k[1 + k * ordered > cumulative].max()
    tau = (cumulative[support - 1] - 1) / support
    chosen = z > tau
    return -z[y] + 0.5 * np.sum(z[chosen] ** 2 - tau ** 2) + 0.5


def _ce3(m):  # softmax cross-entropy of logits (m, 0, 0) against class 0
    return -m + np.log(np.exp(m) + 2.0)


def _huber(r, d):
    return np.where(np.abs(r) <= d, 0.5 * r ** 2, d * (np.abs(r) - 0.5 * d))


def _focal(m, gamma, alpha):
    p = _sigmoid(m)
    return (alpha if alpha > 0 else 1.0) * (1 - p) ** gamma * -np.log(p)


REFERENCES = [  # (optax name, parameters, closed form or NumPy reference of the slice)
    ("sigmoid_binary_cross_entropy", {}, lambda m: np.log1p(np.exp(-m))),
    ("hinge_loss", {}, lambda m: np.maximum(0, 1 - m)),
    ("perceptron_loss", {}, lambda m: np.maximum(0, -m)),
    ("sigmoid_focal_loss", {"gamma": 2.0, "alpha": 0.0}, lambda m: _focal(m, 2.0, 0.0)),
    ("sigmoid_focal_loss", {"gamma": 0.5, "alpha": 0.25}, lambda m: _focal(m, 0.5, 0.25)),
    ("sparsemax_loss", {}, lambda m: np.where(m >= 1, 0, np.where(m <= -1, -m, (1 - m) ** 2 / 4))),
    ("softmax_cross_entropy", {}, _ce3),
    ("softmax_cross_entropy_with_integer_labels", {}, _ce3),
    ("safe_softmax_cross_entropy", {}, _ce3),
    ("poly_loss_cross_entropy", {"epsilon": 2.0}, lambda m: _ce3(m) + 2.0 * (1 - np.exp(m) / (np.exp(m) + 2))),
    ("poly_loss_cross_entropy", {"epsilon": -1.0}, lambda m: _ce3(m) - (1 - np.exp(m) / (np.exp(m) + 2))),
    ("multiclass_hinge_loss", {}, lambda m: np.maximum(0, 1 - m)),
    ("multiclass_perceptron_loss", {}, lambda m: np.maximum(0, -m)),
    ("multiclass_sparsemax_loss", {}, lambda m: np.array([_sparsemax_loss(np.array([v, 0, 0]), 0) for v in m])),
    ("kl_divergence", {}, _ce3),  # one-hot target: H(y) = 0, so KL = cross-entropy
    ("generalized_kl_divergence", {}, _ce3),
    ("squared_error", {}, lambda r: r ** 2),
    ("l2_loss", {}, lambda r: 0.5 * r ** 2),
    ("huber_loss", {"delta": 1.0}, lambda r: _huber(r, 1.0)),
    ("huber_loss", {"delta": 0.5}, lambda r: _huber(r, 0.5)),
    ("log_cosh", {}, lambda r: np.log(np.cosh(r))),
]


def test_the_reference_table_covers_every_drawn_loss():
    assert {name for name, _, _ in REFERENCES} == set(zoo.zoo())


@pytest.mark.parametrize("name, params, reference", REFERENCES,
                         ids=[f"{n}-{'-'.join(f'{k}{v:g}' for k, v in p.items())}" for n, p, _ in REFERENCES])
def test_values_match_the_closed_form_and_the_derivative_matches_finite_differences(name, params, reference):
    # Padded to the page's grid length so that the test reuses the page's compiled program.
    x = zoo.SLICE_GRID.copy()
    x[:15] = np.concatenate([POINTS - STEP, POINTS, POINTS + STEP])
    values, slopes = zoo.values_and_slopes(name, x, hyper_vector(params))
    below, at, above = values[:5].astype(np.float64), values[5:10], values[10:15].astype(np.float64)
    np.testing.assert_allclose(at, reference(POINTS), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(slopes[5:10], (above - below) / (2 * STEP), rtol=2e-3, atol=2e-3)


def test_the_derivative_is_minus_one_minus_sigmoid_for_logistic_loss():
    x = zoo.SLICE_GRID
    _, slopes = zoo.values_and_slopes("sigmoid_binary_cross_entropy", x)
    np.testing.assert_allclose(slopes, -_sigmoid(-x.astype(np.float64)), atol=1e-6)


def test_curves_are_drawn_on_every_fourth_grid_point_between_minus_four_and_four():
    found = zoo.curves(["hinge_loss", "squared_error"])
    assert found.x[0] == pytest.approx(-4.0) and found.x[-1] == pytest.approx(4.0)
    assert found.values.shape == found.slopes.shape == (2, len(found.x))
    np.testing.assert_allclose(found.values[1], found.x.astype(np.float64) ** 2, rtol=1e-6)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


def _verdicts(name, **params):
    return {k: v.split(" ")[0] for k, v in zoo.properties(name, hyper_vector(params)).items()}


def test_hinge_is_convex_with_a_bounded_gradient_zero_past_margin_one_and_no_probabilities():
    assert _verdicts("hinge_loss") == {"convex": "yes", "bounded gradient": "yes", "zero when right": "yes",
                                       "calibrated": "no", "robust": "no"}
    assert "m = 1.00" in zoo.properties("hinge_loss")["zero when right"]


def test_logistic_loss_is_proper_and_focal_loss_is_not_unless_gamma_is_zero():
    assert _verdicts("sigmoid_binary_cross_entropy")["calibrated"] == "yes"
    assert _verdicts("sigmoid_binary_cross_entropy")["zero when right"] == "no"
    # The minimiser of η·ℓ(z, 1) + (1 − η)·ℓ(z, 0) for log loss is the logit of η.
    etas = zoo.CALIBRATION_ETAS
    np.testing.assert_allclose(zoo.best_scores("sigmoid_binary_cross_entropy"), np.log(etas / (1 - etas)),
                               atol=0.01)
    focal = _verdicts("sigmoid_focal_loss", gamma=2.0)
    assert focal["calibrated"] == "no" and focal["convex"] == "no"
    assert _verdicts("sigmoid_focal_loss", gamma=0.0)["calibrated"] == "yes"
    assert _verdicts("sigmoid_focal_loss", gamma=0.0, alpha=0.25)["calibrated"] == "no"  # weighting moves it


def test_squared_error_elicits_the_mean_and_huber_resists_outliers():
    assert _verdicts("squared_error") == {"convex": "yes", "bounded gradient": "no", "zero when right": "yes",
                                          "calibrated": "yes", "robust": "no"}
    assert zoo.best_constant("squared_error") == pytest.approx(float(zoo.SKEWED_SAMPLE.mean()), abs=1e-4)
    huber = _verdicts("huber_loss")
    assert huber["bounded gradient"] == huber["robust"] == "yes" and huber["calibrated"] == "no"
    # A tiny δ makes Huber a scaled absolute error, whose best constant is the median.
    assert zoo.best_constant("huber_loss", hyper_vector({"delta": 0.1})) == pytest.approx(
        float(np.median(zoo.SKEWED_SAMPLE)), abs=0.05)


# --------------------------------------------------------------------------
# The vmapped fit
# --------------------------------------------------------------------------


def _mean_optax_loss(name, frame0_params, points, task, hyper):
    """The first recorded loss, recomputed by calling optax directly on the initial network's outputs."""
    mean, std = points.x.mean(0), points.x.std(0) + 1e-6
    from lossviz.engine import models

    out = np.asarray(models.apply(frame0_params, (points.x - mean) / std, "tanh"))
    h = hyper_vector(hyper)
    if task == zf.REGRESSION_TASK:
        return float(np.mean(zoo.zoo()[name](out[:, 0], points.y, h)))
    loss = zoo.zoo()[name]
    if loss.family == zoo.BINARY:
        onehot = np.eye(out.shape[1], dtype=np.float32)[points.y]
        return float(np.mean(np.sum(np.asarray(loss(out.ravel(), onehot.ravel(), h)).reshape(out.shape), 1)))
    return float(np.mean(loss(out, points.y, h)))


@pytest.mark.parametrize("task, names, points", [
    (zf.REGRESSION_TASK, ["squared_error", "huber_loss", "log_cosh"], zf.regression_points(0.2, 0)),
    (zf.CLASSIFICATION_TASK, ["hinge_loss", "softmax_cross_entropy"], zf.blob_points(0.1, 0)),
], ids=["regression", "classification"])
def test_k_losses_in_one_vmapped_run_equal_k_separate_runs(task, names, points):
    hyper = {"delta": 0.7}
    together = zf.fit_to_end(task, names, points, 100, 0, hyper)
    assert together.losses.shape == (len(names), 100)
    initial = models_init(task, points)
    for i, name in enumerate(names):
        alone = zf.fit_to_end(task, [name], points, 100, 0, hyper)
        np.testing.assert_allclose(together.losses[i], alone.losses[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(zf.predict(together, points.x)[i], zf.predict(alone, points.x)[0],
                                   rtol=1e-4, atol=1e-5)
        assert together.losses[i, 0] == pytest.approx(_mean_optax_loss(name, initial, points, task, hyper),
                                                      rel=1e-5)


def models_init(task, points):
    from lossviz.engine import models

    return models.init(jax.random.PRNGKey(0), zf.widths_for(task, "line", points.classes))


def test_with_outliers_huber_lands_nearer_the_true_line_than_squared_error():
    points = zf.regression_points(0.2, 0)
    frame = zf.fit_to_end(zf.REGRESSION_TASK, ["squared_error", "huber_loss"], points, 400, 0)
    squared, huber = (row["RMS distance from the true line"] for row in zf.regression_summary(frame, points))
    assert huber < 0.5 * squared
    slope, intercept = zf.line_coefficients(frame)[1]
    assert slope == pytest.approx(zf.TRUE_SLOPE, abs=0.15) and intercept == pytest.approx(zf.TRUE_INTERCEPT,
                                                                                          abs=0.5)


def test_a_fit_refuses_too_many_losses_and_losses_of_the_other_task():
    points = zf.regression_points(0.0, 0)
    with pytest.raises(ValueError, match="between 1 and 5"):
        next(zf.fit(zf.REGRESSION_TASK, ["squared_error"] * 6, points, 50, 0))
    with pytest.raises(ValueError, match="hinge_loss cannot train a regression model"):
        next(zf.fit(zf.REGRESSION_TASK, ["hinge_loss"], points, 50, 0))


def test_label_noise_moves_the_chosen_fraction_to_other_classes():
    points = zf.blob_points(0.2, 3)
    assert points.corrupted.sum() == 60
    assert np.all(points.y[points.corrupted] != points.clean[points.corrupted])
    assert np.array_equal(points.y[~points.corrupted], points.clean[~points.corrupted])


# --------------------------------------------------------------------------
# Uploaded CSVs
# --------------------------------------------------------------------------

MALFORMED = [
    ("wrong column", b"x1,y,label\n1,2,a\n", "Column 2 is named `y`"),
    ("missing column", b"x1,x2\n1,2\n", "no column label"),
    ("duplicate column", b"x1,x2,x1\n1,2,3\n", "x1 appears twice"),
    ("text in a number", b"x1,x2,label\n1,2,a\n3,abc,b\n", "Line 3, column x2: `abc` is not a number"),
    ("NaN", b"x1,x2,label\n1,2,a\nnan,2,b\n", "Line 3, column x1 is `nan`"),
    ("infinity", b"x1,x2,label\n1,inf,a\n", "Line 2, column x2 is `inf`"),
    ("empty cell", b"x1,x2,label\n1,,a\n", "Line 2, column x2 is empty"),
    ("missing label", b"x1,x2,label\n1,2,\n", "Line 2, column label is empty"),
    ("ragged row", b"x1,x2,label\n1,2,a\n1,2\n", "Line 3 has 2 fields"),
    ("too many rows", b"x1,x2,label\n" + b"1,2,a\n3,4,b\n" * 3, "More than 5 data rows (line 7"),
    ("one class", b"x1,x2,label\n1,2,a\n3,4,a\n", "Every point has the label `a`"),
    ("too many classes", b"x1,x2,label\n" + b"".join(b"%d,0,%d\n" % (k, k) for k in range(4)),
     "4 different values: at most 3"),
    ("not UTF-8", "x1,x2,label\n1,2,caf\u00e9\n".encode("latin-1"), "not UTF-8 text: byte 0xe9 on line 2"),
    ("empty file", b"", "The file is empty"),
    ("header only", b"x1,x2,label\n", "no data rows"),
    ("far too large", b"x" * 2000, "too large"),
    ("markdown in a cell", b"x1,x2,label\n$1*,2,a\n", "Line 2, column x1: `$1*` is not a number"),
]


@pytest.mark.parametrize("raw, message", [(raw, msg) for _, raw, msg in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_each_malformed_csv_gets_its_own_message(raw, message):
    with pytest.raises(zoo_upload.UploadError) as caught:
        zoo_upload.read_points(raw, max_rows=5, max_classes=3)
    assert message in str(caught.value)


def test_a_good_csv_reads_in_any_column_order_with_a_bom_and_blank_lines():
    raw = "\ufefflabel, X2 ,x1\n10,0.5,1\n\n2,1.5,-1\n10,2,3e0\n".encode("utf-8")
    points, names = zoo_upload.read_points(raw, max_rows=5, max_classes=3)
    assert names == ["2", "10"]  # numeric labels in numeric order
    np.testing.assert_array_equal(points.x, [[1, 0.5], [-1, 1.5], [3, 2]])
    np.testing.assert_array_equal(points.y, [1, 0, 1])
    assert points.classes == 2
