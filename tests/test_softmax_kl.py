"""The math of the Softmax & KL page, checked against closed forms, jax.grad, optax and separate runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import entr, rel_entr, xlogy

from lossviz import losses
from lossviz.engine import models
from lossviz.lessons import classifier, kl_fit
from lossviz.lessons import softmax_kl as sk
from lossviz.figures import softmax_kl as skp

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def distributions(draw, k=None, allow_zero=False):
    k = k or draw(st.integers(2, sk.MAX_CLASSES))
    low = 0.0 if allow_zero else 0.01
    weights = np.array(draw(st.lists(st.floats(low, 10.0), min_size=k, max_size=k)))
    if weights.sum() <= 0:
        weights[0] = 1.0
    return weights / weights.sum()


@st.composite
def distribution_pairs(draw):
    k = draw(st.integers(2, sk.MAX_CLASSES))
    return draw(distributions(k=k, allow_zero=True)), draw(distributions(k=k))


# -- the identity and KL's properties ---------------------------------------


def numpy_softmax(z):
    """softmax in float64 numpy, sharing no code with lossviz."""
    e = np.exp(np.asarray(z, np.float64) - np.max(z))
    return e / e.sum()


@SETTINGS
@given(distribution_pairs())
def test_cross_entropy_is_entropy_plus_kl(pair):
    # Each term against scipy in float64: the three share their xlogy terms in lossviz, so
    # the identity alone would hold even if all three were wrong the same way.
    p, q = pair
    ce = float(losses.cross_entropy(p, q))
    h = float(losses.entropy(p))
    kl = float(losses.kl(p, q))
    assert ce == pytest.approx(-xlogy(p, q).sum(), rel=1e-5, abs=1e-5)
    assert h == pytest.approx(entr(p).sum(), rel=1e-5, abs=1e-5)
    assert kl == pytest.approx(rel_entr(p, q).sum(), rel=1e-4, abs=1e-5)
    assert ce == pytest.approx(h + kl, rel=1e-5, abs=1e-5)


@settings(max_examples=25, deadline=None)
@given(distributions(allow_zero=True), st.data())
def test_explorer_identity_and_gradient(target, data):
    logits = np.array(data.draw(st.lists(st.floats(-8, 8), min_size=len(target), max_size=len(target))))
    stats = sk.explore_softmax(logits, target)
    # Against float64 references: explore_softmax's CE and KL share log q, so the identity
    # CE = H + KL between them would hold whatever softmax they used.
    q = numpy_softmax(logits)
    np.testing.assert_allclose(stats.probabilities, q, rtol=1e-5, atol=1e-7)
    assert stats.cross_entropy == pytest.approx(-xlogy(target, q).sum(), rel=1e-4, abs=1e-5)
    assert stats.entropy == pytest.approx(entr(target).sum(), rel=1e-5, abs=1e-6)
    assert stats.kl == pytest.approx(rel_entr(target, q).sum(), rel=1e-4, abs=1e-5)
    assert stats.cross_entropy == pytest.approx(stats.entropy + stats.kl, rel=1e-5, abs=1e-5)
    # The gradient shown, softmax − target, is what autodiff finds for both losses.
    z, p = jnp.asarray(logits, jnp.float32), jnp.asarray(target, jnp.float32)
    for loss in (losses.categorical_crossentropy_from_logits, losses.kl_divergence_from_logits):
        np.testing.assert_allclose(stats.gradient, jax.grad(lambda v: loss(p, v))(z), atol=1e-6)


@SETTINGS
@given(distribution_pairs())
def test_kl_is_nonnegative_and_zero_only_at_equality(pair):
    p, q = pair
    divergence = float(losses.kl(p, q))
    assert divergence >= -1e-6
    assert abs(float(losses.kl(q, q))) < 1e-6
    # Pinsker: KL ≥ 2·TV² and TV ≥ max_k |p_k − q_k|, so any visible difference gives a positive KL.
    gap = float(np.max(np.abs(p - q)))
    assert divergence >= 2 * gap**2 - 1e-5
    if gap > 0.01:
        assert divergence > 0


@SETTINGS
@given(distribution_pairs())
def test_kl_terms_sum_to_kl_and_match_optax(pair):
    p, q = pair
    terms = sk.kl_contributions(p, q)
    assert terms.shape == p.shape
    assert terms.sum() == pytest.approx(float(losses.kl(p, q)), rel=1e-4, abs=1e-5)
    # optax.losses.kl_divergence(log_predictions, targets) = Σ targets·(log targets − log_predictions):
    # the FIRST argument is log Q (the model), the SECOND is P, so it computes KL(P‖Q).
    reference = optax.losses.kl_divergence(jnp.log(jnp.asarray(q, jnp.float32)), jnp.asarray(p, jnp.float32))
    assert float(losses.kl(p, q)) == pytest.approx(float(reference), rel=1e-4, abs=1e-5)


def test_kl_is_not_symmetric_on_the_page_default():
    p = sk.parse_positive_distribution("0.7,0.25,0.05")
    q = sk.parse_positive_distribution("0.3,0.3,0.4")
    forward, reverse = sk.kl_contributions(p, q).sum(), sk.kl_contributions(q, p).sum()
    assert forward > 0 and reverse > 0
    assert abs(forward - reverse) > 0.1


def test_one_hot_target_makes_ce_and_kl_equal():
    stats = sk.explore_softmax([0.3, -1.0, 2.0, 0.0], sk.one_hot_target(4, 2))
    assert stats.entropy == 0.0
    assert stats.cross_entropy == stats.kl
    assert stats.cross_entropy == pytest.approx(-np.log(stats.probabilities[2]), rel=1e-6)


@pytest.mark.parametrize("text, message", [
    ("", "separated by commas"), ("0.2,,0.3", "separated by commas"), ("a,b", "must be a number"),
    ("1,nan", "finite"), ("1,-1,2", "negative"), ("0,0,0", "positive"), ("1", "between 2"),
    (",".join(["1"] * 11), "between 2"),
])
def test_parse_distribution_rejects_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        sk.parse_distribution(text)


def test_parse_distribution_normalises_and_checks_the_count():
    np.testing.assert_allclose(sk.parse_distribution(" 2, 6 ,2"), [0.2, 0.6, 0.2])
    with pytest.raises(ValueError, match="exactly 4"):
        sk.parse_distribution("1,2,3", k=4)
    with pytest.raises(ValueError, match="positive"):
        sk.parse_positive_distribution("1,0,3")


# -- forward vs reverse KL fits ----------------------------------------------


def _gaussian_kl(m1, s1, m2, s2):
    """KL(N(m1, s1²) ‖ N(m2, s2²)) in closed form."""
    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (1.3, 0.7), (-2.0, 2.5)])
def test_grid_objectives_match_the_gaussian_closed_form(mean, std):
    # With zero separation the mixture is N(0, 1), so both directions have closed forms.
    params = jnp.array([[mean, np.log(std)]] * 2, jnp.float32)
    forward, reverse = np.asarray(kl_fit.kl_objectives(params, 0.0, 0.5))
    assert forward == pytest.approx(_gaussian_kl(0.0, 1.0, mean, std), abs=1e-4)
    assert reverse == pytest.approx(_gaussian_kl(mean, std, 0.0, 1.0), abs=1e-4)


def _final_fit(separation, weight, start, steps=800, chunk=100):
    frame = None
    for frame in kl_fit.fit_kl_directions(separation, weight, start, steps, chunk=chunk):
        pass
    return frame


@pytest.mark.parametrize("start, mode", [(1.5, 4.0), (-1.5, -4.0)])
def test_forward_fit_covers_both_modes_reverse_fit_locks_onto_one(start, mode):
    frame = _final_fit(8.0, 0.5, start)
    forward_var, reverse_var = frame.stds**2
    assert forward_var > 5 * reverse_var
    mix_mean, mix_var = kl_fit.mixture_moments(8.0, 0.5)
    # Forward KL to a Gaussian is moment matching.
    assert frame.means[0] == pytest.approx(mix_mean, abs=0.05)
    assert forward_var == pytest.approx(mix_var, rel=0.02)
    # Reverse KL sits on the mode nearest its start, with about the mode's own width.
    assert frame.means[1] == pytest.approx(mode, abs=0.1)
    assert frame.stds[1] == pytest.approx(1.0, abs=0.1)


def test_fit_moment_matching_with_unequal_weights_and_chunking_does_not_matter():
    chunked = _final_fit(6.0, 0.3, 1.0, steps=600, chunk=25)
    whole = _final_fit(6.0, 0.3, 1.0, steps=600, chunk=600)
    np.testing.assert_allclose(chunked.means, whole.means, atol=1e-5)
    np.testing.assert_allclose(chunked.stds, whole.stds, rtol=1e-5)
    assert chunked.objectives.shape == (600, 2)
    mix_mean, mix_var = kl_fit.mixture_moments(6.0, 0.3)
    assert whole.means[0] == pytest.approx(mix_mean, abs=0.05)
    assert whole.stds[0] ** 2 == pytest.approx(mix_var, rel=0.02)
    # Both objectives go down overall and end non-negative.
    assert np.all(whole.objectives[-1] < whole.objectives[0])
    assert np.all(whole.objectives[-1] > -1e-4)


def test_mixture_density_integrates_to_one():
    dx = float(kl_fit.FIT_GRID[1] - kl_fit.FIT_GRID[0])
    for separation, weight in [(0.0, 0.5), (7.0, 0.2), (10.0, 0.95)]:
        assert kl_fit.mixture_density(kl_fit.FIT_GRID, separation, weight).sum() * dx == pytest.approx(1.0, abs=1e-4)


# -- the vmapped classifier ---------------------------------------------------


@pytest.fixture(scope="module")
def small_blobs():
    x, y = classifier.blobs(0)
    return x[:200], y[:200]


def test_vmapped_run_equals_separate_runs(small_blobs):
    x, y = small_blobs
    members = classifier.combos(classifier.CLASSIFIER_LOSSES, (0.003, 0.1))
    together = classifier.run_to_end(members, 3, seed=5, chunk_epochs=3, x=x, y=y)
    assert together.losses.shape == (4, 3)
    for i, combo in enumerate(members):
        alone = classifier.run_to_end([combo], 3, seed=5, chunk_epochs=3, x=x, y=y)
        np.testing.assert_allclose(together.losses[i], alone.losses[0], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(together.accuracies[i], alone.accuracies[0], atol=1e-6)
        for a, b in zip(jax.tree_util.tree_leaves(classifier.member_params(together.state, i)),
                        jax.tree_util.tree_leaves(classifier.member_params(alone.state, 0))):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Different learning rates do give different runs (the comparison above is not vacuous).
    assert not np.allclose(together.losses[0], together.losses[1])


def test_matches_a_plain_optax_adam_loop(small_blobs):
    """One member against an independent loop: optax.adam(lr, eps=1e-7), Keras-style short last batch."""
    x, y = small_blobs
    lr, seed, epochs = 0.01, 2, 2
    frame = classifier.run_to_end([classifier.Combo("categorical_crossentropy", lr)], epochs, seed, x=x, y=y)
    params = models.init(jax.random.PRNGKey(seed), classifier.WIDTHS)
    optimizer = optax.adam(lr, eps=1e-7)
    opt_state = optimizer.init(params)
    key = jax.random.PRNGKey(seed + 1)

    @jax.jit
    def adam_step(params, opt_state, xb, yb):
        loss, grads = jax.value_and_grad(
            lambda p: losses.categorical_crossentropy_from_logits(yb, models.apply(p, xb)).mean())(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    history = []
    for epoch in range(epochs):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), len(x)))
        total = 0.0
        for start in range(0, len(x), classifier.BATCH_SIZE):
            idx = order[start:start + classifier.BATCH_SIZE]  # the last batch is short (200 = 6·32 + 8)
            params, opt_state, loss = adam_step(params, opt_state, x[idx], y[idx])
            total += float(loss) * len(idx)
        history.append(total / len(x))
    np.testing.assert_allclose(frame.losses[0], history, rtol=1e-4)
    for a, b in zip(jax.tree_util.tree_leaves(classifier.member_params(frame.state, 0)), jax.tree_util.tree_leaves(params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_one_hot_labels_give_bit_identical_ce_and_kl_histories(small_blobs):
    x, y = small_blobs
    members = classifier.combos(classifier.CLASSIFIER_LOSSES, (0.01, 0.1))
    frame = classifier.run_to_end(members, 4, seed=1, chunk_epochs=2, x=x, y=y)
    for i in range(2):
        assert np.array_equal(frame.losses[i], frame.losses[i + 2])
        assert np.array_equal(frame.accuracies[i], frame.accuracies[i + 2])
        for a, b in zip(jax.tree_util.tree_leaves(classifier.member_params(frame.state, i)),
                        jax.tree_util.tree_leaves(classifier.member_params(frame.state, i + 2))):
            assert np.array_equal(a, b)
    assert classifier.identical_ce_kl(members, frame) == [(0.01, True), (0.1, True)]


def test_soft_labels_separate_ce_from_kl_by_the_entropy(small_blobs):
    """The negative control: with smoothed labels H(P) > 0, so the reported losses differ by it."""
    x, y = small_blobs
    smooth = 0.9 * y + 0.1 / 3
    members = classifier.combos(classifier.CLASSIFIER_LOSSES, (0.01,))
    frame = classifier.run_to_end(members, 2, seed=1, x=x, y=smooth)
    mean_entropy = float(losses.entropy(jnp.asarray(smooth)).mean())
    assert not np.array_equal(frame.losses[0], frame.losses[1])
    np.testing.assert_allclose(frame.losses[0] - frame.losses[1], mean_entropy, rtol=1e-3)
    assert classifier.identical_ce_kl(members, frame) == [(0.01, False)]


def test_trained_classifier_separates_the_blobs_and_grid_is_a_distribution():
    members = [classifier.Combo("kl_divergence", 0.01)]
    frame = classifier.run_to_end(members, 5, seed=0)
    assert frame.accuracies[0, -1] > 0.95
    assert frame.losses[0, -1] < frame.losses[0, 0]
    x, y = classifier.blobs(0)
    gx, gy, probs = classifier.decision_grid(frame.state.params, x, resolution=30)
    assert probs.shape == (1, 30, 30, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # The grid point nearest each cluster's mean predicts that cluster.
    for c in range(3):
        centre = x[y.argmax(-1) == c].mean(0)
        i, j = np.abs(gy - centre[1]).argmin(), np.abs(gx - centre[0]).argmin()
        assert probs[0, i, j].argmax() == c


def test_divergence_detection_and_unknown_loss():
    frame = classifier.TrainingFrame(2, np.array([[1.0, 0.5], [1.0, np.nan]]), np.zeros((2, 2)), None)
    assert classifier.diverged(frame) == [1]
    with pytest.raises(ValueError, match="unknown loss"):
        next(classifier.train_combos([classifier.Combo("mse", 0.1)], 1, 0))


def test_bench_times_the_same_runs_both_ways():
    # Timings are the benchmark command's business; what a test can check is that the two
    # ways it compares train the same six runs (a bench of different work would be meaningless).
    result = classifier.bench(epochs=2, repeats=1)
    assert (result["combinations"], result["epochs"], result["steps_per_epoch"]) == (6, 2, 32)
    assert result["max_loss_gap"] < 1e-5


# -- figures --------------------------------------------------------------------


def test_figures_carry_the_numbers():
    stats = sk.explore_softmax([1.0, 0.0, -1.0], [0.2, 0.5, 0.3])
    identity = skp.identity_bars(stats.cross_entropy, stats.entropy, stats.kl)
    heights = [trace.y[0] for trace in identity.data]
    assert heights[0] == pytest.approx(heights[1] + heights[2], rel=1e-5)
    assert list(skp.softmax_bars(stats.probabilities, np.array([0.2, 0.5, 0.3])).data[0].y) == pytest.approx(
        list(stats.probabilities))
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 5, 6))
    x = np.random.default_rng(1).normal(size=(30, 2)).astype(np.float32)
    labels = np.arange(30) % 3
    regions = skp.decision_regions(np.arange(6.0), np.arange(5.0), probs, x, labels, list("abcd"))
    heatmaps = [t for t in regions.data if t.type == "heatmap"]
    assert len(heatmaps) == 4
    np.testing.assert_array_equal(heatmaps[2].z, probs[2].argmax(-1) + 1)
    curves = skp.training_curves(["a", "b"], list(classifier.CLASSIFIER_LOSSES), [0.01, 0.01],
                                 np.ones((2, 3)), np.zeros((2, 3)), 10)
    assert [t.line.dash for t in curves.data[::2]] == ["solid", "dash"]


def test_page_helpers_kl_both_ways_fit_summary_and_chunks():
    p, q = sk.parse_distribution("0.7,0.25,0.05"), sk.parse_distribution("0.3,0.3,0.4")
    both = sk.kl_both_ways(p, q)
    assert both.forward == pytest.approx(float(losses.kl(p, q)), rel=1e-5)
    assert both.reverse == pytest.approx(float(losses.kl(q, p)), rel=1e-5)
    assert both.difference == pytest.approx(both.reverse - both.forward)
    assert kl_fit.mixture_formula(7.0, 0.4) == "0.4·N(−3.5, 1) + 0.6·N(3.5, 1)"
    frame = kl_fit.FitFrame(10, np.array([0.5, 3.0]), np.array([2.0, 1.0]), np.zeros((10, 2)))
    summary = kl_fit.fit_summary(frame, 6.0, 0.5)
    assert summary == {"forward fit: mean, std": "0.50, 2.00", "mixture's own mean, std": "0.00, 3.16",
                       "reverse fit: mean, std": "3.00, 1.00"}
    assert [classifier.live_chunk_epochs(e) for e in (1, 100, 200, 1000)] == [5, 5, 10, 50]
