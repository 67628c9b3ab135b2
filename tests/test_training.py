"""The training engine: learning, Keras semantics, determinism, stop/divergence, compile reuse."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossviz import data, losses
from lossviz.engine import models
from lossviz import engine
from lossviz.engine.chunk import _train_chunk
from lossviz.config import PRESETS, TrainConfig


def synthetic_autoencoder(n_train=80, n_test=24, width=12, seed=0) -> engine.Dataset:
    """Low-rank data in [0, 1]: an autoencoder with a 3-wide bottleneck can learn it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_train + n_test, 3))
    x = (1.0 / (1.0 + np.exp(-(z @ rng.normal(size=(3, width)) * 2.0)))).astype(np.float32)
    return engine.Dataset(
        task="autoencoder", pixels="unit", x_train=jnp.asarray(x[:n_train]), y_train=None,
        x_test=jnp.asarray(x[n_train:]), y_test=None, labels_train=None, labels_test=None)


SYNTH = TrainConfig(task="autoencoder", hidden=(8, 3, 8), output_activation="sigmoid",
                    loss="binary_crossentropy", learning_rate=0.01, batch_size=16, epochs=6)


def test_training_lowers_the_loss_on_small_synthetic_data():
    result = engine.run(SYNTH, synthetic_autoencoder())
    assert result.status is engine.Status.FINISHED
    losses_by_epoch = [e["loss"] for e in result.epochs]
    assert len(losses_by_epoch) == SYNTH.epochs
    assert all(b < a for a, b in zip(losses_by_epoch, losses_by_epoch[1:])), losses_by_epoch
    assert result.epochs[-1]["test_loss"] < result.epochs[0]["test_loss"]


def test_blobs_classifier_learns_and_reports_accuracy():
    config = PRESETS["blobs-cce"].replace(epochs=8)
    dataset = engine.prepare(config)
    assert (dataset.n_train, dataset.n_test) == (engine.BLOBS_TRAIN, engine.BLOBS_SAMPLES - engine.BLOBS_TRAIN)
    result = engine.run(config, dataset)
    assert result.epochs[-1]["loss"] < result.epochs[0]["loss"]
    assert result.epochs[-1]["test_accuracy"] > 0.8
    matrix = engine.confusion_matrix(config, result.params, dataset)
    assert matrix.shape == (3, 3) and matrix.sum() == dataset.n_test
    assert np.trace(matrix) / dataset.n_test == pytest.approx(result.epochs[-1]["test_accuracy"], abs=1e-6)
    idx, true, predicted = engine.misclassified(config, result.params, dataset, n=5)
    assert len(idx) == len(true) == len(predicted) <= 5
    assert np.all(true != predicted) and np.array_equal(true, dataset.labels_test[idx])


def test_same_config_and_seed_give_the_same_numbers_and_another_seed_does_not():
    dataset = synthetic_autoencoder()
    a = engine.run(SYNTH.replace(epochs=2), dataset)
    b = engine.run(SYNTH.replace(epochs=2), dataset)
    c = engine.run(SYNTH.replace(epochs=2, seed=1), dataset)
    assert np.array_equal(a.step_losses, b.step_losses)
    assert [e["test_loss"] for e in a.epochs] == [e["test_loss"] for e in b.epochs]
    for (wa, ba), (wb, bb) in zip(a.params, b.params):
        assert np.array_equal(wa, wb) and np.array_equal(ba, bb)
    assert not np.array_equal(a.step_losses, c.step_losses)


def test_chunk_length_does_not_change_the_numbers():
    dataset = synthetic_autoencoder()
    whole = engine.run(SYNTH.replace(epochs=2), dataset, chunk_steps=100)
    pieces = engine.run(SYNTH.replace(epochs=2), dataset, chunk_steps=2)
    assert whole.chunk_steps == 5 and pieces.chunk_steps == 2  # 80 / 16 = 5 steps per epoch
    np.testing.assert_allclose(whole.step_losses, pieces.step_losses, rtol=1e-6)


