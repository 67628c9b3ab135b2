"""The lab's library: smoothing, BCE floor, run records, downloads, comparison, the form, slots, figures.

The exported script and the Keras code are tested in test_export.py."""

from __future__ import annotations

import csv
import io
import json
import threading
import time

import numpy as np
import pytest

from lossviz import lab, losses
from lossviz.figures import lab as lab_plots
from lossviz import engine
from lossviz.config import PRESETS


# ---------------------------------------------------------------- smoothing and floor


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99])
def test_debiased_ema_equals_the_direct_weighted_mean(beta):
    x = np.random.default_rng(1).normal(size=60) ** 2
    got = lab.debiased_ema(x, beta)
    for t in range(1, len(x) + 1):
        weights = beta ** np.arange(t - 1, -1, -1, dtype=np.float64)  # β^(t-k), k = 1..t
        direct = (1 - beta) * np.sum(weights * x[:t]) / (1 - beta**t) if beta else x[t - 1]
        assert got[t - 1] == pytest.approx(direct, rel=1e-12)
        # It is a weighted mean: the weights (1-β)β^(t-k)/(1-β^t) sum to one.
        assert min(x[:t]) - 1e-12 <= got[t - 1] <= max(x[:t]) + 1e-12


def loop_ema(values, beta):
    """The definition, one point at a time: s_t = β s_(t-1) + (1-β) x_t, divided by 1 - β^t."""
    out, s = [], 0.0
    for t, value in enumerate(values, start=1):
        s = beta * s + (1 - beta) * value
        out.append(s / (1 - beta**t))
    return np.asarray(out)


@pytest.mark.parametrize("beta, n", [(0.3, 3000), (0.9, 5000), (0.99, 50_000), (0.9999, 30_000)])
def test_vectorised_ema_equals_the_loop_definition_across_its_blocks(beta, n):
    # 0.3 and 0.9 cut the series into 191- and 2,185-point blocks (β^-j < 1e100); 0.99 into two.
    x = np.random.default_rng(2).lognormal(size=n)
    np.testing.assert_allclose(lab.debiased_ema(x, beta), loop_ema(x, beta), rtol=1e-11)
    with_nan = x[:50].copy()
    with_nan[20] = np.nan
    np.testing.assert_array_equal(np.isnan(lab.debiased_ema(with_nan, beta)), np.arange(50) >= 20)


def test_debiased_ema_starts_at_the_first_value_and_rejects_bad_smoothing():
    assert lab.debiased_ema([5.0, 1.0], 0.99)[0] == 5.0
    assert lab.debiased_ema([5.0, 1.0], 0.0).tolist() == [5.0, 1.0]
    assert lab.debiased_ema([], 0.9).shape == (0,)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError):
            lab.debiased_ema([1.0], bad)


def test_bce_floor_equals_the_mean_binary_entropy_of_the_pixels(mnist):
    images = mnist[0][0][:300]
    direct = float(np.mean(np.asarray(losses.binary_entropy(images.astype(np.float32) / 255.0), np.float64)))
    assert lab.bce_floor_of_images(images) == pytest.approx(direct, rel=1e-5)
    whole = lab.bce_floor_of_images(mnist[0][0])
    # Independently: count each grey level, weight its float64 entropy -y ln y - (1-y) ln(1-y).
    y = np.arange(256) / 255.0
    entropy = -(y * np.log(np.where(y > 0, y, 1.0)) + (1 - y) * np.log(np.where(y < 1, 1 - y, 1.0)))
    counts = np.bincount(mnist[0][0].ravel(), minlength=256)
    assert whole == pytest.approx(float(counts @ entropy / counts.sum()), rel=1e-6)
    assert round(whole, 3) == 0.058  # the floor the README's BCE landscape row quotes
    assert lab.bce_floor_of_images(np.zeros((2, 784), np.uint8)) == 0.0


# ---------------------------------------------------------------- run records


def tiny_run(mnist, config, n=200, **kwargs):
    dataset = engine.prepare(config, mnist, limit_train=n, limit_test=n)
    record = lab.RunRecord(run_id=1, config=config, train_size=n)
    result = engine.run(config, dataset, on_progress=record.observe, chunk_steps=2, **kwargs)
    return record, result, dataset


