#!/usr/bin/env python3
"""Train one lossviz MNIST lab configuration with jax, optax and numpy alone.

This file is what the lab's "Export as script" button ships.  The export
rewrites only the ``CONFIG`` literal below; everything else is this file as
it is in the lossviz package, where it is compiled and tested like any other module.

It does not import lossviz, on purpose: whoever downloads it has only jax,
optax and numpy.  So the initialisation, the per-epoch shuffles, the
optimizers and the loss formulas below are a deliberate *copy* of lossviz's
engine (``lossviz.engine`` and ``lossviz.losses``); lossviz's
``tests/test_export.py`` runs this file in a Python that cannot import
lossviz and checks that its losses match the engine's for the same
configuration and seed.

Usage::

    python lossviz_<run>.py [--epochs N] [--limit-train N] [--limit-test N] [--seed N]
                            [--learning-rate LR] [--batch-size N] [--mnist PATH/TO/mnist.npz]

It prints one JSON object per epoch (epoch, loss, test_loss, test_accuracy
for classifiers, seconds), then ``{"status": ..., "final": {...}}``.
Without ``--mnist`` it reads Keras's ``~/.keras/datasets/mnist.npz``,
downloading it (SHA-256 checked) when it is missing.
"""

import argparse
import hashlib
import json
import math
import sys
import time
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.special import xlogy

# The run this file reproduces.  "label" names it as the lab did; "limit_train" (None: all 60,000 images)
# is the default of --limit-train; the other keys are lossviz's TrainConfig fields.
CONFIG = {
    "label": "classifier-cce",
    "task": "classifier",
    "hidden": [],
    "output_activation": "softmax",
    "loss": "categorical_crossentropy",
    "learning_rate": 0.2,
    "batch_size": 32,
    "epochs": 10,
    "optimizer": "sgd",
    "hidden_activation": "relu",
    "pixels": "unit",
    "bias_init": 1.0,
    "seed": 0,
    "limit_train": None,
}

EPSILON = 1e-7  # Keras's clipping of probabilities
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
}


# ----------------------------------------------------------------------------- data


def load_mnist(path=None):
    """MNIST as uint8 arrays ``((x_train, y_train), (x_test, y_test))`` from Keras's ``mnist.npz``."""
    if path is None:
        path = Path.home() / ".keras" / "datasets" / "mnist.npz"
        if not path.exists():
            try:
                payload = urllib.request.urlopen(KERAS_MNIST_URL, timeout=60).read()
            except OSError as err:
                sys.exit(f"cannot download MNIST ({err}); pass --mnist PATH/TO/mnist.npz")
            if hashlib.sha256(payload).hexdigest() != KERAS_MNIST_SHA256:
                sys.exit("the downloaded mnist.npz does not match its SHA-256")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
    with np.load(path) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def to_inputs(images, pixels):
    """(N, 28, 28) uint8 → (N, 784) float32: pixels/255 for "unit", 0–255 kept for "raw"."""
    x = jnp.asarray(images.reshape(images.shape[0], -1)).astype(jnp.float32)
    # Divided by XLA as in lossviz's engine: its float32 division can differ from numpy's in the last bit.
    return np.asarray(x / jnp.float32(255.0) if pixels == "unit" else x)


def epoch_order(seed, epoch, n):
    """The seeded shuffle of one epoch, drawn with numpy as lossviz's engine draws it."""
    return np.random.default_rng((seed, epoch)).permutation(n)


# ----------------------------------------------------------------------------- model


def init(key, widths, bias_init):
    """Glorot-uniform kernels and constant biases, as Keras initialises Dense layers."""
    glorot = jax.nn.initializers.glorot_uniform()
    keys = jax.random.split(key, len(widths) - 1)
    return [(glorot(k, (a, b), jnp.float32), jnp.full((b,), bias_init, jnp.float32))
            for k, a, b in zip(keys, widths[:-1], widths[1:])]


def logits_of(params, x, hidden_activation):
    """The last layer's pre-activation; every other layer is followed by ``hidden_activation``."""
    for kernel, bias in params[:-1]:
        x = ACTIVATIONS[hidden_activation](x @ kernel + bias)
    kernel, bias = params[-1]
    return x @ kernel + bias


@jax.custom_jvp
def softplus(x):
    """log(1 + eˣ) = max(x, 0) + log(1 + e^-|x|), stable, with the exact derivative σ(x)."""
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


softplus.defjvp(lambda primals, tangents: (softplus(primals[0]), jax.nn.sigmoid(primals[0]) * tangents[0]))


def loss_per_example(z, y, output_activation, loss):
    """The loss of the outputs ``activate(z)`` against targets ``y``, one value per example.

    Computed on what the model outputs: the exact from-logits form where the
    output is the one the loss has it for (sigmoid + BCE, softmax +
    categorical CE); softmax + BCE as Keras's clipped BCE of the softmax
    probabilities (stably, from log-softmax); anything else as Keras's
    probability form with its clipping.  BCE, MSE and MAE average over the
    outputs; categorical CE and KL sum over them.
    """
    if output_activation == "sigmoid" and loss == "binary_crossentropy":
        return jnp.mean((1.0 - y) * z + softplus(-z), axis=-1)
    if output_activation == "softmax" and loss == "categorical_crossentropy":
        return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)
    if output_activation == "softmax" and loss == "binary_crossentropy":
        log_p = jnp.clip(jax.nn.log_softmax(z, axis=-1), math.log(EPSILON), math.log1p(-EPSILON))
        return jnp.mean(-y * log_p - (1.0 - y) * jnp.log1p(-jnp.exp(log_p)), axis=-1)
    p = ACTIVATIONS[output_activation](z)
    if loss == "binary_crossentropy":
        p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
        return jnp.mean(0.0 - xlogy(y, p) - xlogy(1.0 - y, 1.0 - p), axis=-1)
    if loss == "categorical_crossentropy":
        q = jnp.clip(p / jnp.sum(p, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
        return -jnp.sum(xlogy(y, q), axis=-1)
    if loss == "kl_divergence":
        target, q = jnp.clip(y, EPSILON, 1.0), jnp.clip(p, EPSILON, 1.0)
        return jnp.sum(target * jnp.log(target / q), axis=-1)
    if loss == "mean_squared_error":
        return jnp.mean(jnp.square(p - y), axis=-1)
    if loss == "mean_absolute_error":
        return jnp.mean(jnp.abs(p - y), axis=-1)
    raise ValueError(f"unknown loss {loss!r}")


def make_optimizer(name, learning_rate):
    """Keras-default Adam (ε 1e-7), plain SGD, or Keras-default RMSprop (ρ 0.9, ε 1e-7 inside the root)."""
    if name == "adam":
        return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-7)
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=True)
    return optax.sgd(learning_rate)