def test_partial_last_batch_is_trained_as_keras_does():
    """10 examples, batch 4: batches of 4, 4 and 2, each a mean over its own examples (SGD)."""
    dataset = synthetic_autoencoder(n_train=10, n_test=4)
    config = SYNTH.replace(optimizer="sgd", learning_rate=0.5, batch_size=4, epochs=2)
    result = engine.run(config, dataset)
    assert result.steps.size == 6

    params, _ = engine.init_state(config, dataset)
    spec = engine.spec_of(config)
    x = np.asarray(dataset.train_inputs())
    manual_losses, epoch_means = [], []

    @jax.jit
    def sgd_step(params, xb):
        loss_of = lambda p: jnp.mean(engine.output_loss(spec, models.apply(p, xb), xb))  # noqa: E731
        loss, grads = jax.value_and_grad(loss_of)(params)
        return jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, params, grads), loss

    for epoch in range(2):
        order = engine.epoch_order(config.seed, epoch, 10, 12)[:10]
        assert sorted(order) == list(range(10))
        batch_losses = []
        for start in range(0, 10, 4):
            params, loss = sgd_step(params, jnp.asarray(x[order[start:start + 4]]))
            batch_losses.append(float(loss))
        manual_losses += batch_losses
        epoch_means.append(np.dot(batch_losses, [4, 4, 2]) / 10)  # weighted by batch size
    np.testing.assert_allclose(result.step_losses, manual_losses, rtol=2e-5)
    np.testing.assert_allclose([e["loss"] for e in result.epochs], epoch_means, rtol=2e-5)
    for (w, b), (w_ref, b_ref) in zip(result.params, params):
        np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-6)


def test_a_huge_learning_rate_diverges_and_keeps_the_history_before():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(64, 16)).astype(np.float32)  # raw-pixel-like inputs
    dataset = engine.Dataset(task="autoencoder", pixels="raw", x_train=jnp.asarray(x), y_train=None,
                               x_test=jnp.asarray(x[:8]), y_test=None, labels_train=None, labels_test=None)
    config = TrainConfig(task="autoencoder", hidden=(8,), output_activation="linear", hidden_activation="linear",
                         loss="mean_squared_error", optimizer="sgd", learning_rate=10.0,
                         batch_size=8, epochs=20, pixels="raw")
    events = []
    result = engine.run(config, dataset, on_progress=events.append, chunk_steps=3)
    assert result.status is engine.Status.DIVERGED
    assert "diverged" in result.message and "step" in result.message
    assert 0 < result.step_losses.size < 8 * 20
    assert np.all(np.isfinite(result.step_losses))
    assert all(np.all(np.isfinite(e.step_losses)) for e in events)
    assert all(np.all(np.isfinite(w)) for w, _ in result.params)


def test_stop_between_chunks_keeps_the_history():
    dataset = synthetic_autoencoder()
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) >= 3

    events = []
    result = engine.run(SYNTH.replace(epochs=5), dataset, on_progress=events.append,
                          should_stop=should_stop, chunk_steps=2)
    assert result.status is engine.Status.STOPPED and "Stopped" in result.message
    total = 5 * 5
    assert 0 < result.steps.size < total
    chunk_events = [e for e in events if e.kind is engine.EventKind.CHUNK]
    assert sum(e.step_losses.size for e in chunk_events) == result.steps.size
    assert chunk_events[-1].step == result.steps.size


def test_progress_events_describe_the_run():
    dataset = synthetic_autoencoder()
    events = []
    result = engine.run(SYNTH.replace(epochs=2), dataset, on_progress=events.append, chunk_steps=2)
    kinds = [e.kind for e in events]
    # 5 steps per epoch → chunks of 2, 2, 1
    assert kinds.count(engine.EventKind.EPOCH) == 2 and kinds.count(engine.EventKind.CHUNK) == 2 * 3
    steps = [e.step for e in events if e.kind is engine.EventKind.CHUNK]
    assert steps == sorted(steps) and steps[-1] == result.steps.size == events[0].total_steps
    first_epoch = next(e for e in events if e.kind is engine.EventKind.EPOCH)
    assert first_epoch.epoch == 1.0 and first_epoch.step_losses.size == 0
    assert first_epoch.train_loss == pytest.approx(result.epochs[0]["loss"])
    assert first_epoch.record == result.epochs[0]
    assert first_epoch.reconstructions.shape == (8, 12)
    assert first_epoch.test_accuracy is None and first_epoch.keras_reported_loss is None
    chunk = events[0]
    assert chunk.chunk_loss == pytest.approx(float(np.mean(chunk.step_losses)))
    assert chunk.samples_done == 2 * 16 and chunk.samples_per_second > 0 and chunk.eta_seconds >= 0
    assert events[-1].samples_done == 2 * 80 and events[-1].eta_seconds == 0