def test_record_follows_progress_events_and_matches_the_result(mnist):
    config = PRESETS["classifier-cce"].replace(epochs=2, batch_size=50)
    record, result, dataset = tiny_run(mnist, config)
    assert record.steps == list(range(1, 9))  # 2 epochs × 4 steps, all seen live
    np.testing.assert_allclose(record.step_losses, result.step_losses, rtol=1e-6)
    assert [row["epoch"] for row in record.epochs] == [1, 2]
    assert record.epochs[1]["train_loss"] == pytest.approx(result.epochs[1]["loss"], rel=1e-6)
    record.finish(result)
    assert record.status == "finished" and type(record.status) is str and record.done
    assert record.epochs[1]["seconds"] == pytest.approx(result.epochs[1]["seconds"])
    report = lab.classifier_report(config, result.params, dataset)
    assert report["confusion"].sum() == 200
    errors = 200 - int(np.trace(report["confusion"]))
    assert errors > 0 and len(report["true"]) == min(8, errors)  # 2 tiny epochs leave mistakes to show
    assert np.all(report["true"] != report["predicted"])
    assert report["images"].shape == (len(report["true"]), 784)

    rows = list(csv.DictReader(io.StringIO(lab.history_csv(record))))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["test_accuracy"]) == pytest.approx(result.epochs[1]["test_accuracy"])
    assert rows[0]["keras_reported_loss"] == ""  # only softmax + BCE has one
    steps = lab.steps_csv(record).splitlines()
    assert steps[0] == "step,loss" and len(steps) == 9
    data = json.loads(lab.history_json(record))
    assert data["config"] == config.to_dict() and data["status"] == "finished"
    assert data["step_losses"] == pytest.approx(record.step_losses)
    table = lab.comparison_rows([record])
    assert table[0]["test accuracy"] == pytest.approx(result.epochs[-1]["test_accuracy"])


def test_common_bce_scores_any_autoencoder_against_pixels_in_unit_interval(mnist):
    config = PRESETS["seed-autoencoder"].replace(hidden=(16,), epochs=1, batch_size=50)
    record, result, dataset = tiny_run(mnist, config)
    got = lab.autoencoder_common_bce(config, result.params, dataset)
    outputs = engine.predict(config, result.params, dataset.test_inputs())
    direct = float(np.mean(losses.binary_crossentropy(np.asarray(dataset.test_inputs()) / 255.0, outputs)))
    assert got == pytest.approx(direct, rel=1e-4)
    record.finish(result)
    record.common_bce = got
    assert lab.comparison_rows([record])[0]["test BCE, pixels in [0,1]"] == pytest.approx(got)


class Interrupt(BaseException):
    """Stands in for Streamlit's StopException, which also derives from BaseException."""


def test_an_interrupted_run_keeps_its_history_and_says_stopped(mnist):
    config = PRESETS["autoencoder-sigmoid-bce"].replace(hidden=(16,), epochs=3, batch_size=50)
    dataset = engine.prepare(config, mnist, limit_train=200, limit_test=50)
    record = lab.RunRecord(run_id=2, config=config, train_size=200)

    def on_progress(event):
        record.observe(event)
        if len(record.steps) >= 6:
            raise Interrupt()

    with pytest.raises(Interrupt):
        engine.run(config, dataset, on_progress=on_progress, chunk_steps=2)
    record.interrupt()
    assert record.status == "stopped" and len(record.steps) == 6
    assert "step 6 of 12" in record.message and "epoch 1.50 of 3" in record.message
    assert len(record.epochs) == 1 and record.reconstructions.shape == (8, 784)


def test_overlay_series_puts_runs_on_a_common_epoch_axis():
    config = PRESETS["classifier-cce"]
    a = lab.RunRecord(run_id=1, config=config, train_size=1000, total_steps=40)
    a.add_chunk(1, [1.0] * 20)
    b = lab.RunRecord(run_id=2, config=config.replace(batch_size=64, epochs=2), train_size=1000, total_steps=32)
    b.add_chunk(1, [2.0] * 16)
    b.add_epoch({"epoch": 1, "test_accuracy": 0.5})
    assert a.fraction_done == 0.5 and a.epochs_done == 5.0
    assert a.smoothed_loss(0.9) == pytest.approx(1.0) and a.excess_over_floor(0.25, 0.9) == pytest.approx(0.75)
    series = lab.overlay_series([a, b], "smoothed training loss per step", 0.9)
    assert [s[0] for s in series] == [a.label, b.label]
    assert series[0][1][-1] == pytest.approx(20 / 4)  # 4 steps per epoch: 10 epochs × 4 = 40 steps
    assert series[1][1][-1] == pytest.approx(1.0)
    acc = lab.overlay_series([a, b], "test accuracy per epoch", 0.9)
    assert [s[0] for s in acc] == [b.label]


def test_hidden_widths_are_validated():
    assert lab.parse_hidden("128, 64,28") == (128, 64, 28)
    assert lab.parse_hidden("") == ()
    for bad in ("12a", "-3", "0", "99999", ",".join(["8"] * 9)):
        with pytest.raises(ValueError):
            lab.parse_hidden(bad)
    assert lab.parse_hidden(lab.hidden_text(PRESETS["seed-autoencoder"].hidden)) == (128, 64, 28, 64, 128)


