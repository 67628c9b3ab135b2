"""The math behind the Gradients page: jax.grad against closed forms, the classic slowdown, softmax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lossviz.lessons import gradients as g
from lossviz.lessons import neuron_curves as nc
from lossviz.lessons import softmax_gradients as sg
from lossviz.figures import gradients as gp

RNG = np.random.default_rng(5)
QUAD, CE = g.COSTS.index("quadratic"), g.COSTS.index("cross_entropy")


def test_sigmoid_prime_is_the_derivative_of_sigmoid():
    z = jnp.asarray(RNG.uniform(-8, 8, 200), jnp.float32)
    np.testing.assert_allclose(g.sigmoid_prime(z), jax.vmap(jax.grad(g.sigmoid))(z), atol=1e-7)
    assert float(g.sigmoid_prime(0.0)) == pytest.approx(0.25)
    np.testing.assert_allclose(g.logit(g.sigmoid(z)), z, atol=2e-3)


def test_neuron_costs_equal_the_costs_of_its_output():
    z = RNG.uniform(-6, 6, 50).astype(np.float32)
    y = RNG.uniform(0, 1, 50).astype(np.float32)
    for zi, yi in zip(z, y):
        a = g.sigmoid(zi)
        assert float(g.neuron_cost((0.0, zi), 1.0, yi, QUAD)) == pytest.approx(float(g.quadratic_cost(a, yi)), abs=1e-6)
        assert float(g.neuron_cost((0.0, zi), 1.0, yi, CE)) == pytest.approx(float(g.cross_entropy_cost(a, yi)),
                                                                             rel=1e-4, abs=1e-5)


def test_jax_grad_equals_closed_forms_over_random_z_y_x():
    z = RNG.uniform(-10, 10, 300).astype(np.float32)
    y = RNG.uniform(0, 1, 300).astype(np.float32)
    x = RNG.uniform(-3, 3, 300).astype(np.float32)
    w = RNG.uniform(-2, 2, 300).astype(np.float32)
    b = z - w * x  # any (w, b) with w x + b = z
    for cost_index, closed in ((QUAD, g.quadratic_gradient_closed_form), (CE, g.cross_entropy_gradient_closed_form)):
        dw, db = jax.vmap(g.neuron_gradient, in_axes=((0, 0), 0, 0, None))((w, b), x, y, cost_index)
        want_dw, want_db = closed(jnp.asarray(w * x + b), x, y)
        np.testing.assert_allclose(dw, want_dw, atol=2e-5)
        np.testing.assert_allclose(db, want_db, atol=2e-5)


def test_gradient_curves_match_closed_forms_and_sigma_prime_cancels_under_cross_entropy():
    for x, y in ((1.0, 0.0), (-2.0, 0.7), (0.5, 1.0)):
        curves = nc.gradient_curves(nc.curve_grid("z", 201), x, y)
        assert nc.closed_form_gap(curves, x, y) < 1e-5
        # The quadratic gradient is the cross-entropy one times σ′(z): the whole lesson in one identity.
        np.testing.assert_allclose(curves.db[QUAD], curves.db[CE] * curves.sigma_prime, atol=1e-6)
        np.testing.assert_allclose(curves.dw[CE], (curves.a - y) * x, atol=1e-5)


def test_curve_grid_over_a_is_uniform_in_the_output():
    z = nc.curve_grid("a", 101)
    a = np.asarray(g.sigmoid(z))
    np.testing.assert_allclose(np.diff(a), np.diff(a)[0], atol=1e-4)
    with pytest.raises(ValueError):
        nc.curve_grid("w")


@pytest.mark.parametrize("threshold", [0.01, 0.05, 0.2])
def test_saturation_bound_is_where_sigma_prime_crosses_the_threshold(threshold):
    bound = g.saturation_bound(threshold)
    assert float(g.sigmoid_prime(bound)) == pytest.approx(threshold, rel=1e-4)
    assert float(g.sigmoid_prime(bound + 0.1)) < threshold < float(g.sigmoid_prime(bound - 0.1))
    low, high = g.saturation_outputs(threshold)
    assert high == pytest.approx(float(g.sigmoid(bound)), rel=1e-6) and low == pytest.approx(1 - high)


def test_two_points_table_flags_only_the_saturated_far_off_quadratic_update():
    rows = nc.two_points_table(1.0, threshold=0.05)
    assert [(r["output a"], r["target y"]) for r in rows] == [(0.82, 0.0), (0.98, 0.0), (0.82, 1.0), (0.98, 1.0)]
    for r in rows:
        a = r["output a"]
        assert r["σ′(z)"] == pytest.approx(a * (1 - a), rel=1e-4)
        assert r["∂C/∂b cross-entropy"] == pytest.approx(a - r["target y"], abs=1e-5)
        assert r["∂C/∂b quadratic"] == pytest.approx((a - r["target y"]) * a * (1 - a), rel=1e-4)
    unreasonable = [(r["output a"], r["target y"]) for r in rows if "not reasonable" in r["quadratic verdict"]]
    assert unreasonable == [(0.98, 0.0)]
    assert all("not reasonable" not in r["cross-entropy verdict"] for r in rows)
    # The saturated neuron's quadratic step is ~50× smaller than cross-entropy's.
    assert rows[1]["∂C/∂w cross-entropy"] / rows[1]["∂C/∂w quadratic"] == pytest.approx(1 / (0.98 * 0.02), rel=1e-3)


def test_classic_slowdown_at_the_defaults():
    saturated = g.train_neuron(*g.CLASSIC_STARTS["0.98"], x=1.0, y=0.0, epochs=300)
    lively = g.train_neuron(*g.CLASSIC_STARTS["0.82"], x=1.0, y=0.0, epochs=300)
    assert saturated.a[QUAD, 0] == pytest.approx(0.982, abs=1e-3)
    assert lively.a[QUAD, 0] == pytest.approx(0.818, abs=1e-3)
    assert saturated.a[QUAD, 100] > 0.9
    assert lively.a[QUAD, 300] < 0.2
    reached = g.first_epoch_within(saturated.a[CE], 0.0, 0.2)
    assert reached is not None and reached <= 50
    # The quadratic cost from 0.98 has barely moved after 150 epochs, while the one from 0.82 has learned.
    assert saturated.a[QUAD, 150] > 0.9 > 0.2 > lively.a[QUAD, 150]


def test_training_follows_the_closed_form_update_and_slices_the_one_scan():
    w0, b0, x, y, eq, ece = 0.3, -1.2, 1.7, 0.4, 0.5, 0.2
    h = g.train_neuron(w0, b0, x, y, eq, ece, epochs=20)
    assert h.w.shape == (2, 21) and h.epochs == 20 and h.finite
    w, b = np.array([w0, w0], np.float64), np.array([b0, b0], np.float64)
    for t in range(20):
        np.testing.assert_allclose(h.w[:, t], w, atol=1e-4)
        np.testing.assert_allclose(h.b[:, t], b, atol=1e-4)
        z = w * x + b
        steps = (g.quadratic_gradient_closed_form(z[0], x, y), g.cross_entropy_gradient_closed_form(z[1], x, y))
        for i, (eta, (dw, db)) in enumerate(zip((eq, ece), steps)):
            w[i] -= eta * float(dw)
            b[i] -= eta * float(db)
    np.testing.assert_allclose(h.a, g.sigmoid(h.w * x + h.b), atol=1e-6)
    longer = g.train_neuron(w0, b0, x, y, eq, ece, epochs=60)
    np.testing.assert_allclose(longer.w[:, :21], h.w)
    with pytest.raises(ValueError):
        g.train_neuron(w0, b0, x, y, epochs=g.NEURON_MAX_EPOCHS + 1)


def test_learning_rates_act_per_cost():
    base = g.train_neuron(2.0, 2.0, 1.0, 0.0, 0.15, 0.15, epochs=50)
    faster_quadratic = g.train_neuron(2.0, 2.0, 1.0, 0.0, 1.5, 0.15, epochs=50)
    np.testing.assert_allclose(faster_quadratic.w[CE], base.w[CE])
    assert faster_quadratic.a[QUAD, 50] < base.a[QUAD, 50]


def test_cost_surfaces_cover_the_paths_and_agree_with_the_neuron_cost():
    h = g.train_neuron(2.0, 2.0, 1.0, 0.0, epochs=100)
    w_axis, b_axis, surfaces = g.cost_surfaces(h, 1.0, 0.0, points=21)
    assert surfaces.shape == (2, 21, 21)
    assert w_axis.min() < h.w.min() and w_axis.max() > h.w.max()
    assert b_axis.min() < h.b.min() and b_axis.max() > h.b.max()
    i, j = 7, 13
    for c in range(2):
        want = float(g.neuron_cost((w_axis[j], b_axis[i]), 1.0, 0.0, c))
        assert surfaces[c, i, j] == pytest.approx(want, rel=1e-5)


def test_classic_start_name_and_first_epoch_within():
    assert g.classic_start_name(2.0, 2.0) == "0.98" and g.classic_start_name(0.6, 0.9) == "0.82"
    assert g.classic_start_name(0.6, 1.0) is None
    assert g.first_epoch_within(np.array([0.9, 0.5, 0.1, 0.3]), 0.0, 0.2) == 2
    assert g.first_epoch_within(np.array([0.9, 0.5]), 1.0, 0.05) is None


@pytest.mark.parametrize("classes, dominant", [(2, 0.0), (3, 5.0), (10, 8.0)])
def test_softmax_gradients_match_jax_grad_of_optax(classes, dominant):
    zc = np.linspace(-10, 10, 41, dtype=np.float32)
    curves = sg.softmax_gradient_curves(zc, classes, dominant)
    logits = sg.softmax_logits(zc, classes, dominant)
    target = jnp.zeros(classes).at[0].set(1.0)
    optax_grad = jax.vmap(jax.grad(optax.softmax_cross_entropy), in_axes=(0, None))(logits, target)
    np.testing.assert_allclose(curves.gradients[0], optax_grad, atol=1e-6)
    np.testing.assert_allclose(sg.softmax_log_likelihood_gradient_closed_form(logits, target), optax_grad, atol=1e-6)
    np.testing.assert_allclose(curves.costs[0], jax.vmap(optax.softmax_cross_entropy, in_axes=(0, None))(logits, target),
                               rtol=1e-5, atol=1e-6)
    mse_grad = jax.vmap(jax.grad(lambda z: optax.l2_loss(jax.nn.softmax(z), target).mean() * 2))(logits)
    np.testing.assert_allclose(curves.gradients[1], mse_grad, atol=1e-7)
    assert sg.softmax_closed_form_gap(curves, classes, dominant) < 1e-6
    np.testing.assert_allclose(curves.probabilities.sum(-1), 1.0, atol=1e-6)


def test_softmax_mse_gradient_vanishes_when_confidently_wrong_and_log_likelihood_does_not():
    curves = sg.softmax_gradient_curves(np.array([-10.0, 0.0], np.float32), 10, 8.0)
    assert curves.gradients[0, 0, 0] == pytest.approx(-1.0, abs=1e-3)
    assert abs(curves.gradients[1, 0, 0]) < 1e-6
    assert abs(curves.gradients[1, 0, 0]) < 1e-4 * abs(curves.gradients[0, 0, 0])
    with pytest.raises(ValueError):
        sg.softmax_gradient_curves(np.zeros(3, np.float32), 1, 0.0)


def test_figures_show_what_they_are_given():
    curves = nc.gradient_curves(nc.curve_grid("z", 101), 1.0, 0.0)
    fig = gp.gradient_curves_figure(curves, "z", g.saturation_bound(0.05), 0.05, nc.classic_marks(), 1.0, 0.0)
    shapes = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(shapes) == 2 and shapes[1].x0 == pytest.approx(g.saturation_bound(0.05))
    names = [t.name for t in fig.data]
    assert "∂C/∂w quadratic" in names and "∂C/∂w cross-entropy" in names
    h = g.train_neuron(2.0, 2.0, 1.0, 0.0, epochs=30)
    fig = gp.training_figure(h, 12, "a")
    markers = [t for t in fig.data if t.mode == "markers"]
    assert [m.x[0] for m in markers] == [12, 12]
    assert markers[0].y[0] == pytest.approx(h.a[QUAD, 12])
    w_axis, b_axis, surfaces = g.cost_surfaces(h, 1.0, 0.0, points=11)
    fig = gp.path_figure(w_axis, b_axis, surfaces, h, 7)
    diamonds = [t for t in fig.data if t.type == "scatter" and t.marker.symbol == "diamond"]
    assert [(d.x[0], d.y[0]) for d in diamonds] == [(h.w[i, 7], h.b[i, 7]) for i in range(2)]


def test_softmax_figure_shades_where_the_wrong_class_is_confident():
    curves = sg.softmax_gradient_curves(sg.softmax_logit_grid(201), 3, 8.0)
    fig = gp.softmax_figure(curves, 3, 8.0, confident_level=0.9)
    (band,) = [s for s in fig.layout.shapes if s.type == "rect"]
    confident = curves.correct_logit[curves.probabilities[:, 1] > 0.9]
    assert band.x0 == pytest.approx(confident.min()) and band.x1 == pytest.approx(confident.max())
    assert 5.0 < band.x1 < 6.5  # p(wrong) = e^8 / (e^8 + e^z + 1) falls below 0.9 near z ≈ 5.8
    none_confident = gp.softmax_figure(sg.softmax_gradient_curves(sg.softmax_logit_grid(51), 10, 0.0), 10, 0.0)
    assert not [s for s in none_confident.layout.shapes if s.type == "rect"]
