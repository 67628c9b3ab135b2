"""One run of the lab as the page keeps it: :class:`RunRecord`, its label (:func:`describe`) and legend names."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from lossviz import losses
from lossviz.config import PRESETS, TrainConfig
from lossviz.lab.smoothing import debiased_ema

EPOCH_FIELDS = ("epoch", "train_loss", "test_loss", "test_accuracy", "keras_reported_loss",
                "seconds", "samples_per_second")


def describe(config: TrainConfig) -> str:
    """A short human label: the preset name when it is one, else the key choices."""
    for name, preset in PRESETS.items():
        if preset == config:
            return name
    for name, preset in PRESETS.items():
        if preset.replace(seed=config.seed, epochs=config.epochs) == config:
            return f"{name} (seed {config.seed}, {config.epochs} ep)"
    widths = "-".join(str(w) for w in config.hidden) or "none"
    return (f"{config.task} [{widths}] {config.output_activation}+{short_loss(config.loss)} "
            f"{config.optimizer} {config.learning_rate:g} {config.pixels}")


def short_loss(name: str) -> str:
    """``binary_crossentropy`` → ``BCE`` and so on, for legends."""
    return {"binary_crossentropy": "BCE", "categorical_crossentropy": "CCE",
            "mean_squared_error": "MSE", "mean_absolute_error": "MAE",
            "kl_divergence": "KL"}.get(losses.ALIASES.get(name, name), name)


@dataclass
class RunRecord:
    """One run of the lab, filled as progress arrives, kept after it ends.

    ``status`` is ``"queued"``, ``"running"``, ``"finished"``, ``"stopped"``
    or ``"diverged"``.  ``steps``/``step_losses`` hold the loss of every
    training step; ``epochs`` one dict per finished epoch (:data:`EPOCH_FIELDS`).
    """

    run_id: int
    config: TrainConfig
    train_size: int
    label: str = ""
    status: str = "queued"
    message: str = ""
    steps: list[int] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    total_steps: int = 0
    samples_done: int = 0
    samples_per_second: float = float("nan")
    eta_seconds: float = float("nan")
    seconds: float = 0.0
    started_at: float = field(default_factory=time.time)
    originals: np.ndarray | None = None
    reconstructions: np.ndarray | None = None
    confusion: np.ndarray | None = None
    misclassified: list[dict] = field(default_factory=list)
    common_bce: float | None = None
    """Autoencoders: test BCE against pixels in [0, 1] (:func:`autoencoder_common_bce`)."""

    def __post_init__(self):
        if not self.label:
            self.label = f"#{self.run_id} {describe(self.config)}"

    @property
    def done(self) -> bool:
        return self.status in ("finished", "stopped", "diverged")

    def add_chunk(self, first_step: int, losses_of_steps: Sequence[float]) -> None:
        """Append the per-step losses of one chunk that starts at step ``first_step`` (1-based)."""
        values = [float(v) for v in losses_of_steps]
        self.steps.extend(range(first_step, first_step + len(values)))
        self.step_losses.extend(values)

    def add_epoch(self, row: dict) -> None:
        self.epochs.append({k: plain(row.get(k)) for k in EPOCH_FIELDS})

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.total_steps // max(1, self.config.epochs))

    @property
    def fraction_done(self) -> float:
        """Steps done over steps planned, in [0, 1]."""
        return min(1.0, len(self.steps) / self.total_steps) if self.total_steps else 0.0

    @property
    def epochs_done(self) -> float:
        """Fractional epochs trained: steps done / steps per epoch."""
        return len(self.steps) / self.steps_per_epoch

    def smoothed_loss(self, smoothing: float) -> float | None:
        """The last value of the debiased EMA of the step losses, or ``None`` before the first step."""
        return float(debiased_ema(self.step_losses, smoothing)[-1]) if self.step_losses else None

    def observe(self, event) -> None:
        """Record one engine ``Progress`` event: a chunk's step losses or an epoch's metrics."""
        self.status = "running"
        self.total_steps = int(event.total_steps)
        self.samples_done = int(event.samples_done)
        self.samples_per_second = float(event.samples_per_second)
        self.eta_seconds = float(event.eta_seconds)
        self.seconds = float(event.elapsed_seconds)
        if event.kind == "chunk":
            self.add_chunk(int(event.step) - len(event.step_losses) + 1, event.step_losses)
        else:
            self.add_epoch({
                "epoch": int(round(event.epoch)), "train_loss": event.train_loss,
                "test_loss": event.test_loss, "test_accuracy": event.test_accuracy,
                "keras_reported_loss": event.keras_reported_loss,
                "samples_per_second": event.samples_per_second,
            })
            if event.reconstructions is not None:
                self.reconstructions = np.asarray(event.reconstructions)

    def finish(self, result) -> None:
        """Take the status, message, epochs (with their timings) and steps of the engine's ``RunResult``."""
        self.status = str(result.status)  # the engine's Status as its plain word, as downloads write it
        self.message = result.message
        self.seconds = float(result.seconds)
        self.epochs = []
        for row in result.epochs:
            self.add_epoch({**row, "train_loss": row.get("loss")})
        self.steps = [int(s) for s in result.steps]
        self.step_losses = [float(v) for v in result.step_losses]
        if result.reconstructions is not None:
            self.reconstructions = np.asarray(result.reconstructions)
        if self.epochs and self.epochs[-1].get("samples_per_second"):
            self.samples_per_second = float(np.mean([r["samples_per_second"] for r in self.epochs
                                                     if r.get("samples_per_second")]))

    def interrupt(self) -> None:
        """Mark a run cut short between chunks (Stop, another control, a closed tab); history stays."""
        if self.done:
            return
        self.status = "stopped"
        self.message = (f"Stopped at step {len(self.steps):,} of {self.total_steps or 0:,}"
                        f" (epoch {self.epochs_done:.2f} of {self.config.epochs});"
                        " the history so far is kept.")

    def excess_over_floor(self, floor: float, smoothing: float) -> float | None:
        """Smoothed loss minus the data's BCE floor: the part of the loss that learning can still remove."""
        smoothed = self.smoothed_loss(smoothing)
        return None if smoothed is None else smoothed - floor

    def settle(self, timeout: float = 3.0, poll_seconds: float = 0.05) -> None:
        """Wait for a run another thread is ending, then make sure it is marked ended.

        Streamlit's fast reruns start the new script run while the old one is
        still finishing its chunk; the old thread marks its run stopped when it
        reaches its next Streamlit call.  Past ``timeout`` it is marked here.
        """
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            time.sleep(poll_seconds)
        self.interrupt()

    def final(self) -> dict:
        """The last epoch's metrics (``nan`` where there are none)."""
        last = self.epochs[-1] if self.epochs else {}
        return {k: plain(last.get(k, float("nan"))) for k in EPOCH_FIELDS}

    def to_dict(self) -> dict:
        """Everything but the images, as JSON-ready plain values."""
        return {
            "run": self.run_id,
            "label": self.label,
            "config": self.config.to_dict(),
            "train_size": self.train_size,
            "status": self.status,
            "message": self.message,
            "seconds": self.seconds,
            "samples_per_second": plain(self.samples_per_second),
            "epochs": [dict(row) for row in self.epochs],
            "steps": list(self.steps),
            "step_losses": [plain(v) for v in self.step_losses],
            "confusion_matrix": None if self.confusion is None else np.asarray(self.confusion).tolist(),
        }


def plain(value: Any) -> Any:
    """numpy scalars → Python; non-finite floats → ``None`` (valid JSON, empty CSV cell)."""
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
