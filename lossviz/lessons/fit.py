r"""Fit a few parameters with optax in one jitted ``lax.scan``: the one optimiser loop of the lessons.

**The learning rate is passed one way in every lesson**: as a traced argument
(a float32 scalar, or one per member under ``vmap``), never baked into the
optimizer or stored in its state.  The optimizer is a learning-rate-free optax
transformation that gives the step's *direction*, e.g. ``optax.scale_by_adam()``
(Adam) or ``optax.identity()`` (plain gradient descent), and :func:`descend`
takes the step

.. math:: \theta \leftarrow \theta - \eta\, u, \qquad u = \mathrm{direction}(\nabla_\theta L)

This is bit-for-bit what ``optax.adam(η)`` computes (it chains
``scale_by_adam`` with a scale by ``−η``), and a new ``η`` never recompiles.

>>> import jax.numpy as jnp, optax
>>> def parabola(theta, target):
...     return jnp.sum(jnp.square(theta - target))
>>> plain = optax.identity()
>>> theta, state, losses = fit_chunk(jnp.zeros(2), plain.init(jnp.zeros(2)), jnp.float32(0.25),
...                                  (jnp.array([2.0, -4.0]),), objective=parabola, direction=plain, steps=3)
>>> theta  # each step halves the distance: θ ← θ − 0.25 · 2(θ − t)
Array([ 1.75, -3.5 ], dtype=float32)
>>> losses  # the loss before each step
Array([20.  ,  5.  ,  1.25], dtype=float32)
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

Params = Any
"""A pytree of arrays: the parameters being fitted."""


def descend(params: Params, updates: Params, learning_rate: jax.Array) -> Params:
    r"""One step down a direction: :math:`\theta - \eta\, u`, leaf by leaf.

    Args:
      params: the parameters θ, any pytree of arrays.
      updates: the direction ``u``, same structure and shapes as ``params``
        (e.g. the output of ``optax.scale_by_adam().update``).
      learning_rate: η, a scalar; may be traced (a jit or vmap argument).

    Returns:
      ``θ − η u`` with the structure and dtypes of ``params``.

    >>> descend(jnp.array([1.0, 2.0]), jnp.array([4.0, -2.0]), 0.5)
    Array([-1.,  3.], dtype=float32)
    """
    return optax.apply_updates(params, jax.tree_util.tree_map(lambda u: -learning_rate * u, updates))


@partial(jax.jit, static_argnames=("objective", "direction", "steps", "keep_path"))
def fit_chunk(params: Params, opt_state: optax.OptState, learning_rate: jax.Array, data: tuple, *,
              objective: Callable[..., jax.Array], direction: optax.GradientTransformation, steps: int,
              keep_path: bool = False):
    r"""``steps`` optimizer steps on ``objective(params, *data)`` in one compiled ``lax.scan``.

    Each step: :math:`\theta \leftarrow \theta - \eta\,\mathrm{direction}(\nabla_\theta \textstyle\sum_k L_k)`.

    ``objective`` may return one loss or a vector of independent losses (for
    instance two fits sharing one parameter array); the gradient is that of
    their sum, and each is recorded.  Pass a module-level ``objective`` and
    ``direction`` (they are static arguments: a new object compiles anew);
    ``params``, ``learning_rate`` and ``data`` are traced, so a new learning
    rate or new data of the same shapes does not recompile.

    Args:
      params: the starting parameters, any pytree of arrays.
      opt_state: ``direction.init(params)``, or the state a previous chunk returned.
      learning_rate: η, a float32 scalar (traced).
      data: a tuple of arrays passed to ``objective`` after ``params``.
      objective: ``objective(params, *data)`` → a loss ``()`` or losses ``(k,)``.
      direction: a learning-rate-free optax transformation (``scale_by_adam()``, ``identity()``, …).
      steps: how many steps (static: each length compiles once).
      keep_path: also return the parameters before each step.

    Returns:
      ``(params, opt_state, losses)``, or ``(params, opt_state, losses, path)``
      with ``keep_path``: ``losses`` has shape ``(steps,)`` + the objective's
      shape and holds the loss *before* each step; ``path`` stacks the
      parameters before each step, each leaf ``(steps, …)``.
    """

    def step(carry, _):
        theta, state = carry
        values, pullback = jax.vjp(lambda p: objective(p, *data), theta)
        (grads,) = pullback(jnp.ones_like(values))
        updates, state = direction.update(grads, state, theta)
        record = (values, theta) if keep_path else values
        return (descend(theta, updates, learning_rate), state), record

    (params, opt_state), history = jax.lax.scan(step, (params, opt_state), None, length=steps)
    if keep_path:
        return params, opt_state, *history
    return params, opt_state, history
