"""Dense networks as plain pytrees: a list of ``(kernel, bias)`` pairs.

Initialised as Keras does by default (Glorot-uniform kernels, constant
biases, zero unless a preset says otherwise).  :func:`apply` returns the
pre-activation output (the logits) so that losses can use their stable
from-logits forms; :func:`activate` turns logits into outputs.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

Params = list[tuple[jax.Array, jax.Array]]

_HIDDEN = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda z: z,
}


def init(key: jax.Array, widths: Sequence[int], bias_init: float = 0.0) -> Params:
    """Glorot-uniform kernels and constant biases for layers ``widths[0] → … → widths[-1]``.

    >>> params = init(jax.random.PRNGKey(0), [784, 10], bias_init=1.0)
    >>> params[0][0].shape, float(params[0][1][0])
    ((784, 10), 1.0)
    """
    glorot = jax.nn.initializers.glorot_uniform()
    keys = jax.random.split(key, len(widths) - 1)
    return [
        (glorot(k, (fan_in, fan_out), jnp.float32), jnp.full((fan_out,), bias_init, jnp.float32))
        for k, fan_in, fan_out in zip(keys, widths[:-1], widths[1:])
    ]


def apply(params: Params, x: jax.Array, hidden_activation: str = "relu") -> jax.Array:
    """The network's logits: every layer but the last is followed by ``hidden_activation``."""
    act = _HIDDEN[hidden_activation]
    for kernel, bias in params[:-1]:
        x = act(x @ kernel + bias)
    kernel, bias = params[-1]
    return x @ kernel + bias


def activate(logits: jax.Array, output_activation: str) -> jax.Array:
    """Outputs from logits: linear, sigmoid, softmax (over the last axis), relu or tanh."""
    if output_activation == "softmax":
        return jax.nn.softmax(logits, axis=-1)
    if output_activation == "sigmoid":
        return jax.nn.sigmoid(logits)
    if output_activation in _HIDDEN:
        return _HIDDEN[output_activation](logits)
    raise ValueError(f"unknown output activation {output_activation!r}")
