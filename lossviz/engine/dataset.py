"""The run's data on the device, and the checks a config must pass before anything compiles.

``prepare`` puts the inputs and targets on the default JAX device once.
Autoencoders reconstruct their inputs (targets *are* the inputs, in the
config's pixel scale, so raw 0–255 targets are kept as the confused original
had them); classifiers get one-hot labels.  ``blobs`` uses
``data.make_blobs(1000, seed=0)`` split 800 train / 200 test, the same points
whatever the run's seed (the seed moves the initialisation and the shuffles,
not the data, so runs stay comparable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from lossviz import data as data_mod
from lossviz import losses
from lossviz.config import ACTIVATIONS, OPTIMIZERS, PIXELS, TASKS, TrainConfig

RECONSTRUCTION_DIGITS = tuple(range(8))
"""The digits whose first test image is reconstructed after every epoch."""

BLOBS_SAMPLES, BLOBS_TRAIN = 1000, 800
"""The blobs task's points: ``BLOBS_SAMPLES`` in all, the first ``BLOBS_TRAIN`` train, the rest test."""


@dataclass(frozen=True)
class Dataset:
    """Device-resident train and test data for one task and pixel scale.

    ``x_train``/``x_test`` are stored compactly: MNIST stays uint8 on the
    device (a quarter of float32's memory, shared by every pixel scale's
    run), and the model's inputs are ``x / pixel_divisor`` in float32, made
    batch by batch (255 for pixels in [0, 1], 1 for raw 0–255 pixels and for
    float data such as blobs).  :meth:`train_inputs`/:meth:`test_inputs` give
    the whole sets as model inputs, shape ``(n, input_width)``.

    ``y_train``/``y_test`` are ``None`` for autoencoders (the targets are the
    inputs), else one-hot ``(n, classes)``.  ``labels_*`` are integer classes
    (numpy, ``(n,)``).  ``reconstruction_inputs`` holds the 8 fixed test
    digits (numpy, ``(8, 784)``) for autoencoders.
    """

    task: str
    pixels: str
    x_train: jax.Array
    y_train: jax.Array | None
    x_test: jax.Array
    y_test: jax.Array | None
    labels_train: np.ndarray | None
    labels_test: np.ndarray | None
    reconstruction_index: np.ndarray | None = None
    reconstruction_inputs: np.ndarray | None = None
    pixel_divisor: float = 1.0

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def input_width(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def output_width(self) -> int:
        return self.input_width if self.y_train is None else int(self.y_train.shape[1])

    def train_inputs(self) -> jax.Array:
        return _as_inputs(self.x_train, jnp.float32(self.pixel_divisor))

    def test_inputs(self) -> jax.Array:
        return _as_inputs(self.x_test, jnp.float32(self.pixel_divisor))

    def train_targets(self) -> jax.Array:
        return self.train_inputs() if self.y_train is None else self.y_train

    def test_targets(self) -> jax.Array:
        return self.test_inputs() if self.y_test is None else self.y_test


@jax.jit
def _as_inputs(x: jax.Array, divisor: jax.Array) -> jax.Array:
    """Model inputs from stored pixels, exactly as ``data.to_inputs`` makes them."""
    return x.astype(jnp.float32) / divisor


def _reconstruction_index(labels: np.ndarray) -> np.ndarray:
    """First test image of each digit in RECONSTRUCTION_DIGITS (the first 8 images if one is absent)."""
    picks = []
    for digit in RECONSTRUCTION_DIGITS:
        where = np.flatnonzero(labels == digit)
        if where.size == 0:
            return np.arange(min(8, labels.size))
        picks.append(int(where[0]))
    return np.asarray(picks)


def prepare(config: TrainConfig, mnist=None, limit_train: int | None = None,
            limit_test: int | None = None) -> Dataset:
    """The config's task data on the default device, loaded once per run shape.

    Args:
      config: the run's configuration; its ``task`` and ``pixels`` decide the data.
      mnist: ``data.load_mnist()``'s ``((x_train, y_train), (x_test, y_test))``
        (loaded here when ``None`` and the task needs it).
      limit_train: keep only the first N training examples (tiny runs, tests).
      limit_test: keep only the first N test examples.

    Returns:
      A :class:`Dataset` on the default device.

    Raises:
      ValueError: for a config :func:`check_config` rejects, or limits that leave a set empty.

    >>> from lossviz.config import PRESETS
    >>> blobs = prepare(PRESETS["blobs-cce"], limit_train=10, limit_test=5)
    >>> blobs.n_train, blobs.n_test, blobs.input_width, blobs.output_width
    (10, 5, 2, 3)
    """
    check_config(config)
    if config.task == "blobs":
        points, labels = data_mod.make_blobs(n_samples=BLOBS_SAMPLES, centers=3, seed=0)
        x_tr, l_tr = points[:BLOBS_TRAIN], labels[:BLOBS_TRAIN]
        x_te, l_te = points[BLOBS_TRAIN:], labels[BLOBS_TRAIN:]
        num_classes = 3
    else:
        if mnist is None:
            mnist = data_mod.load_mnist()
        (xi_tr, l_tr), (xi_te, l_te) = mnist
        x_tr = np.asarray(xi_tr[:limit_train], np.uint8).reshape(-1, 28 * 28)
        x_te = np.asarray(xi_te[:limit_test], np.uint8).reshape(-1, 28 * 28)
        l_tr, l_te = l_tr[:limit_train], l_te[:limit_test]
        num_classes = 10
    divisor = 255.0 if config.task != "blobs" and config.pixels == "unit" else 1.0
    if config.task == "blobs":
        x_tr, l_tr, x_te, l_te = x_tr[:limit_train], l_tr[:limit_train], x_te[:limit_test], l_te[:limit_test]
    if len(x_tr) == 0 or len(x_te) == 0:
        raise ValueError("the training and test sets must each keep at least one example")
    l_tr = np.asarray(l_tr, np.int64)
    l_te = np.asarray(l_te, np.int64)
    if config.task == "autoencoder":
        index = _reconstruction_index(l_te)
        return Dataset(
            task=config.task, pixels=config.pixels, x_train=jnp.asarray(x_tr), y_train=None,
            x_test=jnp.asarray(x_te), y_test=None, labels_train=l_tr, labels_test=l_te,
            reconstruction_index=index,
            reconstruction_inputs=np.asarray(x_te[index], np.float32) / np.float32(divisor),
            pixel_divisor=divisor,
        )
    return Dataset(
        task=config.task, pixels=config.pixels,
        x_train=jnp.asarray(x_tr), y_train=jnp.asarray(data_mod.one_hot(l_tr, num_classes)),
        x_test=jnp.asarray(x_te), y_test=jnp.asarray(data_mod.one_hot(l_te, num_classes)),
        labels_train=l_tr, labels_test=l_te, pixel_divisor=divisor,
    )


def check_config(config: TrainConfig) -> None:
    """Raise ``ValueError`` with one readable message naming every problem of a config the engine cannot run.

    >>> from lossviz.config import PRESETS
    >>> check_config(PRESETS["blobs-cce"].replace(epochs=0, optimizer="lbfgs"))
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be one of adam, sgd, rmsprop, not 'lbfgs'; epochs must be a positive integer, not 0
    """
    problems = []
    if config.task not in TASKS:
        problems.append(f"task must be one of {', '.join(TASKS)}, not {config.task!r}")
    for name, value in (("output_activation", config.output_activation),
                        ("hidden_activation", config.hidden_activation)):
        if value not in ACTIVATIONS:
            problems.append(f"{name} must be one of {', '.join(ACTIVATIONS)}, not {value!r}")
    if config.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {config.optimizer!r}")
    if config.pixels not in PIXELS:
        problems.append(f"pixels must be one of {', '.join(PIXELS)}, not {config.pixels!r}")
    try:
        losses.canonical_name(config.loss)
    except ValueError as err:
        problems.append(str(err))
    if not (isinstance(config.batch_size, int) and config.batch_size >= 1):
        problems.append(f"batch size must be a positive integer, not {config.batch_size!r}")
    if not (isinstance(config.epochs, int) and config.epochs >= 1):
        problems.append(f"epochs must be a positive integer, not {config.epochs!r}")
    if not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
        problems.append(f"learning rate must be a positive number, not {config.learning_rate!r}")
    if any((not isinstance(w, int)) or w < 1 for w in config.hidden):
        problems.append(f"hidden widths must be positive integers, not {list(config.hidden)!r}")
    if problems:
        raise ValueError("; ".join(problems))


def widths(config: TrainConfig, dataset: Dataset | None = None) -> list[int]:
    """Layer widths input → hidden … → output for the config's task.

    >>> from lossviz.config import PRESETS
    >>> widths(PRESETS["blobs-cce"].replace(hidden=(16,)))
    [2, 16, 3]
    """
    if dataset is not None:
        return [dataset.input_width, *config.hidden, dataset.output_width]
    io = {"autoencoder": (784, 784), "classifier": (784, 10), "blobs": (2, 3)}[config.task]
    return [io[0], *config.hidden, io[1]]
