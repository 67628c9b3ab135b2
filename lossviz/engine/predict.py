"""What a trained model does with inputs: outputs, classes, the confusion matrix, the honest and Keras BCE."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from lossviz import losses
from lossviz.config import TrainConfig
from lossviz.engine import models
from lossviz.engine.dataset import Dataset
from lossviz.engine.objectives import Spec, output_loss, spec_of


@partial(jax.jit, static_argnames=("hidden_activation", "output_activation"))
def _outputs(params, x, hidden_activation: str, output_activation: str):
    return models.activate(models.apply(params, x, hidden_activation), output_activation)


@partial(jax.jit, static_argnames=("hidden_activation",))
def _argmax(params, x, hidden_activation: str):
    return jnp.argmax(models.apply(params, x, hidden_activation), axis=-1)


def predict(config: TrainConfig, params, x) -> np.ndarray:
    """The model's outputs ``activate(apply(params, x))``.

    Args:
      config: the run's config (its activations).
      params: ``models`` parameters ``[(kernel, bias), …]``.
      x: inputs, shape ``(n, inputs)``, in the run's pixel scale.

    Returns:
      numpy float32, shape ``(n, outputs)``.
    """
    return np.asarray(_outputs(params, jnp.asarray(x, jnp.float32), config.hidden_activation,
                               config.output_activation))


def predicted_classes(config: TrainConfig, params, x) -> np.ndarray:
    """``argmax`` of the logits (the same as of the outputs for monotone activations): int ``(n,)``."""
    return np.asarray(_argmax(params, jnp.asarray(x, jnp.float32), config.hidden_activation))


def confusion_matrix(config: TrainConfig, params, dataset: Dataset) -> np.ndarray:
    """Test-set counts ``M[true, predicted]``, shape ``(classes, classes)``, for classifiers and blobs.

    Raises:
      ValueError: for an autoencoder.
    """
    if dataset.labels_test is None or config.task == "autoencoder":
        raise ValueError("a confusion matrix needs a classifier")
    classes = dataset.output_width
    predicted = predicted_classes(config, params, dataset.test_inputs())
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (dataset.labels_test, predicted), 1)
    return matrix


def misclassified(config: TrainConfig, params, dataset: Dataset, n: int = 8):
    """The first ``n`` misclassified test examples: ``(indices, true labels, predicted labels)``, each ``(≤ n,)``.

    Raises:
      ValueError: for an autoencoder.
    """
    if dataset.labels_test is None or config.task == "autoencoder":
        raise ValueError("misclassified examples need a classifier")
    predicted = predicted_classes(config, params, dataset.test_inputs())
    wrong = np.flatnonzero(predicted != dataset.labels_test)[:n]
    return wrong, dataset.labels_test[wrong], predicted[wrong]


@partial(jax.jit, static_argnames=("spec",))
def _bce_pair(params, x, y, *, spec: Spec):
    logits = models.apply(params, x, spec.hidden_activation)
    return jnp.mean(output_loss(spec, logits, y)), jnp.mean(losses.keras_reported_bce(y, logits))


def honest_and_keras_bce(params, x, config: TrainConfig, y=None) -> tuple[float, float]:
    """``(honest, keras)``: the mean BCE of the model's actual outputs, and Keras 3's number.

    The config's loss is replaced by BCE; for a sigmoid output the two
    agree, for softmax they do not (``losses.keras_reported_bce``).

    Args:
      params: ``models`` parameters.
      x: inputs ``(n, inputs)``.
      config: the run's config (its activations).
      y: targets ``(n, outputs)``; ``x`` when ``None`` (an autoencoder).

    Returns:
      Two floats, each a mean over examples and outputs.
    """
    x = jnp.asarray(x, jnp.float32)
    y = x if y is None else jnp.asarray(y, jnp.float32)
    spec = spec_of(config.replace(loss="binary_crossentropy"))
    honest, keras = _bce_pair(params, x, y, spec=spec)
    return float(honest), float(keras)
