"""Where a landscape's weights come from (a stored run, or a pair trained on the spot) and what each view evaluates.

Streamlit-free: the page caches what these functions return.  The math is in
:mod:`lossviz.lessons.landscape`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import numpy as np

from lossviz.config import PRESETS, TrainConfig
from lossviz import engine
from lossviz.lessons import landscape as ls
from lossviz.lessons.landscape_path import PcaPath, path_axes, pca_path

PAIRS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "autoencoder": (("seed-autoencoder", "as written"), ("autoencoder-sigmoid-bce", "fixed")),
    "classifier": (("classifier-mse", "MSE"), ("classifier-cce", "cross-entropy")),
}
"""The two one-click pairs: ``(preset, short label)`` for each side."""
PAIR_TITLES = {"autoencoder": "Autoencoder: as written vs fixed", "classifier": "Classifier: MSE vs cross-entropy"}
PAIR_TRAIN_IMAGES = 10_000
"""Training images of a pair trained on the spot (the first of MNIST's training set)."""
PAIR_EPOCHS: int | None = None
"""Epochs of a pair trained on the spot; ``None`` keeps each preset's."""
IMAGE_CHOICES = (500, 1000, 2000, 5000, 10_000, 60_000)
"""How many training images a landscape may be averaged over (60,000: all of MNIST's)."""
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
    def reported_loss(self) -> float:
        """The run's own last-epoch training loss (averaged while it trained), NaN if unknown."""
        value = self.final_epoch.get("train_loss", self.final_epoch.get("loss"))
        return float("nan") if value is None else float(value)

    @property
    def parameter_count(self) -> int:
        return int(sum(k.size + b.size for k, b in self.final))


def loss_unit(config: TrainConfig) -> str:
    """The loss's name and unit for a colour bar or an axis."""
    name = {"binary_crossentropy": "BCE (nats per pixel)", "categorical_crossentropy": "cross-entropy (nats)",
            "mean_squared_error": "MSE (per output)", "kl_divergence": "KL divergence (nats)"}
    return name.get(engine.spec_of(config).loss, engine.spec_of(config).loss)


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


def train_weights(config: TrainConfig, dataset: engine.Dataset, label: str) -> RunWeights:
    """Train ``config`` on ``dataset`` with the engine and keep what a landscape needs (per-epoch weights too)."""
    result = engine.run(config, dataset, keep_epoch_params=True)
    initial = result.initial_params
    epochs = tuple(ls.as_layers(p) for p in (result.epoch_params or ()))
    if result.status is not engine.Status.FINISHED:
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


def train_pair(pair: str, mnist, train_images: int | None = None, epochs: int | None = None,
               test_images: int = 2000) -> list[RunWeights]:
    """Both runs of a pair, trained here on the first ``train_images`` training images
    (default :data:`PAIR_TRAIN_IMAGES`, for :data:`PAIR_EPOCHS` epochs)."""
    train_images = train_images or PAIR_TRAIN_IMAGES
    runs = []
    for config, label in pair_configs(pair, epochs or PAIR_EPOCHS):
        dataset = engine.prepare(config, mnist, limit_train=train_images, limit_test=test_images)
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
        raise LookupError(f"no run `{run_id}` is stored on this server")
    if row.state.live:
        raise LookupError(f"run `{run_id}` is still {row.state.value}; open this link again when it has finished")
    stored = dict(row.config)
    train_images = stored.pop("train_size", None)  # the store keeps the training-set size beside the config
    config = TrainConfig.from_dict(stored)
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
                      train_images=None if train_images is None else int(train_images), run_id=run_id,
                      final_epoch=dict(row.epochs[-1]) if row.epochs else {})


# --------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------


def probes(run: RunWeights, mnist, images: int) -> tuple[ls.Probe, ls.Probe]:
    """The first ``images`` training images the run trained on (fewer if it had fewer), and as many test images."""
    n = min(int(images), run.train_images or IMAGE_CHOICES[-1])
    dataset = engine.prepare(run.config, mnist, limit_train=n, limit_test=n)
    return ls.probe(dataset, n, "train"), ls.probe(dataset, n, "test")


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
    path: PcaPath | None = None


def slice_plane(run: RunWeights, resolution: int, half_range: float, seed: int) -> Plane:
    """Li et al.'s slice: two filter-normalised Gaussian directions around the final weights."""
    d1, d2 = ls.random_directions(run.final, seed)
    axis = ls.grid_axis(half_range, resolution)
    return Plane(run.final, d1, d2, axis, axis)


