"""The learning slowdown: sigmoid and softmax gradients under two costs.

A one-input sigmoid neuron outputs ``a = σ(z)`` with ``z = w x + b``.  Under
the quadratic cost ``C = (a − y)² / 2`` its gradients carry a factor σ′(z),
which is tiny when the neuron saturates, so a neuron that is confidently
wrong learns slowly.  Under cross-entropy the σ′ cancels and the gradient is
just the error ``a − y`` (times ``x`` for the weight).  Softmax with the
log-likelihood cost pairs the same way, while MSE on the probabilities does
not; that half lives in :mod:`lossviz.lessons.softmax_gradients`.  The curves
over z and the two classic points are in :mod:`lossviz.lessons.neuron_curves`;
this module holds σ, the costs, their gradients and the neuron's training.

Every gradient the page plots comes from ``jax.grad`` of a cost; the closed
forms (``*_closed_form``) are kept beside them so the tests, and the page's
captions, can compare the two.  The jitted functions are module-level and
take fixed shapes, so a Streamlit rerun never recompiles.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import losses
from lossviz.lessons import fit

COSTS = ("quadratic", "cross_entropy")
"""The two costs, in the order every stacked array uses (row 0, row 1)."""

COST_LABELS = {"quadratic": "quadratic", "cross_entropy": "cross-entropy"}

CLASSIC_STARTS = {"0.82": (0.6, 0.9), "0.98": (2.0, 2.0)}
"""The two classic starting points (w, b), named by their output σ(w + b) at x = 1."""

CLASSIC_OUTPUTS = (0.82, 0.98)
"""The outputs marked on the curves and tabulated: a lively and a saturated neuron."""

NEURON_MAX_EPOCHS = 1000
"""The Gradients page's single neuron: the length of its one compiled scan (shorter runs are slices of it)."""

DEFAULT_SATURATION_THRESHOLD = 0.05
"""σ′(z) below this counts as saturated (|z| ≳ 2.9, output beyond 0.05 … 0.95)."""


# --------------------------------------------------------------------------
# σ, σ′ and the two costs
# --------------------------------------------------------------------------


def sigmoid(z):
    r"""The logistic function: :math:`\sigma(z) = 1 / (1 + e^{-z})`.

    Args:
      z: logits, any shape.

    Returns:
      An array of ``z``'s shape.
    """
    return jax.nn.sigmoid(z)


def sigmoid_prime(z):
    r"""Its derivative: :math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))`, at most 1/4 (at z = 0).

    Args:
      z: logits, any shape.

    Returns:
      An array of ``z``'s shape.

    >>> float(sigmoid_prime(0.0))
    0.25
    """
    a = jax.nn.sigmoid(z)
    return a * (1.0 - a)


def logit(a):
    r"""The inverse of σ: :math:`z = \log\frac{a}{1 - a}`.

    Args:
      a: outputs in (0, 1), any shape.

    Returns:
      The logits, an array of ``a``'s shape.
    """
    a = jnp.asarray(a)
    return jnp.log(a) - jnp.log1p(-a)


def quadratic_cost(a, y):
    r"""Quadratic cost of one output: :math:`C = \tfrac12 (a - y)^2`.

    Args:
      a: outputs, any shape.
      y: targets, broadcastable to ``a``.

    Returns:
      The cost per output, the broadcast shape.
    """
    return 0.5 * jnp.square(jnp.asarray(a) - jnp.asarray(y))


def cross_entropy_cost(a, y):
    r"""Cross-entropy of one output: :math:`C = -[y \ln a + (1 - y) \ln(1 - a)]`, unclipped.

    Args:
      a: outputs in [0, 1], any shape.
      y: targets in [0, 1], broadcastable to ``a``.

    Returns:
      The cost per output, the broadcast shape (``inf`` where ``a`` is 0 or 1 and disagrees).
    """
    return losses.binary_crossentropy_elementwise(y, a, epsilon=None)


def neuron_cost(params, x, y, cost_index):
    r"""Cost of the neuron ``a = σ(w x + b)``; ``cost_index`` picks ``COSTS[cost_index]``.

    .. math:: C_{\text{quad}} = \tfrac12(\sigma(wx + b) - y)^2, \qquad
              C_{\text{CE}} = \max(z, 0) - z y + \log(1 + e^{-|z|}),\ z = wx + b

    Cross-entropy is taken from the logit (the stable form, equal to
    :func:`cross_entropy_cost` of ``σ(z)``), so a saturated neuron still gets
    its exact gradient.  ``cost_index`` may be traced: under ``vmap`` both
    branches run and the right one is selected.

    Args:
      params: ``(w, b)``, two scalars.
      x: the input, a scalar.
      y: the target, a scalar in [0, 1].
      cost_index: 0 (quadratic) or 1 (cross-entropy), an int or a traced int32.

    Returns:
      The cost, a scalar.
    """
    w, b = params
    z = w * x + b
    return jax.lax.switch(
        cost_index,
        (lambda z_: quadratic_cost(sigmoid(z_), y),
         lambda z_: losses.binary_crossentropy_with_logits_elementwise(y, z_)),
        z,
    )


