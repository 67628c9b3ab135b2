"""Loss landscapes against independent references: weights built by hand in NumPy, the definition of
filter normalisation, the line's ends, a trajectory in a known plane."""

from __future__ import annotations

import numpy as np
import pytest

from lossviz.config import TrainConfig
from lossviz.engine import models
from lossviz.figures import landscape as figures
from lossviz.lessons import landscape as ls
from lossviz.lessons import landscape_runs as runs
from lossviz.lessons.landscape_path import pca_path

WIDTHS = {"autoencoder": [12, 7, 5, 12], "classifier": [12, 6, 4]}
CONFIGS = {
    "softmax-bce-raw": TrainConfig(task="autoencoder", hidden=(7, 5), output_activation="softmax",
                                   loss="binary_crossentropy", learning_rate=1e-3, batch_size=4, epochs=1,
                                   pixels="raw"),
    "sigmoid-bce": TrainConfig(task="autoencoder", hidden=(7, 5), output_activation="sigmoid",
                               loss="binary_crossentropy", learning_rate=1e-3, batch_size=4, epochs=1),
    "softmax-mse-tanh": TrainConfig(task="classifier", hidden=(6,), output_activation="softmax",
                                    loss="mean_squared_error", learning_rate=0.1, batch_size=4, epochs=1,
                                    hidden_activation="tanh"),
}

FORMULA_TOLERANCE = {"softmax-bce-raw": 2e-4}
"""Raw 0–255 targets multiply float32's rounding of log(1 − p) near p = 1 by up to 254."""


def random_layers(rng, widths, scale=0.5):
    return [(rng.normal(0, scale, (a, b)).astype(np.float32), rng.normal(0, 0.1, b).astype(np.float32))
            for a, b in zip(widths[:-1], widths[1:])]


def images(config, rng, n=9):
    if config.task == "autoencoder":
        x = rng.uniform(0, 1, (n, 12)).astype(np.float32)
        if config.pixels == "raw":
            x = np.round(x * 255).astype(np.float32)
        return ls.Probe(ls.jnp.asarray(x), ls.jnp.asarray(x), None), x, None
    x = rng.uniform(0, 1, (n, 12)).astype(np.float32)
    labels = rng.integers(0, 4, n)
    onehot = np.eye(4, dtype=np.float32)[labels]
    return ls.Probe(ls.jnp.asarray(x), ls.jnp.asarray(onehot), ls.jnp.asarray(labels, ls.jnp.int32)), x, labels


def numpy_loss(config, layers, x, labels):
    """Forward pass and loss in float64 NumPy, written from the formulas (Keras's clipping ε = 1e-7)."""
    act = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[config.hidden_activation]
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
        if i < len(layers) - 1:
            h = act(h)
    z = h
    if config.output_activation == "sigmoid":  # BCE from logits
        y = x
        return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))), np.nan
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    if config.task == "autoencoder":  # softmax outputs scored by clipped BCE against raw pixels
        # Keras clips to [ε, 1 − ε] in float32, where 1 − 1e-7 rounds to 1 − 1.19e-7.
        y, eps = x, 1e-7
        q = np.clip(p, eps, float(np.float32(1 - eps)))
        return np.mean(-y * np.log(q) - (1 - y) * np.log(1 - q)), np.nan
    onehot = np.eye(4)[labels]
    return np.mean((p - onehot) ** 2), np.mean(np.argmax(z, axis=1) == labels)


def by_hand(centre, d1, d2, a, b):
    return [tuple(np.asarray(x0) + a * np.asarray(x1) + b * np.asarray(x2) for x0, x1, x2 in zip(*layer))
            for layer in zip(centre, d1, d2)]


@pytest.mark.parametrize("name", CONFIGS)
def test_every_grid_point_is_the_loss_of_weights_built_by_hand(name):
    config = CONFIGS[name]
    rng = np.random.default_rng(1)
    widths = WIDTHS[config.task]
    centre, d1, d2 = (random_layers(rng, widths) for _ in range(3))  # bias directions too: the general case
    probe, x, labels = images(config, rng)
    alphas, betas = np.array([-0.7, 0.0, 0.4]), np.array([-0.3, 0.0, 0.9, 1.2])
    losses, accuracy = ls.evaluate_grid(config, centre, d1, d2, alphas, betas, probe, rows_per_block=3)
    assert losses.shape == (4, 3)
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            weights = by_hand(centre, d1, d2, a, b)
            loss, acc = numpy_loss(config, weights, x, labels)
            assert losses[i, j] == pytest.approx(loss, rel=FORMULA_TOLERANCE.get(name, 2e-5)), (a, b)
            assert losses[i, j] == pytest.approx(ls.loss_at(config, weights, probe)[0], rel=1e-5), (a, b)
            if np.isnan(acc):
                assert np.isnan(accuracy[i, j])
            else:
                assert accuracy[i, j] == pytest.approx(acc)
    assert losses[1, 1] == pytest.approx(ls.loss_at(config, centre, probe)[0], rel=1e-6)


