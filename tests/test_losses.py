"""The loss library against optax, closed forms and jax.grad."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings, strategies as st

from lossviz import losses

RNG = np.random.default_rng(0)
Y_SOFT = RNG.uniform(size=(5, 7)).astype(np.float32)
Z = RNG.normal(scale=3.0, size=(5, 7)).astype(np.float32)
ONE_HOT = np.eye(7, dtype=np.float32)[RNG.integers(0, 7, size=5)]
DIST = (lambda a: a / a.sum(-1, keepdims=True))(RNG.uniform(0.05, 1.0, size=(5, 7)).astype(np.float32))


def jitted(fn):
    return jax.jit(fn)


def test_bce_from_logits_matches_optax():
    ours = jitted(losses.binary_crossentropy_from_logits)(Y_SOFT, Z)
    ref = jnp.mean(optax.sigmoid_binary_cross_entropy(Z, Y_SOFT), axis=-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_bce_from_probabilities_matches_logits_form_away_from_clipping():
    ours = jitted(losses.binary_crossentropy)(Y_SOFT, jax.nn.sigmoid(Z))
    ref = losses.binary_crossentropy_from_logits(Y_SOFT, Z)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_bce_closed_form():
    y, p = 0.3, 0.8
    expected = -(0.3 * np.log(0.8) + 0.7 * np.log(0.2))
    got = losses.binary_crossentropy(jnp.array([[y, y]]), jnp.array([[p, p]]))
    np.testing.assert_allclose(got, [expected], rtol=1e-6)


def test_categorical_crossentropy_matches_optax():
    ours = jitted(losses.categorical_crossentropy_from_logits)(DIST, Z)
    ref = optax.softmax_cross_entropy(Z, DIST)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    from_probs = jitted(losses.categorical_crossentropy)(DIST, jax.nn.softmax(Z))
    np.testing.assert_allclose(from_probs, ref, rtol=1e-4, atol=1e-5)


def test_categorical_crossentropy_renormalises_like_keras():
    unnormalised = jnp.array([[2.0, 2.0]])
    np.testing.assert_allclose(
        losses.categorical_crossentropy(jnp.array([[0.0, 1.0]]), unnormalised), [np.log(2.0)], rtol=1e-6)


def test_kl_matches_optax_with_its_argument_order():
    # optax.kl_divergence(log_predictions, targets) = Σ targets · (log targets − log_predictions)
    ref = optax.kl_divergence(jax.nn.log_softmax(Z), DIST)
    np.testing.assert_allclose(jitted(losses.kl_divergence_from_logits)(DIST, Z), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jitted(losses.kl_divergence)(DIST, jax.nn.softmax(Z)), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(losses.kl(DIST, jax.nn.softmax(Z)), ref, rtol=1e-4, atol=1e-5)


def test_mse_and_mae_against_l2_loss_and_numpy():
    pred = jax.nn.sigmoid(Z)
    # optax.l2_loss is ½(pred − target)², so MSE is twice its mean.
    ref = 2.0 * jnp.mean(optax.l2_loss(pred, Y_SOFT), axis=-1)
    np.testing.assert_allclose(jitted(losses.mean_squared_error)(Y_SOFT, pred), ref, rtol=1e-6)
    np.testing.assert_allclose(jitted(losses.mean_absolute_error)(Y_SOFT, pred),
                               np.mean(np.abs(np.asarray(pred) - Y_SOFT), axis=-1), rtol=1e-6)


def test_extreme_logits_are_exact_and_finite():
    z = jnp.array([[1e4, -1e4]])
    np.testing.assert_allclose(jitted(losses.binary_crossentropy_from_logits)(jnp.array([[1.0, 0.0]]), z), [0.0])
    np.testing.assert_allclose(jitted(losses.binary_crossentropy_from_logits)(jnp.array([[0.0, 1.0]]), z), [1e4])
    np.testing.assert_allclose(jitted(losses.categorical_crossentropy_from_logits)(jnp.array([[0.0, 1.0]]), z), [2e4])
    np.testing.assert_allclose(jitted(losses.kl_divergence_from_logits)(jnp.array([[1.0, 0.0]]), z), [0.0])
    np.testing.assert_allclose(
        losses.binary_crossentropy_from_logits(jnp.array([[1.0, 0.0]]), z),
        jnp.mean(optax.sigmoid_binary_cross_entropy(z, jnp.array([[1.0, 0.0]])), -1))
    grads = jax.grad(lambda z: losses.binary_crossentropy_from_logits(jnp.array([[0.3, 0.7]]), z).sum())(z)
    assert np.all(np.isfinite(grads))


def test_probabilities_at_zero_and_one_are_clipped_like_keras():
    y = jnp.array([[1.0, 0.0, 1.0, 0.0]])
    p = jnp.array([[0.0, 1.0, 1.0, 0.0]])
    per_pixel = jitted(lambda y, p: losses.binary_crossentropy_elementwise(y, p))(y, p)
    assert np.all(np.isfinite(per_pixel))
    assert per_pixel[0, 0] == pytest.approx(-np.log(np.float32(1e-7)), rel=1e-3)
    assert per_pixel[0, 1] > 15.0
    assert per_pixel[0, 2] < 1e-6 and per_pixel[0, 3] < 1e-6
    unclipped = losses.binary_crossentropy_elementwise(y, p, epsilon=None)
    assert np.isinf(unclipped[0, 0]) and np.isinf(unclipped[0, 1])
    assert unclipped[0, 2] == 0.0 and unclipped[0, 3] == 0.0
    assert np.isfinite(losses.kl_divergence(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]]))).all()
    assert np.isfinite(losses.categorical_crossentropy(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]]))).all()


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0))
def test_bce_minimised_at_p_equals_y_with_minimum_entropy(y):
    grid = np.linspace(0.0, 1.0, 2001)
    with jax.enable_x64(True):
        curve = np.asarray(losses.binary_crossentropy_elementwise(y, jnp.asarray(grid), epsilon=None))
        at_y = float(losses.binary_crossentropy_elementwise(y, jnp.float64(y), epsilon=None))
        floor = float(losses.binary_entropy(jnp.float64(y)))
    # The grid minimum lies within one grid step of y (at p = 0 or 1 a soft y gives inf).
    assert abs(grid[np.nanargmin(curve)] - y) <= 1 / 2000 + 1e-12
    assert at_y == pytest.approx(floor, abs=1e-12)
    assert np.nanmin(curve) >= floor - 1e-12
    expected = 0.0 if y in (0.0, 1.0) else -(y * np.log(y) + (1 - y) * np.log1p(-y))
    assert floor == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(1e-4, 1 - 1e-4))
def test_bce_minus_entropy_is_bernoulli_kl_and_nonnegative(y, p):
    with jax.enable_x64(True):
        bce = float(losses.binary_crossentropy_elementwise(jnp.float64(y), jnp.float64(p), epsilon=None))
        kl = float(losses.bernoulli_kl(jnp.float64(y), jnp.float64(p)))
        h = float(losses.binary_entropy(jnp.float64(y)))
    assert kl >= -1e-12
    assert bce - h == pytest.approx(kl, abs=1e-9)


def test_gradients_match_closed_forms():
    y, p = jnp.array(0.3), jnp.array(0.8)
    dbce = jax.grad(lambda p: losses.binary_crossentropy_elementwise(y, p))(p)
    np.testing.assert_allclose(dbce, -y / p + (1 - y) / (1 - p), rtol=1e-5)
    z = jnp.linspace(-8.0, 8.0, 33)
    dz = jax.vmap(jax.grad(lambda z: losses.binary_crossentropy_with_logits_elementwise(0.3, z)))(z)
    np.testing.assert_allclose(dz, jax.nn.sigmoid(z) - 0.3, atol=1e-6)
    for fn in (losses.categorical_crossentropy_from_logits, losses.kl_divergence_from_logits):
        g = jax.grad(lambda z: fn(DIST, z).sum())(jnp.asarray(Z))
        np.testing.assert_allclose(g, jax.nn.softmax(Z) - DIST, atol=1e-6)
    pred = jnp.asarray(Y_SOFT[::-1] + 0.01)
    g = jax.grad(lambda q: losses.mean_squared_error(Y_SOFT, q).sum())(pred)
    np.testing.assert_allclose(g, 2.0 * (pred - Y_SOFT) / Y_SOFT.shape[-1], rtol=1e-5)
    g = jax.grad(lambda q: losses.mean_absolute_error(Y_SOFT, q).sum())(pred)
    np.testing.assert_allclose(g, np.sign(pred - Y_SOFT) / Y_SOFT.shape[-1], rtol=1e-6)


def test_one_hot_cross_entropy_equals_kl_exactly():
    a = losses.categorical_crossentropy_from_logits(ONE_HOT, Z)
    b = losses.kl_divergence_from_logits(ONE_HOT, Z)
    np.testing.assert_array_equal(a, b)


def test_registry_names_aliases_and_errors():
    for name in ("binary_crossentropy", "mean_squared_error", "mse", "mean_absolute_error", "mae",
                 "categorical_crossentropy", "kl_divergence", "kullback_leibler_divergence"):
        out = losses.get(name)(DIST, jax.nn.softmax(Z))
        assert out.shape == (5,)
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("kullback_leibler_divergence", from_logits=True) is losses.kl_divergence_from_logits
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("hinge_of_doom")
    with pytest.raises(ValueError, match="no from-logits form"):
        losses.get("mse", from_logits=True)


def test_entropy_cross_entropy_identity():
    q = jax.nn.softmax(Z)
    np.testing.assert_allclose(losses.cross_entropy(DIST, q), losses.entropy(DIST) + losses.kl(DIST, q),
                               rtol=1e-5)


def test_binary_entropy_tolerates_rounding_just_outside_the_unit_interval():
    y = jnp.array([1.0 + 1e-7, -1e-8, 1.0, 0.0])
    np.testing.assert_array_equal(jax.jit(losses.binary_entropy)(y), [0.0, 0.0, 0.0, 0.0])


def test_softplus_matches_jax_and_has_the_sigmoid_derivative_everywhere():
    x = jnp.array([-1e4, -30.0, -1.0, 0.0, 1e-8, 1.0, 30.0, 1e4])
    np.testing.assert_allclose(jax.jit(losses.softplus)(x), jax.nn.softplus(x), rtol=1e-6)
    grads = jax.vmap(jax.grad(losses.softplus))(x)
    np.testing.assert_allclose(grads, jax.nn.sigmoid(x), rtol=1e-6)


def test_softmax_bce_matches_numpy_and_keras_reported_bce_is_optax_sigmoid_bce():
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=3.0, size=(4, 7)).astype(np.float32)
    y = rng.uniform(size=(4, 7)).astype(np.float32)
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    exact = np.mean(-y * np.log(p) - (1 - y) * np.log1p(-p), axis=-1)
    np.testing.assert_allclose(losses.softmax_bce(y, logits, epsilon=None), exact, rtol=1e-5)
    clipped = np.clip(p, losses.EPSILON, 1 - losses.EPSILON)
    keras = np.mean(-y * np.log(clipped) - (1 - y) * np.log(1 - clipped), axis=-1)
    np.testing.assert_allclose(losses.softmax_bce(y, logits), keras, rtol=1e-5)
    huge = np.array([[60.0, -60.0, 0.0]], np.float32)  # p underflows to 0: the clip keeps it finite
    assert np.isfinite(losses.softmax_bce(np.array([[0.0, 1.0, 0.0]], np.float32), huge)).all()
    assert not np.isfinite(losses.softmax_bce(np.array([[0.0, 1.0, 0.0]], np.float32), huge, epsilon=None)).all()
    np.testing.assert_allclose(losses.keras_reported_bce(y, logits),
                               np.mean(optax.sigmoid_binary_cross_entropy(logits, y), axis=-1), rtol=1e-6)
    assert not np.allclose(losses.keras_reported_bce(y, logits), exact, rtol=1e-2)
