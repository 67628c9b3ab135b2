"""What the lab reports about a run besides its loss: the data's BCE floor, a classifier's mistakes,
an autoencoder's BCE on common ground."""

from __future__ import annotations

import numpy as np

from lossviz import engine, losses
from lossviz.config import TrainConfig


def bce_floor_of_images(images: np.ndarray) -> float:
    r"""The lowest mean binary cross-entropy any model can reach on these images.

    .. math:: \min_p \mathrm{BCE}(y, p) = H(y), \qquad
              \text{floor} = \frac{1}{N}\sum_i H(y_i),\quad y_i = \text{pixel}_i / 255

    ``images`` are uint8 pixels (any shape).  Counting the 256 grey levels
    first makes this exact and cheap for all of MNIST; about 0.058 nats per
    pixel for MNIST's training images.
    """
    pixels = np.asarray(images)
    if pixels.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {pixels.dtype}")
    if pixels.size == 0:
        raise ValueError("no pixels")
    counts = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
    entropies = np.asarray(losses.binary_entropy(levels), dtype=np.float64)
    return float(counts @ entropies / counts.sum())



def classifier_report(config: TrainConfig, params, dataset, n: int = 8) -> dict:
    """Confusion matrix and the first ``n`` misclassified test digits of a trained classifier."""
    matrix = engine.confusion_matrix(config, params, dataset)
    index, true, predicted = engine.misclassified(config, params, dataset, n)
    images = np.asarray(dataset.test_inputs())[np.asarray(index, dtype=np.int64)]
    return {"confusion": matrix, "images": images, "true": np.asarray(true), "predicted": np.asarray(predicted)}


def bce_floor_applies(config: TrainConfig) -> bool:
    """The data's BCE floor bounds this run's loss: an autoencoder trained with BCE on pixels in [0, 1]."""
    return (config.task == "autoencoder" and config.pixels == "unit"
            and losses.canonical_name(config.loss) == "binary_crossentropy")


def autoencoder_common_bce(config: TrainConfig, params, dataset) -> float:
    r"""Test BCE of an autoencoder's outputs against its test pixels scaled to [0, 1].

    .. math:: \frac{1}{N \cdot 784} \sum_{n,i} \mathrm{BCE}\big(x_{ni} / 255,\ \hat x_{ni}\big)

    Common ground for autoencoders trained on different losses or pixel
    scales: a raw-pixel run's own loss (targets up to 255) cannot be compared
    with a [0, 1] run's, this can.  Uses the engine's honest BCE of the outputs.
    """
    x = dataset.test_inputs()
    targets = x / 255.0 if config.pixels == "raw" else x
    honest, _ = engine.honest_and_keras_bce(params, x, config, y=targets)
    return honest