@pytest.mark.parametrize("name", ["softmax-bce-raw", "softmax-mse-tanh"])
def test_the_linear_first_layer_equals_the_direct_evaluation(name):
    config = CONFIGS[name]
    rng = np.random.default_rng(2)
    centre, d1, d2 = (random_layers(rng, WIDTHS[config.task]) for _ in range(3))
    probe, _, _ = images(config, rng)
    axis = ls.grid_axis(1.0, 5)
    direct, _ = ls.evaluate_grid(config, centre, d1, d2, axis, axis, probe, method="direct")
    trick, _ = ls.evaluate_grid(config, centre, d1, d2, axis, axis, probe, method="linear-first")
    batched, _ = ls.evaluate_grid(config, centre, d1, d2, axis, axis, probe, batch_size=3, rows_per_block=2)
    np.testing.assert_allclose(trick, direct, rtol=1e-5)
    np.testing.assert_allclose(batched, direct, rtol=1e-5)
    with pytest.raises(ValueError, match="method"):
        next(ls.surface_rows(config, centre, d1, d2, axis, axis, probe, method="fast"))


def test_filter_normalisation_matches_the_definition_neuron_by_neuron():
    rng = np.random.default_rng(3)
    weights = random_layers(rng, [12, 7, 5, 12])
    weights[1][0][:, 2] = 0.0  # a dead neuron: its direction must be zero too
    raw = ls.gaussian_direction(np.random.default_rng(4), ls.as_layers(weights))
    normalised = ls.filter_normalize(raw, ls.as_layers(weights))
    for (d, db), (r, _), (w, b) in zip(normalised, raw, weights):
        d, r = np.asarray(d, np.float64), np.asarray(r, np.float64)
        assert d.shape == w.shape and not np.any(np.asarray(db))
        for j in range(w.shape[1]):
            w_norm = np.linalg.norm(w[:, j])
            assert np.linalg.norm(d[:, j]) == pytest.approx(w_norm, rel=1e-5, abs=1e-7)
            if w_norm > 0:  # the same direction as the Gaussian draw, only rescaled
                np.testing.assert_allclose(d[:, j], r[:, j] * w_norm / np.linalg.norm(r[:, j]), rtol=1e-5)
    again = ls.random_directions(ls.as_layers(weights), seed=7)
    other = ls.random_directions(ls.as_layers(weights), seed=8)
    assert np.array_equal(again[0][0][0], ls.random_directions(ls.as_layers(weights), seed=7)[0][0][0])
    assert not np.allclose(again[0][0][0], again[1][0][0]) and not np.allclose(again[0][0][0], other[0][0][0])


def test_the_line_starts_at_the_initial_and_ends_at_the_final_loss():
    config = CONFIGS["softmax-mse-tanh"]
    rng = np.random.default_rng(5)
    initial, final = random_layers(rng, [12, 6, 4]), random_layers(rng, [12, 6, 4], scale=1.0)
    train, x, labels = images(config, rng)
    test, x_test, labels_test = images(config, rng, n=7)
    run = runs.RunWeights("test", config, ls.as_layers(initial), ls.as_layers(final))
    result = runs.line(run, train, test)
    assert result.alphas[0] == -0.5 and result.alphas[-1] == 1.5 and len(result.alphas) == ls.LINE_POINTS
    zero, one = list(result.alphas).index(0.0), list(result.alphas).index(1.0)
    assert result.train_loss[zero] == pytest.approx(numpy_loss(config, initial, x, labels)[0], rel=1e-5)
    assert result.train_loss[one] == pytest.approx(numpy_loss(config, final, x, labels)[0], rel=1e-5)
    assert result.test_loss[one] == pytest.approx(numpy_loss(config, final, x_test, labels_test)[0], rel=1e-5)
    assert result.test_accuracy[one] == pytest.approx(numpy_loss(config, final, x_test, labels_test)[1])
    text = figures.line_alt(result, "MSE", "test run")
    assert f"{result.train_loss[one]:.4g}" in text and "Test accuracy" in text


