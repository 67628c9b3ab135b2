r"""Where a sigmoid neuron saturates: its gradients along the logit, and the two classic points.

Every curve is ``jax.grad`` of :func:`lossviz.lessons.gradients.neuron_cost`
at ``(w, b) = (0, z)``, so it is exactly the gradient a neuron with logit
``z`` receives; :func:`closed_form_gap` compares it with the hand-derived
forms.  The table of the two classic outputs (0.82 and 0.98) says for each
cost whether its update is a reasonable size.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lossviz.lessons.gradients import (
    CLASSIC_OUTPUTS, COST_LABELS, COSTS, DEFAULT_SATURATION_THRESHOLD, cross_entropy_gradient_closed_form, logit,
    neuron_cost, neuron_gradient, quadratic_gradient_closed_form, sigmoid, sigmoid_prime,
)

FAR_FROM_TARGET = 0.5
"""|a − y| from which an output counts as far off (it sits on the wrong side of 1/2)."""


# --------------------------------------------------------------------------
# Curves over z
# --------------------------------------------------------------------------


class GradientCurves(NamedTuple):
    """σ, σ′ and both costs' gradients along a grid of logits ``z``, all from ``jax.grad``."""

    z: np.ndarray
    a: np.ndarray
    sigma_prime: np.ndarray
    dw: np.ndarray  # (2, n): ∂C/∂w for COSTS[0], COSTS[1]
    db: np.ndarray  # (2, n): ∂C/∂b
    cost: np.ndarray  # (2, n)


def curve_grid(axis: str, points: int = 401, z_limit: float = 8.0) -> np.ndarray:
    r"""Logits to draw the curves at: uniform in z, or uniform in the output a.

    ``axis="z"``: :math:`z \in [-z_{lim}, z_{lim}]`; ``axis="a"``:
    :math:`z = \mathrm{logit}(a)` for ``a`` uniform in ``(σ(−z_lim), σ(z_lim))``.

    Args:
      axis: ``"z"`` or ``"a"``.
      points: how many logits.
      z_limit: the largest ``|z|``.

    Returns:
      float32 logits, shape ``(points,)``, increasing.
    """
    if axis == "z":
        return np.linspace(-z_limit, z_limit, points, dtype=np.float32)
    if axis == "a":
        edge = 1.0 / (1.0 + math.exp(z_limit))
        a = np.linspace(edge, 1.0 - edge, points)
        return np.log(a / (1.0 - a)).astype(np.float32)
    raise ValueError(f"axis must be 'z' or 'a', got {axis!r}")


@jax.jit
def _curves(z, x, y):
    # At (w, b) = (0, z) the neuron's logit is z for every x, so jax.grad in
    # (w, b) there gives exactly the gradient a neuron with logit z receives.
    def at(z_, cost_index):
        params = (jnp.zeros_like(z_), z_)
        dw, db = neuron_gradient(params, x, y, cost_index)
        return dw, db, neuron_cost(params, x, y, cost_index)

    per_cost = jax.vmap(jax.vmap(at, in_axes=(0, None)), in_axes=(None, 0))
    dw, db, cost = per_cost(z, jnp.arange(len(COSTS)))
    return sigmoid(z), sigmoid_prime(z), dw, db, cost


def gradient_curves(z, x: float, y: float) -> GradientCurves:
    r"""σ(z), σ′(z) and, for each cost, :math:`\partial C/\partial w`, :math:`\partial C/\partial b` and C along ``z``.

    .. math:: \frac{\partial C}{\partial (w, b)} = \texttt{jax.grad}(C)(w{=}0, b{=}z;\ x, y)

    Args:
      z: logits, shape ``(n,)``.
      x: the input.
      y: the target in [0, 1].

    Returns:
      :class:`GradientCurves`: ``z``, ``a``, ``sigma_prime`` of shape ``(n,)``;
      ``dw``, ``db``, ``cost`` of shape ``(2, n)`` in :data:`COSTS` order.
    """
    z = jnp.asarray(z, dtype=jnp.float32)
    a, sp, dw, db, cost = _curves(z, jnp.float32(x), jnp.float32(y))
    return GradientCurves(np.asarray(z), np.asarray(a), np.asarray(sp), np.asarray(dw),
                          np.asarray(db), np.asarray(cost))


