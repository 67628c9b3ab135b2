"""The math behind the BCE landscape page, checked against independent computations."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import entr

from lossviz import losses
from lossviz.lessons import bce, bce_mnist

EPS = losses.EPSILON


def numpy_bce(y, p):
    """BCE written out again in float64 numpy, sharing no code with lossviz."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(y > 0, y * np.log(p), 0.0) - np.where(y < 1, (1 - y) * np.log(1 - p), 0.0)


# --------------------------------------------------------------------------
# Slices
# --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(k=st.integers(0, 100), clip=st.booleans())
def test_slice_argmin_is_the_target_on_the_grid(k, clip):
    y = k / 100
    cut = bce.bce_slice(y, clip)
    assert cut.argmin == pytest.approx(y, abs=1e-12)
    assert cut.floor == pytest.approx(float(entr(y) + entr(1 - y)), abs=1e-6)
    assert np.nanmin(cut.bce) == pytest.approx(cut.floor, abs=1e-5)
    # MSE's minimum is at the same place, but it is 0
    assert cut.p[np.argmin(cut.mse)] == pytest.approx(y, abs=1e-12)
    assert cut.mse.min() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("y", [0.0, 0.1, 0.3, 0.5, 0.87, 1.0])
def test_slice_values_match_numpy_and_excess_is_kl(y):
    cut = bce.bce_slice(y, clip=False)
    interior = slice(1, -1)
    np.testing.assert_allclose(cut.bce[interior], numpy_bce(y, cut.p[interior]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cut.excess[interior], cut.bce[interior] - cut.floor, atol=2e-5)
    assert np.all(cut.excess[interior] >= -1e-6)
    on_valley = int(np.argmin(np.abs(cut.p - y)))
    assert cut.excess[on_valley] == pytest.approx(0.0, abs=1e-6)
    if 0 < y < 1:  # the edges a soft target disagrees with are infinite without clipping
        assert np.isinf(cut.bce[0]) and np.isinf(cut.bce[-1])


def test_clipped_slice_is_finite_and_capped_at_minus_log_eps():
    cut = bce.bce_slice(0.3, clip=True)
    assert np.all(np.isfinite(cut.bce))
    expected_edge = -0.3 * np.log(EPS) - 0.7 * np.log1p(-EPS)
    assert cut.bce[0] == pytest.approx(expected_edge, rel=1e-3)


@pytest.mark.parametrize("y", [0.05, 0.3, 0.5, 0.8])
def test_derivative_matches_jax_grad_and_crosses_zero_at_y(y):
    cut = bce.bce_slice(y, clip=False)
    grad = jax.vmap(jax.grad(lambda p: losses.binary_crossentropy_elementwise(y, p, epsilon=None)))
    interior = slice(4, -4)
    p = jnp.asarray(cut.p[interior], jnp.float32)
    np.testing.assert_allclose(cut.dbce[interior], np.asarray(grad(p)), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(cut.dmse[interior], 2 * (cut.p[interior] - y), atol=1e-6)
    left, right = cut.dbce[cut.p < y - 1e-9], cut.dbce[cut.p > y + 1e-9]
    assert np.all(left[1:] < 0) and np.all(right[:-1] > 0)
    second = jax.grad(jax.grad(lambda p: losses.binary_crossentropy_elementwise(y, p, epsilon=None)))
    assert float(second(jnp.float32(y))) > 0


def test_slice_rejects_targets_outside_unit_interval():
    with pytest.raises(ValueError):
        bce.bce_slice(1.5)


# --------------------------------------------------------------------------
# The surface
# --------------------------------------------------------------------------


@pytest.mark.parametrize("points", [5, 21, 61])
def test_surface_shape_valley_and_symmetry(points):
    surface = bce.bce_surface(points, clip=True)
    assert surface.bce.shape == (points, points)
    np.testing.assert_allclose(surface.y, np.linspace(0, 1, points))
    # every row bottoms out on the diagonal p = y, at height H(y)
    np.testing.assert_array_equal(np.argmin(surface.bce, axis=1), np.arange(points))
    np.testing.assert_allclose(surface.bce.min(axis=1), entr(surface.y) + entr(1 - surface.y), atol=2e-5)
    valley_y, valley_h = bce.valley(points)
    np.testing.assert_allclose(np.diag(surface.bce), valley_h, atol=2e-5)
    inner = slice(1, -1)
    # swapping the roles of 0 and 1 flips the surface on both axes (away from the edges,
    # where float32 rounds 1 − ε to 1 − 1.19e-7 and breaks the symmetry of the clip)
    np.testing.assert_allclose(surface.bce[:, inner], surface.bce[::-1, ::-1][:, inner], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(surface.bce[:, inner],
                               numpy_bce(surface.y[:, None], surface.p[None, inner]), rtol=1e-4, atol=1e-5)


def test_surface_edges_clipped_or_infinite():
    clipped = bce.bce_surface(21, clip=True)
    assert np.all(np.isfinite(clipped.bce))
    assert clipped.bce.max() == pytest.approx(-np.log(EPS), rel=1e-3)
    raw = bce.bce_surface(21, clip=False)
    infinite = ~np.isfinite(raw.bce)
    # p = 0 is infinite for every y > 0, p = 1 for every y < 1, nothing else
    assert infinite.sum() == 2 * (21 - 1)
    assert infinite[1:, 0].all() and infinite[:-1, -1].all() and not infinite[:, 1:-1].any()
    assert not raw.bce.flags.writeable


def test_resolutions_in_one_bucket_share_one_compile():
    bce.bce_surface(7, clip=True)
    before = bce._surface_kernel._cache_size()
    for points in (9, 11, 13, 15):
        bce.bce_surface(points, clip=bool(points % 2))
    assert bce._surface_kernel._cache_size() == before


# --------------------------------------------------------------------------
# MNIST floors
# --------------------------------------------------------------------------


def test_floor_matches_independent_numpy_computation(mnist):
    (_, _), (x_test, _) = mnist
    stats = bce_mnist.mnist_floor(x_test)
    x = x_test.reshape(len(x_test), -1).astype(np.float64) / 255.0
    per_image = (entr(x) + entr(1 - x)).mean(axis=1)
    np.testing.assert_allclose(stats.per_image, per_image, rtol=1e-4, atol=1e-6)
    assert stats.mean_floor == pytest.approx(per_image.mean(), rel=1e-5)
    assert stats.fraction_soft == pytest.approx(((x > 0) & (x < 1)).mean(), abs=1e-12)
    assert stats.pixel_sum == pytest.approx(x.sum(axis=1).mean(), rel=1e-5)
    assert stats.hist_counts.sum() == len(x_test)
    assert np.all(np.isfinite(stats.per_image))


def test_training_floor_is_the_known_figure(mnist):
    (x_train, _), _ = mnist
    stats = bce_mnist.mnist_floor(x_train)
    assert stats.images == 60000
    assert 0.056 < stats.mean_floor < 0.060
    assert 0.17 < stats.fraction_soft < 0.20
    assert 95 < stats.pixel_sum < 110


def test_floor_rejects_non_uint8_images():
    with pytest.raises(ValueError):
        bce_mnist.mnist_floor(np.zeros((3, 28, 28), np.float32))


# --------------------------------------------------------------------------
# The softmax output against the simplex bound
# --------------------------------------------------------------------------


def brute_force_simplex(y, points=400):
    """Least mean BCE over a fine grid of the 2-simplex in 3 dimensions (the slow, obvious way)."""
    best = np.inf
    for i, j in itertools.product(range(points + 1), repeat=2):
        if i + j <= points:
            q = np.array([i, j, points - i - j]) / points
            best = min(best, numpy_bce(y, q).mean())
    return best


def test_simplex_optimum_matches_brute_force_on_three_pixels():
    y = np.array([0.9, 0.7, 0.0])
    value, q = bce_mnist.simplex_optimum(y)
    assert q.sum() == pytest.approx(1.0) and q[2] == 0.0
    brute = brute_force_simplex(y)
    assert value <= brute + 1e-12
    assert value == pytest.approx(brute, abs=1e-4)


def test_simplex_optimum_is_certified_by_first_order_conditions(mnist):
    """For convex f on the simplex, q* is optimal iff every vertex direction is uphill:
    min_j ∂f/∂q_j ≥ Σ_i q*_i ∂f/∂q_i.  Gradients come from jax.grad, not the KKT formula."""
    target = bce_mnist.unit_pixels(mnist[1][0][1])
    value, q = bce_mnist.simplex_optimum(target)
    with jax.enable_x64(True):
        y = jnp.asarray(target)

        def f(q):  # y log q only where y > 0, so the gradient at q = 0 (where y = 0) is finite
            q_lit = jnp.where(y > 0, q, 1.0)
            return jnp.mean(-jnp.where(y > 0, y * jnp.log(q_lit), 0.0) - (1 - y) * jnp.log1p(-q))

        grad = np.asarray(jax.grad(f)(jnp.asarray(q)))
        assert float(f(jnp.asarray(q))) == pytest.approx(value, rel=1e-10)
    assert grad.min() >= grad @ q - 1e-9 * abs(grad @ q)
    # and it beats random points of the simplex
    rng = np.random.default_rng(0)
    for alpha in (0.1, 1.0):
        for sample in rng.dirichlet(np.full(784, alpha), size=20):
            assert numpy_bce(target, np.clip(sample, 1e-300, 1)).mean() >= value


@pytest.mark.parametrize("digit,learning_rate", [(1, 0.1), (11, 0.3), (20, 0.03)])
def test_softmax_fit_does_not_beat_the_simplex_bound_and_reaches_it(mnist, digit, learning_rate):
    image = mnist[1][0][digit]
    target = bce_mnist.unit_pixels(image)
    bound, _ = bce_mnist.simplex_optimum(target)
    progress = list(bce_mnist.fit_softmax(target, steps=2000, learning_rate=learning_rate, chunk=250))
    final = progress[-1]
    assert final.done and final.step == 2000 and len(final.losses) == 2000
    assert [p.step for p in progress] == list(range(250, 2001, 250))
    assert final.output.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(final.losses >= bound - 1e-5)
    assert final.loss >= bound - 1e-5
    assert final.loss == pytest.approx(bound, abs=5e-3)
    # what the page shows: Keras's clipped BCE of the fitted output, far above the digit's floor
    shown = bce_mnist.mean_bce(target, final.output)
    assert shown == pytest.approx(final.loss, abs=1e-4)
    floor = bce_mnist.image_floor(image)
    assert shown > 5 * floor


def test_default_digit_shows_the_figures_quoted_in_the_issue(mnist):
    image = mnist[1][0][1]
    bound, _ = bce_mnist.simplex_optimum(bce_mnist.unit_pixels(image))
    assert 0.6 < bound < 0.75
    assert 0.055 < bce_mnist.image_floor(image) < 0.075
    assert 90 < bce_mnist.pixel_total(image) < 120


def test_sigmoid_best_is_the_image_and_scores_its_floor(mnist):
    image = mnist[1][0][1]
    target = bce_mnist.unit_pixels(image)
    floor = bce_mnist.image_floor(image)
    assert floor == pytest.approx((entr(target) + entr(1 - target)).mean(), rel=1e-5)
    assert bce_mnist.mean_bce(target, target) == pytest.approx(floor, abs=1e-5)
    assert bce_mnist.mean_bce(target, np.clip(target + 0.05, 0, 1)) > floor


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError):
        next(bce_mnist.fit_softmax(np.full(4, 0.5), steps=0))
    with pytest.raises(ValueError):
        bce_mnist.simplex_optimum(np.array([0.2, 0.3]))


# --------------------------------------------------------------------------
# Raw 0–255 targets
# --------------------------------------------------------------------------


def test_raw_target_has_no_minimum_and_reaches_keras_clip_value():
    raw = bce.raw_slice(255.0)
    assert raw.derivative_sign_negative
    assert np.all(np.diff(raw.bce) < 0)
    keras_value = float(losses.binary_crossentropy_elementwise(255.0, 1.0))  # clipped to 1 − ε
    assert raw.bce[-1] == pytest.approx(keras_value, rel=1e-3)
    assert raw.bce[-1] < -4000


def test_target_within_unit_interval_does_not_run_away():
    raw = bce.raw_slice(0.5)
    assert not raw.derivative_sign_negative
    assert np.all(np.diff(raw.bce) > 0)


def test_raw_digit_infimum_matches_keras_loss_at_the_clipped_corner(mnist):
    image = mnist[1][0][1]
    y = image.reshape(1, -1).astype(np.float32)
    best_guess = (y > 0).astype(np.float32)  # p = 1 where the pixel is lit, 0 elsewhere; Keras clips both
    keras_value = float(losses.binary_crossentropy(jnp.asarray(y), jnp.asarray(best_guess))[0])
    assert bce_mnist.raw_digit_infimum(image) == pytest.approx(keras_value, rel=1e-3)
    raw = image.reshape(-1).astype(np.float64)

    def constant_output_bce(p):  # every output p, raw targets, written out in numpy
        return float(np.mean(-raw * np.log(p) - (1.0 - raw) * np.log1p(-p)))

    assert bce_mnist.raw_digit_infimum(image) < constant_output_bce(0.999) < constant_output_bce(0.5)


# --------------------------------------------------------------------------
# Logits
# --------------------------------------------------------------------------


@pytest.mark.parametrize("y", [0.0, 0.2, 0.8, 1.0])
def test_logit_view_matches_naive_form_and_gradient(y):
    view = bce.logit_slice(y, z_max=8.0)
    sig = 1 / (1 + np.exp(-view.z))
    np.testing.assert_allclose(view.bce, numpy_bce(y, sig), rtol=1e-4, atol=1e-5)
    naive = jax.vmap(jax.grad(lambda z: -y * jnp.log(jax.nn.sigmoid(z)) - (1 - y) * jnp.log(1 - jax.nn.sigmoid(z))))
    np.testing.assert_allclose(view.grad, np.asarray(naive(jnp.asarray(view.z, jnp.float32))), atol=1e-4)
    assert view.floor == pytest.approx(float(entr(y) + entr(1 - y)), abs=1e-6)
    if 0 < y < 1:
        assert view.z_star == pytest.approx(np.log(y / (1 - y)))
        assert view.z[np.argmin(view.bce)] == pytest.approx(view.z_star, abs=view.z[1] - view.z[0])
    else:
        assert view.z_star is None


def test_logit_view_is_stable_far_out():
    view = bce.logit_slice(1.0, z_max=200.0)
    assert np.all(np.isfinite(view.bce)) and np.all(np.isfinite(view.grad))
    assert view.bce[-1] == pytest.approx(0.0, abs=1e-6)
    assert view.bce[0] == pytest.approx(200.0, rel=1e-4)


def test_fit_reports_divergence_instead_of_drawing_nan():
    target = np.full(784, 0.1)
    target[3] = np.nan
    with pytest.raises(FloatingPointError, match="diverged"):
        list(bce_mnist.fit_softmax(target, steps=200, chunk=100))
