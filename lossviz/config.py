"""The training configuration and the presets the app teaches with.

One frozen :class:`TrainConfig` holds everything a run needs; it is passed
explicitly to the engine (``lossviz.engine``), the loss doctor, the
exporters and the pages.  Presets are plain ``TrainConfig`` values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

TASKS = ("autoencoder", "classifier", "blobs")
ACTIVATIONS = ("linear", "sigmoid", "softmax", "relu", "tanh")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
PIXELS = ("unit", "raw")
MAX_EPOCHS = 200
"""The most epochs one engine run may be asked for on the command line (the blobs presets train 200).

Three limits, three ideas: this one bounds ``python -m lossviz train --epochs``;
``settings.max_epochs`` (``LOSSVIZ_MAX_EPOCHS``, 50 by default) bounds a visitor's
MNIST run in the web app, where a server's time is shared; and
``lessons.gradients.NEURON_MAX_EPOCHS`` is the length of the Gradients page's
single-neuron scan, not a training run of the engine at all.
"""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs.

    ``task`` picks data and targets: ``autoencoder`` (MNIST images → the same
    images), ``classifier`` (MNIST images → one-hot digits) or ``blobs``
    (2-D points → one-hot of 3 clusters).  ``hidden`` lists hidden widths
    only; input and output widths follow from the task.
    """

    task: str
    hidden: tuple[int, ...]
    output_activation: str
    loss: str
    learning_rate: float
    batch_size: int
    epochs: int
    optimizer: str = "adam"
    hidden_activation: str = "relu"
    pixels: str = "unit"
    bias_init: float = 0.0
    seed: int = 0

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["hidden"] = tuple(int(w) for w in d["hidden"])
        return cls(**d)


_AUTOENCODER = TrainConfig(
    task="autoencoder", hidden=(128, 64, 28, 64, 128), output_activation="softmax",
    loss="binary_crossentropy", optimizer="adam", learning_rate=1e-3, batch_size=100, epochs=5,
    pixels="raw",
)
_CLASSIFIER = TrainConfig(
    task="classifier", hidden=(), output_activation="softmax", loss="mean_squared_error",
    optimizer="sgd", learning_rate=0.2, batch_size=32, epochs=10, pixels="unit", bias_init=1.0,
)
_BLOBS = TrainConfig(
    task="blobs", hidden=(50,), output_activation="softmax", loss="categorical_crossentropy",
    optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=200,
)

PRESETS: dict[str, TrainConfig] = {
    # The confused original, kept as written: softmax output, BCE, raw 0–255 pixels.
    "seed-autoencoder": _AUTOENCODER,
    "autoencoder-sigmoid-bce": _AUTOENCODER.replace(output_activation="sigmoid", pixels="unit"),
    "autoencoder-sigmoid-mse": _AUTOENCODER.replace(
        output_activation="sigmoid", pixels="unit", loss="mean_squared_error"),
    "classifier-mse": _CLASSIFIER,
    "classifier-cce": _CLASSIFIER.replace(loss="categorical_crossentropy"),
    "blobs-cce": _BLOBS,
    "blobs-kl": _BLOBS.replace(loss="kl_divergence"),
}

PRESET_DESCRIPTIONS = {
    "seed-autoencoder": "The confused original: softmax output, binary cross-entropy, raw 0–255 pixels.",
    "autoencoder-sigmoid-bce": "The fix: pixels in [0, 1], sigmoid output, binary cross-entropy.",
    "autoencoder-sigmoid-mse": "The fix with mean squared error instead of cross-entropy.",
    "classifier-mse": "Softmax regression 784→10 trained with mean squared error (slow).",
    "classifier-cce": "Softmax regression 784→10 trained with categorical cross-entropy (fast).",
    "blobs-cce": "2→50 relu→3 softmax on three 2-D clusters, categorical cross-entropy.",
    "blobs-kl": "2→50 relu→3 softmax on three 2-D clusters, KL divergence.",
}
