r"""Forward vs reverse KL: one Gaussian fitted to a two-peaked mixture, both ways at once.

Forward KL(p‖q) averages over the data p, so q must cover both peaks (it
matches the mixture's mean and variance); reverse KL(q‖p) averages over q, so
q settles on one peak.  Both fits run side by side with optax Adam in jitted
chunks of steps (:mod:`lossviz.lessons.fit`), so the page can redraw between
chunks.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz.lessons import fit

FIT_GRID = np.linspace(-16.0, 16.0, 1601, dtype=np.float32)
"""Where the fits' integrals are evaluated (a Riemann sum; both densities are negligible past ±16)."""
FIT_LEARNING_RATE = 0.05
ADAM = optax.scale_by_adam()
"""The fits' direction; the learning rate is a traced argument (:mod:`lossviz.lessons.fit`)."""
FORWARD, REVERSE = 0, 1


def _log_normal(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    return -0.5 * jnp.square((x - mean) / jnp.exp(log_std)) - log_std - 0.5 * jnp.log(2 * jnp.pi)


def mixture_log_density(x, separation: float, weight: float) -> jax.Array:
    r"""Log-density of the mixture p: unit-variance peaks at ∓separation/2.

    .. math:: p(x) = w\,\mathcal N(x; -\tfrac s2, 1) + (1 - w)\,\mathcal N(x; \tfrac s2, 1)

    Args:
      x: points, any shape.
      separation: ``s``, the distance between the peaks.
      weight: ``w``, the left peak's weight, in (0, 1).

    Returns:
      float32 ``log p(x)``, ``x``'s shape.
    """
    x = jnp.asarray(x, jnp.float32)
    weight = jnp.asarray(weight, jnp.float32)
    half = 0.5 * jnp.asarray(separation, jnp.float32)
    left = jnp.log(weight) + _log_normal(x, -half, 0.0)
    right = jnp.log1p(-weight) + _log_normal(x, half, 0.0)
    return jnp.logaddexp(left, right)


def mixture_moments(separation: float, weight: float) -> tuple[float, float]:
    r"""Mean and variance of the mixture: the forward-KL optimum (moment matching).

    .. math:: \mu = (1 - 2w)\tfrac s2,\qquad \sigma^2 = 1 + 4w(1-w)\big(\tfrac s2\big)^2

    Args:
      separation: ``s``.
      weight: ``w``.

    Returns:
      ``(mean, variance)``, two floats.

    >>> mixture_moments(6.0, 0.5)
    (0.0, 10.0)
    """
    half = separation / 2
    return (1 - 2 * weight) * half, 1 + 4 * weight * (1 - weight) * half**2


def mixture_formula(separation: float, weight: float) -> str:
    """The mixture written out, e.g. ``0.4·N(−3.5, 1) + 0.6·N(3.5, 1)``.

    Args:
      separation: ``s``.
      weight: ``w``.

    Returns:
      The formula, a str.
    """
    return f"{weight:g}·N(−{separation / 2:g}, 1) + {1 - weight:g}·N({separation / 2:g}, 1)"


def fit_summary(frame: "FitFrame", separation: float, weight: float) -> dict[str, str]:
    """Mean and standard deviation of each fit next to the mixture's own (the forward-KL optimum).

    Args:
      frame: a :class:`FitFrame` of :func:`fit_kl_directions`.
      separation: ``s`` of the mixture fitted.
      weight: ``w`` of the mixture fitted.

    Returns:
      ``{label: "mean, std"}`` for the forward fit, the mixture and the reverse fit, in that order.
    """
    mean, variance = mixture_moments(separation, weight)
    return {
        "forward fit: mean, std": f"{frame.means[FORWARD]:.2f}, {frame.stds[FORWARD]:.2f}",
        "mixture's own mean, std": f"{mean:.2f}, {np.sqrt(variance):.2f}",
        "reverse fit: mean, std": f"{frame.means[REVERSE]:.2f}, {frame.stds[REVERSE]:.2f}",
    }


def kl_objectives(params: jax.Array, separation, weight) -> jax.Array:
    r"""Forward KL(p‖q₀) and reverse KL(q₁‖p) on :data:`FIT_GRID`.

    ``params[d] = (μ_d, log σ_d)`` is the Gaussian q_d of direction ``d``.

    .. math:: \mathrm{KL}(p\|q) \approx \sum_i p(x_i)\,[\log p(x_i) - \log q(x_i)]\,\Delta x,
              \quad \mathrm{KL}(q\|p) \approx \sum_i q(x_i)\,[\log q(x_i) - \log p(x_i)]\,\Delta x

    Args:
      params: shape ``(2, 2)``: ``[FORWARD]`` and ``[REVERSE]`` rows of (mean, log std).
      separation: ``s`` of the mixture.
      weight: ``w`` of the mixture.

    Returns:
      float32 array, shape ``(2,)``: forward KL, reverse KL, in nats.
    """
    x = jnp.asarray(FIT_GRID)
    dx = x[1] - x[0]
    log_p = mixture_log_density(x, separation, weight)
    log_q_forward = _log_normal(x, params[FORWARD, 0], params[FORWARD, 1])
    log_q_reverse = _log_normal(x, params[REVERSE, 0], params[REVERSE, 1])
    forward = jnp.sum(jnp.exp(log_p) * (log_p - log_q_forward)) * dx
    reverse = jnp.sum(jnp.exp(log_q_reverse) * (log_q_reverse - log_p)) * dx
    return jnp.stack([forward, reverse])


def start_params(start_mean: float, start_std: float = 1.0) -> jax.Array:
    """Both Gaussians at N(start_mean, start_std²), shape ``(2, 2)``: direction × (mean, log std).

    Start off-centre, so that reverse KL must pick a side.

    >>> start_params(1.5)
    Array([[1.5, 0. ],
           [1.5, 0. ]], dtype=float32)

    Args:
      start_mean: both Gaussians' mean.
      start_std: both Gaussians' standard deviation.

    Returns:
      float32 array, shape ``(2, 2)``.
    """
    return jnp.array([[start_mean, np.log(start_std)]] * 2, jnp.float32)


class FitFrame(NamedTuple):
    step: int
    means: np.ndarray   # (2,) forward, reverse
    stds: np.ndarray    # (2,)
    objectives: np.ndarray  # (step, 2): KL values so far


def fit_kl_directions(separation: float, weight: float, start_mean: float, steps: int,
                      chunk: int = 25, learning_rate: float = FIT_LEARNING_RATE) -> Iterator[FitFrame]:
    r"""Fit q₀ by forward KL(p‖q₀) and q₁ by reverse KL(q₁‖p), yielding a frame every ``chunk`` steps.

    Adam on the sum of the two objectives (:func:`kl_objectives`): its
    gradient splits by direction and Adam is per coordinate, so this is
    exactly two independent fits run side by side.

    Args:
      separation: distance ``s`` between the mixture's two unit-variance peaks.
      weight: ``w``, the left peak's weight, in (0, 1).
      start_mean: where both Gaussians start (standard deviation 1).
      steps: Adam steps in all.
      chunk: steps per jitted chunk, i.e. per frame (the last may be shorter).
      learning_rate: Adam's η.

    Yields:
      :class:`FitFrame` after each chunk: steps done, each direction's mean and
      standard deviation now, and both objectives before every step so far.
    """
    params = start_params(start_mean)
    state, rate, mixture = ADAM.init(params), jnp.float32(learning_rate), (jnp.float32(separation),
                                                                          jnp.float32(weight))
    history: list[np.ndarray] = []
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        params, state, values = fit.fit_chunk(params, state, rate, mixture, objective=kl_objectives,
                                              direction=ADAM, steps=n)
        history.append(np.asarray(values))
        done += n
        final = np.asarray(params)
        yield FitFrame(done, final[:, 0], np.exp(final[:, 1]), np.concatenate(history))


def mixture_density(x, separation: float, weight: float) -> np.ndarray:
    """:func:`mixture_log_density`, exponentiated, as a numpy array (for plotting).

    Args:
      x: points, any shape.
      separation: ``s``.
      weight: ``w``.

    Returns:
      float32 densities, ``x``'s shape.
    """
    return np.exp(np.asarray(mixture_log_density(x, separation, weight)))


def gaussian_density(x, mean: float, std: float) -> np.ndarray:
    r""":math:`\mathcal N(x; \mu, \sigma^2)` as a numpy array (for plotting).

    Args:
      x: points, any shape.
      mean: ``μ``.
      std: ``σ > 0``.

    Returns:
      float32 densities, ``x``'s shape.
    """
    return np.exp(np.asarray(_log_normal(jnp.asarray(x, jnp.float32), mean, np.log(std))))