def compiled_steps(config):
    """The jitted training step and evaluation of ``config``'s model, loss and optimizer."""
    hidden, output, loss, optimizer = (config["hidden_activation"], config["output_activation"],
                                       config["loss"], config["optimizer"])

    def batch_loss(params, x, y):
        return jnp.mean(loss_per_example(logits_of(params, x, hidden), y, output, loss))

    @jax.jit
    def train_step(params, opt_state, learning_rate, x, y):
        value, grads = jax.value_and_grad(batch_loss)(params, x, y)
        updates, opt_state = make_optimizer(optimizer, learning_rate).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    @jax.jit
    def evaluate(params, x, y, labels):
        z = logits_of(params, x, hidden)
        return jnp.mean(loss_per_example(z, y, output, loss)), jnp.mean(jnp.argmax(z, axis=-1) == labels)

    return train_step, evaluate


# ----------------------------------------------------------------------------- the run


def train(config, mnist, epochs, limit_train=None, limit_test=None, on_epoch=None):
    """Train ``config`` on ``mnist``, calling ``on_epoch(metrics)`` after each epoch.

    Returns ``(status, metrics of the last finished epoch)``; the status is
    "diverged" as soon as a batch loss is not finite, else "finished".
    """
    (x_train, l_train), (x_test, l_test) = mnist
    x_train = to_inputs(x_train[:limit_train], config["pixels"])
    x_test = to_inputs(x_test[:limit_test], config["pixels"])
    l_train, l_test = l_train[:limit_train].astype(np.int64), l_test[:limit_test].astype(np.int64)
    if config["task"] == "autoencoder":
        y_train, y_test = x_train, x_test  # an autoencoder reproduces its input
    else:
        y_train, y_test = np.eye(10, dtype=np.float32)[l_train], np.eye(10, dtype=np.float32)[l_test]
    n, batch, seed = x_train.shape[0], config["batch_size"], config["seed"]
    steps = math.ceil(n / batch)  # the last, partial batch is trained too, as Keras does

    train_step, evaluate = compiled_steps(config)
    widths = [x_train.shape[1], *config["hidden"], y_train.shape[1]]
    params = init(jax.random.fold_in(jax.random.PRNGKey(seed), 0), widths, config["bias_init"])
    learning_rate = jnp.float32(config["learning_rate"])
    opt_state = make_optimizer(config["optimizer"], learning_rate).init(params)
    test_data = jnp.asarray(x_test), jnp.asarray(y_test), jnp.asarray(l_test, jnp.int32)
    last = {}
    for epoch in range(epochs):
        started = time.perf_counter()
        order = epoch_order(seed, epoch, n)
        total = 0.0
        for step in range(steps):
            idx = order[step * batch:(step + 1) * batch]
            params, opt_state, loss = train_step(params, opt_state, learning_rate, x_train[idx], y_train[idx])
            if not math.isfinite(float(loss)):
                return "diverged", last
            total += float(loss) * len(idx)  # Keras weights each batch's loss by its size
        test_loss, accuracy = evaluate(params, *test_data)
        last = {"epoch": epoch + 1, "loss": total / n, "test_loss": float(test_loss),
                "seconds": time.perf_counter() - started}
        if config["task"] != "autoencoder":
            last["test_accuracy"] = float(accuracy)
        if on_epoch is not None:
            on_epoch(last)
    return "finished", last


def main(argv=None):
    parser = argparse.ArgumentParser(description=f"Train lossviz's {CONFIG['label']} on MNIST with jax and optax.")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"])
    parser.add_argument("--limit-train", type=int, default=CONFIG["limit_train"], help="train on the first N images")
    parser.add_argument("--limit-test", type=int, default=None, help="test on the first N images")
    parser.add_argument("--seed", type=int, default=CONFIG["seed"])
    parser.add_argument("--learning-rate", type=float, default=CONFIG["learning_rate"])
    parser.add_argument("--batch-size", type=int, default=CONFIG["batch_size"])
    parser.add_argument("--mnist", type=Path, default=None, help="path of Keras's mnist.npz")
    args = parser.parse_args(argv)
    for name in ("epochs", "limit_train", "limit_test", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        parser.error("--learning-rate must be a positive number")

    config = {**CONFIG, "seed": args.seed, "learning_rate": args.learning_rate, "batch_size": args.batch_size}
    status, final = train(config, load_mnist(args.mnist), args.epochs, args.limit_train, args.limit_test,
                          on_epoch=lambda metrics: print(json.dumps(metrics), flush=True))
    print(json.dumps({"status": status, "final": final}))
    return 0 if status == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
