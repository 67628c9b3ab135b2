"""Runs side by side: the comparison table, overlaid curves on a common epoch axis, one-click pairs."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lossviz.config import PRESETS, TrainConfig
from lossviz.lab.records import RunRecord, plain
from lossviz.lab.smoothing import debiased_ema


def comparison_rows(records: Sequence[RunRecord]) -> list[dict]:
    """One row of final metrics per run, for the comparison table."""
    rows = []
    for r in records:
        last = r.final()
        rows.append({
            "run": r.label,
            "status": r.status,
            "loss": r.config.loss,
            "output": r.config.output_activation,
            "pixels": r.config.pixels,
            "epochs done": len(r.epochs),
            "train loss": last["train_loss"],
            "test loss": last["test_loss"],
            "test accuracy": last["test_accuracy"],
            "Keras-reported loss": last["keras_reported_loss"],
            "test BCE, pixels in [0,1]": plain(r.common_bce),
            "seconds": round(r.seconds, 2),
            "samples/s": plain(r.samples_per_second),
        })
    return rows


OVERLAY_METRICS = {
    "smoothed training loss per step": ("step", None),
    "training loss per epoch": ("epoch", "train_loss"),
    "test loss per epoch": ("epoch", "test_loss"),
    "test accuracy per epoch": ("epoch", "test_accuracy"),
    "Keras-reported loss per epoch": ("epoch", "keras_reported_loss"),
}


def overlay_series(records: Sequence[RunRecord], metric: str, smoothing: float) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(label, x, y)`` per run for :data:`OVERLAY_METRICS` ``metric``; x in epochs so batch sizes align.

    Per-step losses are smoothed with :func:`debiased_ema` and placed at
    ``step / steps_per_epoch``; runs without the metric are left out.
    """
    kind, key = OVERLAY_METRICS[metric]
    series = []
    for r in records:
        if kind == "step":
            if not r.step_losses:
                continue
            x = np.asarray(r.steps, dtype=np.float64) / r.steps_per_epoch
            y = debiased_ema(r.step_losses, smoothing)
        else:
            rows = [row for row in r.epochs if row.get(key) is not None]
            if not rows:
                continue
            x = np.asarray([row["epoch"] for row in rows], dtype=np.float64)
            y = np.asarray([row[key] for row in rows], dtype=np.float64)
        series.append((r.label, x, y))
    return series


def pair_configs(kind: str, seed: int, epochs: int) -> list[TrainConfig]:
    """The two presets of a one-click comparison, with the same seed and epochs.

    ``"fix"``: seed-autoencoder as written vs autoencoder-sigmoid-bce;
    ``"mse-ce"``: classifier-mse vs classifier-cce.
    """
    names = {"fix": ("seed-autoencoder", "autoencoder-sigmoid-bce"),
             "mse-ce": ("classifier-mse", "classifier-cce")}[kind]
    return [PRESETS[name].replace(seed=seed, epochs=epochs) for name in names]