def test_kept_epoch_params_are_the_init_each_epochs_end_and_the_final_params():
    dataset = synthetic_autoencoder()
    config = SYNTH.replace(epochs=2, seed=5)
    events = []
    kept = engine.run(config, dataset, on_progress=events.append, chunk_steps=2, keep_epoch_params=True)
    plain = engine.run(config, dataset, chunk_steps=2)
    assert plain.initial_params is None and plain.epoch_params is None
    np.testing.assert_array_equal(kept.step_losses, plain.step_losses)  # keeping them changes nothing
    init = models.init(jax.random.fold_in(jax.random.PRNGKey(5), 0), [12, 8, 3, 8, 12])
    layout = [a for layer in init for a in layer]  # flat [W0, b0, W1, b1, ...]
    assert [a.shape for a in kept.initial_params] == [(12, 8), (8,), (8, 3), (3,), (3, 8), (8,), (8, 12), (12,)]
    for ours, reference in zip(kept.initial_params, layout, strict=True):
        assert isinstance(ours, np.ndarray)
        np.testing.assert_array_equal(ours, np.asarray(reference))
    assert len(kept.epoch_params) == 2
    for ours, final in zip(kept.epoch_params[-1], [a for layer in kept.params for a in layer], strict=True):
        np.testing.assert_array_equal(ours, np.asarray(final))
    assert not np.array_equal(kept.epoch_params[0][0], kept.initial_params[0])
    assert not np.array_equal(kept.epoch_params[0][0], kept.epoch_params[1][0])
    epoch_events = [e for e in events if e.kind is engine.EventKind.EPOCH]
    for event, params in zip(epoch_events, kept.epoch_params, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(event.params, params, strict=True))
    assert all(e.params is None for e in events if e.kind is engine.EventKind.CHUNK)


def test_status_and_event_kind_are_enums_that_write_their_word():
    result = engine.run(SYNTH.replace(epochs=1), synthetic_autoencoder(), chunk_steps=5)
    assert isinstance(result.status, engine.Status) and str(result.status) == "finished"
    assert f"{result.status}: {result.message}" == "finished: Finished 1 epoch (5 steps)."
    assert {s.value for s in engine.Status} == {"finished", "stopped", "diverged"}
    assert {k.value for k in engine.EventKind} == {"chunk", "epoch"}


def test_the_second_chunk_and_the_second_run_do_not_recompile():
    dataset = synthetic_autoencoder(n_train=150, width=13)  # shapes no other test uses
    config = SYNTH.replace(epochs=2, batch_size=16)  # 10 steps/epoch → 3 chunks of 4 (2 skipped)
    before = engine.TRACE_COUNTS["train_chunk"]
    cache_before = _train_chunk._cache_size()
    first = engine.run(config, dataset, chunk_steps=4)
    assert first.chunk_steps == 4 and first.steps.size == 20
    assert engine.TRACE_COUNTS["train_chunk"] == before + 1
    again = engine.run(config.replace(seed=3, learning_rate=0.05), dataset, chunk_steps=4)
    assert again.steps.size == 20
    assert engine.TRACE_COUNTS["train_chunk"] == before + 1
    assert _train_chunk._cache_size() == cache_before + 1


def test_optimizers_use_keras_defaults():
    g = {"w": jnp.array([1e-7, -3.0])}
    p = {"w": jnp.zeros(2)}
    # Adam's first step is -lr·g/(|g| + ε): ε = 1e-7 (Keras), not optax's 1e-8, shows at |g| = 1e-7.
    updates, _ = engine.optimizer("adam", 0.1).update(g, engine.optimizer("adam", 0.1).init(p), p)
    np.testing.assert_allclose(updates["w"], [-0.1 * 1e-7 / (1e-7 + 1e-7), 0.1], rtol=1e-3)
    # RMSprop: v = (1 - ρ)g², step -lr·g/sqrt(v + ε) with ρ = 0.9, ε = 1e-7 inside the root.
    rms = engine.optimizer("rmsprop", 0.01)
    updates, _ = rms.update(g, rms.init(p), p)
    expected = -0.01 * np.array([1e-7, -3.0]) / np.sqrt(0.1 * np.array([1e-14, 9.0]) + 1e-7)
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-4)
    sgd = engine.optimizer("sgd", 0.2)
    updates, _ = sgd.update(g, sgd.init(p), p)
    np.testing.assert_allclose(updates["w"], [-0.2e-7, 0.6], rtol=1e-6)
    with pytest.raises(ValueError, match="optimizer"):
        engine.optimizer("adagrad", 0.1)


