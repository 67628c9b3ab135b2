"""Where a landscape's weights come from (a stored run, or a pair trained on the spot) and what each view evaluates.

Streamlit-free: the page caches what these functions return.  The math is in
:mod:`lossviz.lessons.landscape`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from lossviz.config import PRESETS, TrainConfig
from lossviz.engine import training
from lossviz.lessons import landscape as ls

PAIRS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "autoencoder": (("seed-autoencoder", "as written"), ("autoencoder-sigmoid-bce", "fixed")),
    "classifier": (("classifier-mse", "MSE"), ("classifier-cce", "cross-entropy")),
}
"""The two one-click pairs: ``(preset, short label)`` for each side."""
PAIR_TITLES = {"autoencoder": "Autoencoder: as written vs fixed", "classifier": "Classifier: MSE vs cross-entropy"}
PAIR_TRAIN_IMAGES = 10_000
"""Training images of a pair trained on the spot (the first of MNIST's training set)."""
VIEWS = ("line", "slice", "path")


@dataclass(frozen=True)
class RunWeights:
    """A run's weights as a landscape needs them: initial, per-epoch (1 … T, the last = final) and final."""

    label: str
    config: TrainConfig
    initial: ls.Layers
    final: ls.Layers
    epochs: tuple = ()
    train_images: int | None = None
    run_id: str | None = None
    final_epoch: dict = field(default_factory=dict)

    @property
    def has_path(self) -> bool:
        return len(self.epochs) >= 1

    @property
    def parameter_count(self) -> int:
        return int(sum(k.size + b.size for k, b in self.final))


def loss_unit(config: TrainConfig) -> str:
    """The loss's name and unit for a colour bar or an axis."""
    name = {"binary_crossentropy": "BCE (nats per pixel)", "categorical_crossentropy": "cross-entropy (nats)",
            "mean_squared_error": "MSE (per output)", "kl_divergence": "KL divergence (nats)"}
    return name.get(training.spec_of(config).loss, training.spec_of(config).loss)


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


def _keeps_epoch_params() -> bool:
    return "keep_epoch_params" in inspect.signature(training.run).parameters


def train_weights(config: TrainConfig, dataset: training.Dataset, label: str) -> RunWeights:
    """Train ``config`` on ``dataset`` with the engine and keep what a landscape needs.

    Per-epoch weights need the engine's ``keep_epoch_params``; without it the
    run has no path (the line and the slice still work).
    """
    if _keeps_epoch_params():
        result = training.run(config, dataset, keep_epoch_params=True)
        initial = result.initial_params
        epochs = tuple(ls.as_layers(p) for p in (result.epoch_params or ()))
    else:
        initial, _ = training.init_state(config, dataset)
        result = training.run(config, dataset)
        epochs = ()
    if result.status != "finished":
        raise RuntimeError(f"{label}: {result.message}")
    return RunWeights(label=label, config=config, initial=ls.as_layers(initial), final=ls.as_layers(result.params),
                      epochs=epochs, train_images=dataset.n_train, final_epoch=dict(result.final))


def pair_configs(pair: str, epochs: int | None = None) -> list[tuple[TrainConfig, str]]:
    """The two configs of a pair (their presets, with ``epochs`` if given)."""
    out = []
    for preset, label in PAIRS[pair]:
        config = PRESETS[preset]
        out.append((config.replace(epochs=epochs) if epochs else config, label))
    return out


def train_pair(pair: str, mnist, train_images: int = PAIR_TRAIN_IMAGES, epochs: int | None = None,
               test_images: int = 2000) -> list[RunWeights]:
    """Both runs of a pair, trained here on the first ``train_images`` training images."""
    runs = []
    for config, label in pair_configs(pair, epochs):
        dataset = training.prepare(config, mnist, limit_train=train_images, limit_test=test_images)
        runs.append(train_weights(config, dataset, label))
    return runs


def _stored_layers(store, run_id: str, name: str) -> ls.Layers | None:
    arrays = store.get_arrays(run_id, name)
    if arrays is None:
        return None
    if isinstance(arrays, dict):
        arrays = [arrays[k] for k in sorted(arrays, key=lambda k: int(k) if str(k).isdigit() else k)]
    return ls.as_layers(arrays)


def stored_weights(store, run_id: str) -> RunWeights:
    """A finished run's weights from the run store; ``LookupError`` with a readable message if it cannot be used."""
    row = store.get(run_id)
    if row is None:
        raise LookupError(f"no run `{run_id}` in the run store")
    config = TrainConfig.from_dict(row.config)
    initial, final = _stored_layers(store, run_id, "params/initial"), _stored_layers(store, run_id, "params/final")
    if initial is None or final is None:
        raise LookupError(f"run `{run_id}` is {row.state.value} and has no stored initial and final weights yet")
    epochs = []
    for n in range(1, len(row.epochs) + 1):
        layers = _stored_layers(store, run_id, f"params/epoch/{n}")
        if layers is None:
            break
        epochs.append(layers)
    return RunWeights(label=f"run {run_id}", config=config, initial=initial, final=final, epochs=tuple(epochs),
                      run_id=run_id, final_epoch=dict(row.epochs[-1]) if row.epochs else {})


# --------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------


class LineResult(NamedTuple):
    """The straight line θ(α): losses and accuracies (NaN without classes) on train and test images."""

    alphas: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray


def line(run: RunWeights, train: ls.Probe, test: ls.Probe, points: int = ls.LINE_POINTS) -> LineResult:
    """θ(α) = θ₀ + α(θ₁ − θ₀) for α in [−0.5, 1.5], evaluated on both probes (one jitted call each)."""
    alphas = ls.line_alphas(points)
    direction = ls.difference(run.final, run.initial)
    zero = ls.zeros_like(run.initial)
    beta = np.zeros(1)
    train_loss, train_acc = ls.evaluate_grid(run.config, run.initial, direction, zero, alphas, beta, train)
    test_loss, test_acc = ls.evaluate_grid(run.config, run.initial, direction, zero, alphas, beta, test)
    return LineResult(alphas, train_loss[0], test_loss[0], train_acc[0], test_acc[0])


class Plane(NamedTuple):
    """What a 2-D view evaluates: ``centre + α·d1 + β·d2`` over ``alphas`` × ``betas``."""

    centre: ls.Layers
    d1: ls.Layers
    d2: ls.Layers
    alphas: np.ndarray
    betas: np.ndarray
    path: ls.PcaPath | None = None


def slice_plane(run: RunWeights, resolution: int, half_range: float, seed: int) -> Plane:
    """Li et al.'s slice: two filter-normalised Gaussian directions around the final weights."""
    d1, d2 = ls.random_directions(run.final, seed)
    axis = ls.grid_axis(half_range, resolution)
    return Plane(run.final, d1, d2, axis, axis)


def path_plane(run: RunWeights, resolution: int) -> Plane:
    """The plane of the first two principal directions of the path (initial, then each epoch's weights)."""
    path = ls.pca_path([run.initial, *run.epochs], run.final)
    alphas, betas = ls.path_axes(path.coords, resolution)
    return Plane(run.final, *path.directions, alphas, betas, path)


def rows_per_block(run: RunWeights, resolution: int, images: int, target_flops: float = 1.5e11) -> int:
    """Grid rows per jitted call: about ``target_flops`` of work (≈ 1 s on a 2-core CPU), at least one row."""
    per_row = ls.flops_per_point(run.final, images) * resolution
    return int(max(1, min(resolution, target_flops // max(per_row, 1.0))))


def cache_name(view: str, resolution: int, half_range: float, seed: int, images: int) -> str:
    """The run store's array name for a computed surface (``landscape/<key>``)."""
    if view == "path":
        return f"landscape/path-r{resolution}-n{images}"
    return f"landscape/slice-r{resolution}-x{half_range:g}-s{seed}-n{images}"