neuron_gradient = jax.grad(neuron_cost)
"""``(∂C/∂w, ∂C/∂b)`` of :func:`neuron_cost` by ``jax.grad``."""


def quadratic_gradient_closed_form(z, x, y):
    r"""The quadratic cost's gradients, by hand.

    .. math:: \frac{\partial C}{\partial w} = (a - y)\,\sigma'(z)\,x, \qquad
              \frac{\partial C}{\partial b} = (a - y)\,\sigma'(z)

    Args:
      z: logits, any shape.
      x: the input, broadcastable to ``z``.
      y: the target, broadcastable to ``z``.

    Returns:
      ``(∂C/∂w, ∂C/∂b)``, each of the broadcast shape.
    """
    delta = (sigmoid(z) - y) * sigmoid_prime(z)
    return delta * x, delta


def cross_entropy_gradient_closed_form(z, x, y):
    r"""The cross-entropy cost's gradients, by hand: σ′ has cancelled.

    .. math:: \frac{\partial C}{\partial w} = (a - y)\,x, \qquad
              \frac{\partial C}{\partial b} = a - y

    Args and returns: as :func:`quadratic_gradient_closed_form`.
    """
    delta = sigmoid(z) - y
    return delta * x, delta


def saturation_bound(threshold: float) -> float:
    r"""The :math:`z^* \ge 0` beyond which :math:`\sigma'(z) <` ``threshold`` (for 0 < threshold < 1/4).

    .. math:: \sigma'(z^*) = t \iff \sigma(z^*) = \tfrac12\big(1 + \sqrt{1 - 4t}\big)

    so the saturated region is :math:`|z| > z^*`.

    Args:
      threshold: ``t`` in (0, 1/4).

    Returns:
      ``z*``, a float.

    >>> round(saturation_bound(0.05), 4)
    2.8873
    """
    if not 0.0 < threshold < 0.25:
        raise ValueError(f"threshold must lie in (0, 1/4), got {threshold}")
    a = 0.5 * (1.0 + math.sqrt(1.0 - 4.0 * threshold))
    return math.log(a / (1.0 - a))


def saturation_outputs(threshold: float) -> tuple[float, float]:
    r"""The outputs :math:`(1 - a^*, a^*)`, :math:`a^* = \sigma(z^*)`, outside which σ′ < ``threshold``.

    Args:
      threshold: ``t`` in (0, 1/4).

    Returns:
      ``(1 − a*, a*)``, two floats.
    """
    a = 0.5 * (1.0 + math.sqrt(1.0 - 4.0 * threshold))
    return 1.0 - a, a


# --------------------------------------------------------------------------
# Training the single neuron under both costs, one jitted scan
# --------------------------------------------------------------------------


class NeuronHistory(NamedTuple):
    """Per cost (rows in ``COSTS`` order) and epoch 0 … epochs: parameters, output and cost."""

    w: np.ndarray  # (2, epochs + 1)
    b: np.ndarray
    a: np.ndarray
    cost: np.ndarray

    @property
    def epochs(self) -> int:
        return self.w.shape[1] - 1

    @property
    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.w)) and np.all(np.isfinite(self.b)) and np.all(np.isfinite(self.cost)))


PLAIN_DESCENT = optax.identity()
"""The neuron's direction: the gradient itself; the learning rate is a traced argument (:mod:`lossviz.lessons.fit`)."""


def _train_one(w0, b0, x, y, eta, cost_index):
    params = (w0, b0)
    final, _, costs, visited = fit.fit_chunk(params, PLAIN_DESCENT.init(params), eta, (x, y, cost_index),
                                             objective=neuron_cost, direction=PLAIN_DESCENT, steps=NEURON_MAX_EPOCHS,
                                             keep_path=True)
    w = jnp.append(visited[0], final[0])
    b = jnp.append(visited[1], final[1])
    cost = jnp.append(costs, neuron_cost(final, x, y, cost_index))
    return w, b, sigmoid(w * x + b), cost


# Both costs in one call: vmap over (learning rate, cost index), one compile for any inputs.
_train_both = jax.jit(jax.vmap(_train_one, in_axes=(None, None, None, None, 0, 0)))