def test_initialisation_is_keras_default_glorot_uniform():
    params, state = engine.init_state(PRESETS["autoencoder-sigmoid-bce"])
    widths = [784, 128, 64, 28, 64, 128, 784]
    assert [w.shape for w, _ in params] == list(zip(widths[:-1], widths[1:]))
    for (w, b), fan_in, fan_out in zip(params, widths[:-1], widths[1:]):
        w, b = np.asarray(w), np.asarray(b)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        assert np.max(np.abs(w)) <= limit
        assert np.std(w) == pytest.approx(limit / math.sqrt(3.0), rel=0.05)  # uniform(−a, a)
        assert np.max(np.abs(b)) == 0.0
    reference = models.init(jax.random.fold_in(jax.random.PRNGKey(0), 0), widths)
    for (w, _), (w_ref, _) in zip(params, reference):
        np.testing.assert_allclose(w, w_ref, rtol=1e-6)
    classifier, _ = engine.init_state(PRESETS["classifier-cce"])
    assert classifier[0][0].shape == (784, 10) and np.all(np.asarray(classifier[0][1]) == 1.0)
    assert isinstance(state, tuple)  # optax state


def test_softmax_bce_is_keras_clipped_bce_of_softmax_and_keras_reports_another_number():
    rng = np.random.default_rng(1)
    logits = jnp.asarray(rng.normal(scale=3.0, size=(4, 784)), jnp.float32)
    y = jnp.asarray(rng.uniform(size=(4, 784)), jnp.float32)
    direct = losses.binary_crossentropy(y, jax.nn.softmax(logits))
    np.testing.assert_allclose(losses.softmax_bce(y, logits), direct, rtol=1e-5)
    keras = losses.keras_reported_bce(y, logits)
    np.testing.assert_allclose(keras, losses.binary_crossentropy(y, jax.nn.sigmoid(logits)), rtol=1e-4)
    # Huge logits: the log-softmax form stays finite and equals the clipped value.
    huge = logits * 1e4
    assert np.all(np.isfinite(losses.softmax_bce(y, huge)))
    np.testing.assert_allclose(losses.softmax_bce(y, huge),
                               losses.binary_crossentropy(y, jax.nn.softmax(huge)), rtol=1e-4)


def test_honest_and_keras_bce_differ_for_a_softmax_autoencoder_only():
    x = np.asarray(synthetic_autoencoder(width=784).test_inputs())
    softmax_cfg = PRESETS["seed-autoencoder"].replace(pixels="unit")
    params, _ = engine.init_state(softmax_cfg)
    honest, keras = engine.honest_and_keras_bce(params, x, softmax_cfg)
    outputs = engine.predict(softmax_cfg, params, x)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-4)
    assert honest == pytest.approx(float(jnp.mean(losses.binary_crossentropy(x, outputs))), rel=1e-5)
    assert keras == pytest.approx(float(jnp.mean(losses.binary_crossentropy_from_logits(
        x, models.apply(params, jnp.asarray(x))))), rel=1e-5)
    assert honest > keras + 0.5  # far from each other: softmax cannot make 784 independent pixels
    sigmoid_cfg = PRESETS["autoencoder-sigmoid-bce"]
    honest_s, keras_s = engine.honest_and_keras_bce(params, x, sigmoid_cfg)
    assert honest_s == pytest.approx(keras_s, rel=1e-5)


def test_the_loss_is_computed_on_the_outputs():
    rng = np.random.default_rng(2)
    z = jnp.asarray(rng.normal(size=(5, 10)), jnp.float32)
    y = jnp.asarray(data.one_hot(rng.integers(0, 10, 5)))
    cfg = PRESETS["classifier-mse"]
    np.testing.assert_allclose(engine.output_loss(cfg, z, y),
                               losses.mean_squared_error(y, jax.nn.softmax(z)), rtol=1e-6)
    np.testing.assert_allclose(engine.output_loss(cfg.replace(loss="categorical_crossentropy"), z, y),
                               -jnp.sum(y * jax.nn.log_softmax(z), axis=-1), rtol=1e-6)
    np.testing.assert_allclose(engine.output_loss(cfg.replace(loss="kl_divergence"), z, y),
                               losses.kl_divergence(y, jax.nn.softmax(z)), rtol=1e-6)
    relu = cfg.replace(loss="binary_crossentropy", output_activation="relu")
    np.testing.assert_allclose(engine.output_loss(relu, z, y),
                               losses.binary_crossentropy(y, jax.nn.relu(z)), rtol=1e-6)