# ---------------------------------------------------------------- training slots


def test_slots_queue_a_second_visitor_until_the_first_finishes():
    slots = lab.TrainingSlots(capacity=1)
    events, waits = [], []
    first_in = threading.Event()
    release_first = threading.Event()

    def first():
        with slots.slot():
            events.append("first starts")
            first_in.set()
            release_first.wait(5)
            events.append("first ends")

    def second():
        first_in.wait(5)
        with slots.slot(on_wait=waits.append, poll_seconds=0.01):
            events.append("second starts")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    deadline = time.time() + 5
    while not waits and time.time() < deadline:
        time.sleep(0.01)
    assert waits and waits[0] == 0 and slots.waiting == 1 and slots.active == 1
    release_first.set()
    for t in threads:
        t.join(5)
    assert events == ["first starts", "first ends", "second starts"]
    assert slots.active == 0 and slots.waiting == 0


def test_slots_are_released_when_the_run_or_the_wait_is_interrupted():
    slots = lab.TrainingSlots(capacity=1)
    with pytest.raises(Interrupt):
        with slots.slot():
            raise Interrupt()
    assert slots.active == 0
    holder = slots.slot()
    holder.__enter__()

    def give_up(ahead):
        raise Interrupt()

    with pytest.raises(Interrupt):
        with slots.slot(on_wait=give_up):
            pass
    assert slots.waiting == 0 and slots.active == 1
    holder.__exit__(None, None, None)
    with slots.slot():
        assert slots.active == 1


def test_slot_capacity_follows_the_server_setting(monkeypatch):
    monkeypatch.setenv("LOSSVIZ_MAX_CONCURRENT_TRAININGS", "3")
    assert lab.TrainingSlots().capacity == 3
    assert lab.SLOTS.capacity == 3


# ---------------------------------------------------------------- figures


def test_step_loss_figure_smooths_marks_the_floor_and_refuses_log_of_negatives():
    steps = np.arange(1, 5001)
    values = 1.0 + np.sin(steps)
    fig = lab_plots.step_loss_figure(steps, values + 0.5, smoothing=0.9, log_y=True, floor=0.058)
    raw, smooth, floor = fig.data
    assert len(raw.x) <= lab_plots.MAX_POINTS + 1 and raw.x[-1] == 5000
    np.testing.assert_allclose(smooth.y[-1], lab.debiased_ema(values + 0.5, 0.9)[-1])
    assert list(floor.y) == [0.058, 0.058]
    assert fig.layout.yaxis.type == "log"
    negative = lab_plots.step_loss_figure(steps, values - 1.5, smoothing=0.5, log_y=True)
    assert negative.layout.yaxis.type == "linear" and "≤ 0" in negative.layout.title.text


def test_reconstruction_grid_puts_digits_over_outputs():
    originals = np.full((8, 784), 255, np.uint8)
    outputs = np.full((8, 784), 1 / 784)
    fig = lab_plots.reconstruction_figure(originals, outputs)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (2 * 29 - 1, 8 * 29 - 1)
    assert np.nanmax(z[:28]) == 1.0 and np.nanmax(z[29:]) == pytest.approx(1 / 784)
    rescaled = np.asarray(lab_plots.reconstruction_figure(originals, outputs, rescale=True).data[0].z, float)
    assert np.nanmax(rescaled[29:]) == 1.0
    assert fig.data[0].z.dtype == np.float32  # sent as typed binary at every epoch: half of float64's bytes
    assert len(lab_plots.reconstruction_figure(originals, np.random.rand(8, 784)).to_json()) < 100_000


def test_the_step_chart_before_a_run_says_how_to_start_one():
    empty = lab_plots.step_loss_figure([], [], loss_name="BCE (nats)")
    assert [len(trace.x) for trace in empty.data] == [0, 0]
    assert "press Train" in empty.layout.annotations[0].text
    assert empty.layout.xaxis.showticklabels is False and empty.layout.yaxis.showticklabels is False
    assert not lab_plots.step_loss_figure([1, 2], [0.5, 0.4]).layout.annotations


def test_live_step_chart_draws_at_most_its_cap_and_keeps_the_last_step():
    from lossviz.figures import lab as lab_plots

    steps = np.arange(1, 5001)
    losses = 1.0 / steps
    live = lab_plots.step_loss_figure(steps, losses, max_points=lab_plots.LIVE_MAX_POINTS)
    final = lab_plots.step_loss_figure(steps, losses)
    for fig, cap in ((live, lab_plots.LIVE_MAX_POINTS), (final, lab_plots.MAX_POINTS)):
        raw = fig.data[0]
        assert cap // 2 < len(raw.x) <= cap + 1 and raw.x[-1] == 5000 and raw.y[-1] == losses[-1]