def closed_form_gap(curves: GradientCurves, x: float, y: float) -> float:
    r"""Largest :math:`|\texttt{jax.grad} - \text{closed form}|` over both costs, both parameters, the whole curve.

    Args:
      curves: the output of :func:`gradient_curves` at the same ``x`` and ``y``.
      x: the input.
      y: the target.

    Returns:
      The largest absolute difference, a float.
    """
    z = jnp.asarray(curves.z)
    closed = (quadratic_gradient_closed_form(z, x, y), cross_entropy_gradient_closed_form(z, x, y))
    return max(float(np.max(np.abs(np.asarray(closed[i][j]) - got[i])))
               for i in range(len(COSTS)) for j, got in enumerate((curves.dw, curves.db)))


# --------------------------------------------------------------------------
# The two classic points
# --------------------------------------------------------------------------


def _verdict(cost: str, error: float, sigma_p: float, grad: float, ce_grad: float, threshold: float) -> str:
    far = abs(error) >= FAR_FROM_TARGET
    if not far:
        return (f"{COST_LABELS[cost]}: reasonable: the output is already close to the target "
                f"(|a − y| = {abs(error):.2f}), so a small step ({abs(grad):.3g}) is what we want.")
    if cost == "cross_entropy":
        return (f"cross-entropy: reasonable: the step equals the error a − y = {error:+.2f}, "
                "large because the output is far from the target.")
    if sigma_p < threshold:
        return (f"quadratic: not reasonable: the output is far from the target (|a − y| = {abs(error):.2f}) "
                f"yet σ′(z) = {sigma_p:.3g} < {threshold:g} shrinks the step to {abs(grad):.3g}, "
                f"{abs(ce_grad) / max(abs(grad), 1e-30):.0f}× smaller than cross-entropy's: learning crawls.")
    return (f"quadratic: reasonable: far from the target and the step ({abs(grad):.3g}) is sizeable, "
            f"though σ′(z) = {sigma_p:.3g} makes it {abs(ce_grad) / max(abs(grad), 1e-30):.1f}× "
            "smaller than cross-entropy's.")


def classic_marks(outputs=CLASSIC_OUTPUTS) -> dict[float, float]:
    r"""Each classic output a with its logit :math:`z = \mathrm{logit}(a)`, for marking the curves.

    Args:
      outputs: the outputs ``a`` to mark, each in (0, 1).

    Returns:
      ``{a: z}``.
    """
    return {a: float(logit(jnp.float32(a))) for a in outputs}


def two_points_table(x: float, threshold: float = DEFAULT_SATURATION_THRESHOLD,
                     outputs=CLASSIC_OUTPUTS, targets=(0.0, 1.0)) -> list[dict]:
    r"""One row per (output a, target y): a, z, σ′(z), both costs' gradients (``jax.grad``) and a verdict.

    .. math:: z = \mathrm{logit}(a),\quad
              \frac{\partial C_{\text{quad}}}{\partial b} = (a-y)\sigma'(z),\quad
              \frac{\partial C_{\text{CE}}}{\partial b} = a - y

    An update counts as "reasonable" when it is large where the output is
    far from the target (``|a − y| ≥ 1/2``) and small where it is close; a
    far-off output whose σ′(z) is below ``threshold`` is not.

    Args:
      x: the input.
      threshold: σ′ below this counts as saturated.
      outputs: the outputs ``a`` to tabulate.
      targets: the targets ``y``.

    Returns:
      A list of ``len(outputs) · len(targets)`` dicts (targets outermost), one per row.
    """
    rows = []
    z = np.asarray(logit(jnp.asarray(outputs, dtype=jnp.float32)))
    for y in targets:
        curves = gradient_curves(z, x, y)
        for i, a in enumerate(outputs):
            error = float(curves.a[i]) - y
            sp = float(curves.sigma_prime[i])
            db_q, db_ce = float(curves.db[0, i]), float(curves.db[1, i])
            rows.append({
                "output a": a,
                "z": float(z[i]),
                "target y": y,
                "σ′(z)": sp,
                "∂C/∂w quadratic": float(curves.dw[0, i]),
                "∂C/∂w cross-entropy": float(curves.dw[1, i]),
                "∂C/∂b quadratic": db_q,
                "∂C/∂b cross-entropy": db_ce,
                "quadratic verdict": _verdict("quadratic", error, sp, db_q, db_ce, threshold),
                "cross-entropy verdict": _verdict("cross_entropy", error, sp, db_ce, db_ce, threshold),
            })
    return rows