def test_raw_pixel_targets_make_softmax_bce_negative():
    """The confused original's loss has no minimum: with 0–255 targets BCE goes below zero."""
    y = jnp.zeros((1, 784)).at[0, 0].set(255.0)  # one bright pixel in raw 0–255 scale
    logits = jnp.zeros((1, 784)).at[0, 0].set(30.0)  # all the softmax mass on it
    assert float(losses.softmax_bce(y, logits)[0]) < 0


def test_bad_configs_and_mismatched_data_are_refused_clearly():
    with pytest.raises(ValueError, match="optimizer"):
        engine.check_config(SYNTH.replace(optimizer="lbfgs"))
    with pytest.raises(ValueError, match="learning rate"):
        engine.check_config(SYNTH.replace(learning_rate=float("nan")))
    with pytest.raises(ValueError, match="unknown loss"):
        engine.check_config(SYNTH.replace(loss="hinge_of_doom"))
    with pytest.raises(ValueError, match="prepared for task"):
        engine.run(PRESETS["classifier-cce"], synthetic_autoencoder())


@pytest.mark.parametrize("name", ["seed-autoencoder", "autoencoder-sigmoid-bce", "autoencoder-sigmoid-mse",
                                  "classifier-mse", "classifier-cce"])
def test_a_fraction_of_a_real_mnist_epoch_lowers_the_loss(name, mnist):
    config = PRESETS[name]
    dataset = engine.prepare(config, mnist, limit_test=500)
    assert dataset.n_train == 60000
    chunks = []
    result = engine.run(config, dataset, on_progress=lambda p: chunks.append(p) if p.kind is engine.EventKind.CHUNK else None,
                          should_stop=lambda: len(chunks) >= 4, chunk_steps=15)
    assert result.status is engine.Status.STOPPED
    assert result.steps.size < engine.steps_per_epoch(config, dataset)  # a fraction of one epoch
    losses_ = result.step_losses
    assert np.all(np.isfinite(losses_))
    assert np.mean(losses_[-10:]) < np.mean(losses_[:10]), (losses_[:10], losses_[-10:])


def test_prepare_builds_the_targets_of_each_task(mnist):
    ae = engine.prepare(PRESETS["seed-autoencoder"], mnist, limit_train=50, limit_test=30)
    assert ae.y_train is None and float(jnp.max(ae.train_inputs())) == 255.0
    assert ae.x_train.dtype == jnp.uint8  # MNIST stays compact on the device
    assert ae.reconstruction_inputs.shape == (8, 784)
    assert list(ae.labels_test[ae.reconstruction_index]) == list(range(8))
    fixed = engine.prepare(PRESETS["autoencoder-sigmoid-bce"], mnist, limit_train=50, limit_test=30)
    assert float(jnp.max(fixed.train_inputs())) == 1.0
    cls = engine.prepare(PRESETS["classifier-cce"], mnist, limit_train=50, limit_test=30)
    assert cls.y_train.shape == (50, 10) and np.array_equal(np.argmax(cls.y_train, 1), cls.labels_train)
    assert cls.x_test.shape == (30, 784)


def test_chunk_length_prefers_a_divisor_of_the_epoch_and_skips_few_steps_otherwise():
    def length(n_train, batch, chunk_steps):
        dataset = synthetic_autoencoder(n_train=n_train)
        return engine.chunk_length(SYNTH.replace(batch_size=batch), dataset, chunk_steps)

    assert length(600, 1, 160) == (150, 4)  # 150 divides 600: no skipped steps
    assert length(600, 1, 1000) == (600, 1)  # never more than an epoch
    k, c = length(97, 1, 10)  # 97 steps is prime: 10 chunks of 10, 3 steps skipped
    assert (k, c) == (10, 10) and 0 <= k * c - 97 < c
    estimated = engine.chunk_length(PRESETS["autoencoder-sigmoid-bce"],
                                      synthetic_autoencoder(n_train=60000, width=784))
    assert 600 % estimated[0] == 0 and estimated[0] * estimated[1] == 600


def test_compile_seconds_times_each_function_a_run_needs():
    parts = engine.compile_seconds(SYNTH, synthetic_autoencoder(width=11))
    assert set(parts) == {"init", "chunk", "evaluate"}
    assert all(0.0 < seconds < 60.0 for seconds in parts.values())