def test_pca_recovers_a_trajectory_built_in_a_known_plane():
    rng = np.random.default_rng(6)
    final = ls.as_layers(random_layers(rng, [12, 7, 5, 12]))
    size = ls.flat_vector(final).size
    u, v = np.linalg.qr(rng.normal(size=(size, 2)))[0].T  # orthonormal
    coefficients = np.array([[3.0, 1.0], [2.2, 1.3], [1.5, 0.6], [0.7, 0.4], [0.2, -0.1], [0.0, 0.0]])
    trajectory = [ls.from_vector(ls.flat_vector(final) + a * u + b * v, final) for a, b in coefficients]
    path = pca_path(trajectory, final)
    assert path.explained.sum() == pytest.approx(1.0, abs=1e-9)
    assert path.explained[0] > path.explained[1] > 0
    np.testing.assert_allclose(path.residual, 0.0, atol=1e-5)
    assert np.allclose(path.coords[-1], 0.0, atol=1e-6)
    # The plane is the known one: the coordinates are the built ones up to a rotation or reflection.
    basis = np.stack([ls.flat_vector(d) for d in path.directions])
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-6)
    rotation = basis @ np.stack([u, v]).T
    np.testing.assert_allclose(np.abs(np.linalg.det(rotation)), 1.0, atol=1e-5)
    np.testing.assert_allclose(path.coords, coefficients @ rotation.T, atol=1e-5)
    # A point off the plane is reported as such.
    off = ls.from_vector(ls.flat_vector(final) + 0.5 * np.linalg.qr(rng.normal(size=(size, 3)))[0][:, 2], final)
    assert pca_path([*trajectory[:3], off, *trajectory[3:]], final).residual.max() > 0.05


def test_parameters_arrive_as_pairs_or_flat_lists_and_bad_ones_are_refused():
    rng = np.random.default_rng(8)
    pairs = random_layers(rng, [12, 6, 4])
    flat = [a for pair in pairs for a in pair]
    assert all(np.array_equal(a, b) for p, q in zip(ls.as_layers(pairs), ls.as_layers(flat)) for a, b in zip(p, q))
    engine_params = models.init(ls.jax.random.PRNGKey(0), [12, 6, 4])
    assert len(ls.as_layers(engine_params)) == 2
    for bad, message in ((flat[:3], "pairs"), ([flat[1], flat[0]], "dense layer"),
                         ([pairs[1], pairs[0]], "inputs after"), ([], "no layers")):
        with pytest.raises(ValueError, match=message):
            ls.as_layers(bad)


def test_log_colour_spreads_negative_and_large_losses_and_labels_the_bar_in_losses():
    scale = figures.ColourScale(-40.0, 60.0, log=True)
    colour = scale.colour(np.array([-40.0, -39.9, 60.0, np.nan]))
    assert np.isfinite(colour[:3]).all() and np.isnan(colour[3]) and colour[0] < colour[1] < colour[2]
    bar = scale.colorbar("BCE (nats per pixel)")
    assert "log" in bar["title"]["text"] and bar["ticktext"][0] == "-40" and bar["ticktext"][-1] == "60"
    linear = figures.ColourScale(0.0, 1.0, log=False)
    assert linear.limits() == (0.0, 1.0) and "tickvals" not in linear.colorbar("MSE")


def test_surface_text_states_the_grid_the_extremes_and_the_rows_still_missing():
    axis = ls.grid_axis(1.0, 5)
    losses = np.add.outer(axis**2, axis**2) + 0.25
    text = figures.surface_alt(axis, axis, losses, "MSE", "run x")
    assert "grid of 5 × 5 points" in text and "Lowest 0.25 at (0, 0)" in text
    assert "centre (the final weights) 0.25" in text
    partial = losses.copy()
    partial[3:] = np.nan
    assert "3 of 5 rows computed so far" in figures.surface_alt(axis, axis, partial, "MSE", "run x")
    table = figures.grid_table(axis, axis, losses)
    assert len(table["loss"]) == 25 and table["loss"][12] == 0.25


def test_the_bench_line_reports_seconds_and_its_share_of_the_measured_peak(mnist):
    from lossviz.lessons import landscape_bench

    report = landscape_bench.bench(mnist, resolution=3, images=50, compare_rows=1, peak_size=256)
    assert report["surface"] == "seed autoencoder, 3x3 points, 50 images"
    assert report["tflop"] == pytest.approx(9 * 50 * 2 * 220672 / 1e12, rel=1e-3, abs=1e-3)
    assert report["seconds"] > 0 and report["matmul_peak_gflops"] > 0
    assert report["share_of_peak"] == pytest.approx(report["effective_gflops"] / report["matmul_peak_gflops"], rel=0.02)
    assert set(report["methods_on_1_rows"]) == {"linear-first, batch_size=None", "linear-first, batch_size=8",
                                                "direct, batch_size=None"}