def train_neuron(w0: float, b0: float, x: float, y: float, eta_quadratic: float = 0.15,
                 eta_cross_entropy: float = 0.15, epochs: int = 300) -> NeuronHistory:
    r"""Plain gradient descent on one (x, y) example, under both costs at once.

    .. math:: (w, b) \leftarrow (w, b) - \eta_C\,\nabla_{(w, b)} C(\sigma(wx + b), y)

    with the gradient from ``jax.grad``; one ``lax.scan`` of ``NEURON_MAX_EPOCHS``
    steps, vmapped over the two costs and compiled once, sliced to ``epochs``.
    Entry ``t`` is the state after ``t`` updates.

    Args:
      w0: the starting weight.
      b0: the starting bias.
      x: the input.
      y: the target in [0, 1].
      eta_quadratic: the learning rate under the quadratic cost.
      eta_cross_entropy: the learning rate under cross-entropy.
      epochs: updates kept, 0 … :data:`NEURON_MAX_EPOCHS`.

    Returns:
      :class:`NeuronHistory` with ``w``, ``b``, ``a``, ``cost`` of shape
      ``(2, epochs + 1)``, rows in :data:`COSTS` order.
    """
    if not 0 <= epochs <= NEURON_MAX_EPOCHS:
        raise ValueError(f"epochs must lie in [0, {NEURON_MAX_EPOCHS}], got {epochs}")
    f = jnp.float32
    w, b, a, cost = _train_both(f(w0), f(b0), f(x), f(y), jnp.array([eta_quadratic, eta_cross_entropy], f),
                                jnp.arange(len(COSTS)))
    keep = slice(0, epochs + 1)
    return NeuronHistory(*(np.asarray(v)[:, keep] for v in (w, b, a, cost)))


def first_epoch_within(outputs: np.ndarray, y: float, tolerance: float = 0.2) -> int | None:
    r"""The first epoch t with :math:`|a_t - y| <` ``tolerance``, or None if it never comes.

    Args:
      outputs: the outputs per epoch, shape ``(epochs + 1,)``.
      y: the target.
      tolerance: how close counts as reached.

    Returns:
      The epoch, an int, or ``None``.

    >>> first_epoch_within(np.array([0.9, 0.5, 0.15, 0.1]), 0.0)
    2
    """
    hits = np.flatnonzero(np.abs(np.asarray(outputs) - y) < tolerance)
    return int(hits[0]) if hits.size else None


def classic_start_name(w: float, b: float) -> str | None:
    """The name in :data:`CLASSIC_STARTS` whose (w, b) this is, or None.

    Args:
      w: a starting weight.
      b: a starting bias.

    Returns:
      The name (a key of :data:`CLASSIC_STARTS`), or ``None``.

    >>> classic_start_name(2.0, 2.0), classic_start_name(1.0, 1.0)
    ('0.98', None)
    """
    for name, (w0, b0) in CLASSIC_STARTS.items():
        if math.isclose(w, w0, abs_tol=1e-9) and math.isclose(b, b0, abs_tol=1e-9):
            return name
    return None


@jax.jit
def _cost_grid(w, b, x, y):
    over_grid = jax.vmap(neuron_cost, in_axes=((0, 0), None, None, None))
    return jax.vmap(lambda i: over_grid((w.ravel(), b.ravel()), x, y, i).reshape(w.shape))(jnp.arange(len(COSTS)))


def cost_surfaces(history: NeuronHistory, x: float, y: float, points: int = 61, margin: float = 1.0):
    r"""Both costs over a (w, b) grid that covers both training paths plus ``margin``.

    .. math:: C(w, b) = C(\sigma(w x + b), y) \text{ on } [w_{min}-m, w_{max}+m] \times [b_{min}-m, b_{max}+m]

    Args:
      history: the neuron's training, from :func:`train_neuron`.
      x: the input it was trained on.
      y: its target.
      points: grid points per axis.
      margin: how far the grid extends past the paths.

    Returns:
      ``(w_axis, b_axis, surfaces)``: float32 ``(points,)`` twice and
      ``(2, points, points)``, ``surfaces[i]`` for ``COSTS[i]`` with rows
      following b, as plotly's contour expects.
    """
    w_axis = np.linspace(history.w.min() - margin, history.w.max() + margin, points, dtype=np.float32)
    b_axis = np.linspace(history.b.min() - margin, history.b.max() + margin, points, dtype=np.float32)
    ww, bb = np.meshgrid(w_axis, b_axis)
    surfaces = _cost_grid(jnp.asarray(ww), jnp.asarray(bb), jnp.float32(x), jnp.float32(y))
    return w_axis, b_axis, np.asarray(surfaces)
