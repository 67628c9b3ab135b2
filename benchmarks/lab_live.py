"""How much the MNIST lab's live redraws cost: samples/s of engine.run headless vs with the page's callback.

    .venv/bin/python benchmarks/lab_live.py [--preset NAME] [--epochs N] [--repeats N] [--json]

The callback does what ``pages/mnist.py`` does between chunks: record
the progress event, and at most every ``REDRAW_SECONDS`` rebuild the progress
text, metrics, step-loss chart, per-epoch chart and reconstruction grid and
hand them to Streamlit placeholders (in bare mode Streamlit still marshals
each figure to JSON; only the websocket send is missing).  Runs alternate
headless / live so that load from other processes affects both alike.
Throughput is the mean of the epochs after the first (steady state).  On a
shared machine the throughput difference is noisy; the time spent inside the
callback, as a share of the run's wall time, is an upper bound on the cost
that does not depend on other processes' load as much.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

logging.getLogger("streamlit").setLevel(logging.ERROR)

import streamlit as st  # noqa: E402  (bare mode: no server; calls marshal and drop)

from lossviz import data, lab
from lossviz.figures import lab as lab_plots
from lossviz import engine  # noqa: E402
from lossviz.config import PRESETS  # noqa: E402

REDRAW_SECONDS = 0.3  # as in pages/mnist.py


def live_callback(record: lab.RunRecord, floor: float | None, every_chunk: bool = False):
    boxes = {name: st.empty() for name in ("progress", "metrics", "steps", "epochs", "side")}
    last = [0.0]

    def draw(epoch_charts: bool):
        boxes["progress"].progress(min(1.0, len(record.steps) / max(record.total_steps, 1)),
                                   text=f"step {len(record.steps)} · {record.samples_per_second:,.0f} samples/s")
        smoothed = lab.debiased_ema(record.step_losses, 0.9)
        with boxes["metrics"].container():
            st.metric("Status", record.status)
            st.metric("Smoothed loss", f"{smoothed[-1]:.4f}")
            st.metric("Seconds", f"{record.seconds:.1f}")
        boxes["steps"].plotly_chart(lab_plots.step_loss_figure(record.steps, record.step_losses, 0.9, False, floor),
                                    width="stretch")
        if not epoch_charts:  # as the page: per-epoch charts only change when an epoch ends
            return
        if record.epochs:
            boxes["epochs"].plotly_chart(lab_plots.epoch_loss_figure(record.epochs), width="stretch")
        if record.reconstructions is not None and record.originals is not None:
            boxes["side"].plotly_chart(lab_plots.reconstruction_figure(record.originals, record.reconstructions),
                                       width="stretch")

    def on_progress(event):
        started = time.perf_counter()
        record.observe(event)
        on_progress.epoch_ended = on_progress.epoch_ended or event.kind is engine.EventKind.EPOCH
        if every_chunk or started - last[0] >= REDRAW_SECONDS:
            last[0] = started
            draw(on_progress.epoch_ended)
            on_progress.epoch_ended = False
            on_progress.redraws += 1
        on_progress.seconds += time.perf_counter() - started

    on_progress.seconds = 0.0
    on_progress.redraws = 0
    on_progress.epoch_ended = False
    return on_progress


def steady_rate(result) -> float:
    rates = [row["samples_per_second"] for row in result.epochs[1:]]
    return statistics.fmean(rates) if rates else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="autoencoder-sigmoid-bce")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every-chunk", action="store_true", help="redraw after every chunk (worst case)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not steady)")

    config = PRESETS[args.preset].replace(epochs=args.epochs)
    mnist = data.load_mnist()
    dataset = engine.prepare(config, mnist)
    floor = lab.bce_floor_of_images(mnist[0][0]) if config.task == "autoencoder" else None
    engine.run(config.replace(epochs=1), dataset)  # compile once, outside the measurement

    headless, live, first_point, callback_share, redraw_rate = [], [], [], [], []
    for _ in range(args.repeats):
        headless.append(steady_rate(engine.run(config, dataset)))
        record = lab.RunRecord(run_id=1, config=config, train_size=dataset.n_train)
        record.originals = dataset.reconstruction_inputs
        callback = live_callback(record, floor, args.every_chunk)
        result = engine.run(config, dataset, on_progress=callback)
        live.append(steady_rate(result))
        first_point.append(result.first_progress_seconds)
        callback_share.append(callback.seconds / result.seconds)
        redraw_rate.append(callback.redraws / result.seconds)
    h, lv = statistics.median(headless), statistics.median(live)
    report = {
        "preset": args.preset, "epochs": args.epochs, "repeats": args.repeats,
        "redraw": "every chunk" if args.every_chunk else f"at most every {REDRAW_SECONDS} s",
        "headless_samples_per_second": round(h), "live_samples_per_second": round(lv),
        "overhead_percent": round(100.0 * (1.0 - lv / h), 1),
        "headless_runs": [round(v) for v in headless], "live_runs": [round(v) for v in live],
        "callback_share_of_wall_time_percent": round(100.0 * statistics.median(callback_share), 1),
        "redraws_per_second": round(statistics.median(redraw_rate), 2),
        "first_point_seconds_warm": round(float(np.median(first_point)), 3),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>30}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