def path_plane(run: RunWeights, resolution: int) -> Plane:
    """The plane of the first two principal directions of the path (initial, then each epoch's weights)."""
    path = pca_path([run.initial, *run.epochs], run.final)
    alphas, betas = path_axes(path.coords, resolution)
    return Plane(run.final, *path.directions, alphas, betas, path)


def rows_per_block(run: RunWeights, resolution: int, images: int) -> int:
    """Grid rows per jitted call (see :func:`lossviz.lessons.landscape.rows_per_call`)."""
    return ls.rows_per_call(run.final, resolution, images)


def cache_name(view: str, resolution: int, half_range: float, seed: int, images: int) -> str:
    """The run store's array name for a computed surface (``landscape/<key>``)."""
    if view == "path":
        return f"landscape/path-r{resolution}-n{images}"
    return f"landscape/slice-r{resolution}-x{half_range:g}-s{seed}-n{images}"


class Surface(NamedTuple):
    """A computed 2-D view: losses and accuracies (NaN without classes), (B, A), and the final weights' loss."""

    losses: np.ndarray
    accuracy: np.ndarray
    centre_loss: float

    def centre(self) -> float:
        """The loss at the middle grid point (the final weights on a slice of odd resolution)."""
        rows, columns = self.losses.shape
        return float(self.losses[rows // 2, columns // 2])


def surface_progress(run: RunWeights, plane: Plane, images: ls.Probe, resolution: int):
    """Evaluate ``plane`` block by block; yields ``(fraction done, Surface so far)``, unfinished rows NaN."""
    losses = np.full((len(plane.betas), len(plane.alphas)), np.nan)
    accuracy = losses.copy()
    centre_loss = ls.loss_at(run.config, run.final, images)[0]
    for block in ls.surface_rows(run.config, plane.centre, plane.d1, plane.d2, plane.alphas, plane.betas, images,
                                 rows_per_block=rows_per_block(run, resolution, images.size)):
        end = block.start + len(block.losses)
        losses[block.start: end], accuracy[block.start: end] = block.losses, block.accuracy
        yield end / len(plane.betas), Surface(losses.copy(), accuracy.copy(), centre_loss)


def line_value(result: LineResult, alpha: float, what: str = "train_loss") -> float:
    """The line's value at ``alpha`` (0 and 1 are always on it)."""
    return float(getattr(result, what)[int(np.flatnonzero(np.isclose(result.alphas, alpha))[0])])


def load_surface(store, run_id: str, name: str) -> Surface | None:
    """A surface cached in the run store under ``name``, or ``None``."""
    arrays = store.get_arrays(run_id, name)
    if not isinstance(arrays, dict) or not {"losses", "accuracy", "centre_loss"} <= set(arrays):
        return None
    return Surface(arrays["losses"], arrays["accuracy"], float(arrays["centre_loss"]))


def save_surface(store, run_id: str, name: str, surface: Surface) -> None:
    store.put_arrays(run_id, name, {"losses": surface.losses, "accuracy": surface.accuracy,
                                    "centre_loss": np.asarray(surface.centre_loss)})


SECONDS_WITHOUT_ASKING = 20.0
"""Surfaces estimated to take longer wait for a click (a visitor may not want 60,000 images at 61 × 61)."""


def estimated_seconds(runs: list[RunWeights], resolution: int, images: int) -> float:
    """A rough time for the runs' surfaces: their forward FLOPs at 150 GFLOP/s on CPU (measured ≈ 100–270
    effective on 2 cores) or 5 TFLOP/s on an accelerator."""
    rate = 1.5e11 if jax.default_backend() == "cpu" else 5e12
    return sum(ls.flops_per_point(r.final, images) for r in runs) * resolution**2 / rate


PAIR_WAIT_SECONDS = 300.0
"""How long the page waits for a pair trained by the run service before asking the visitor to come back."""


def pair_progress(rows) -> tuple[bool, float, list[str]]:
    """``(all ended, fraction of the pair's steps done, messages of runs that did not finish)`` from store rows."""
    ended = all(row is not None and not row.state.live for row in rows)
    fractions = []
    for row in rows:
        progress = (row.progress or {}) if row is not None else {}
        total = progress.get("total_steps") or 0
        fractions.append(1.0 if row is not None and not row.state.live else
                         (progress.get("step", 0) / total if total else 0.0))
    failed = [f"{row.run_id}: {row.state.value}. {row.message}".strip() for row in rows
              if row is not None and not row.state.live and row.state.value != "finished"]
    return ended, float(np.mean(fractions)) if fractions else 1.0, failed
