"""Loss landscapes of a dense network: the straight line θ₀→θ₁, a filter-normalised 2-D slice, the PCA path.

Parameters are plain lists of dense layers, either ``[(W0, b0), (W1, b1), …]``
(``engine.models``) or flat ``[W0, b0, W1, b1, …]`` (the run store), kernels
stored ``(inputs, outputs)``.  Every picture is the loss of

.. math:: \\theta(\\alpha, \\beta) = \\theta_c + \\alpha\\,\\delta_1 + \\beta\\,\\delta_2

on a fixed set of images (a :class:`Probe`), for a grid of ``(α, β)``:

* the line (Goodfellow et al. 2015): ``θ_c = θ₀`` (initial), ``δ₁ = θ₁ − θ₀``, ``δ₂ = 0``;
* the slice (Li et al. 2018): ``θ_c = θ₁`` (final) and two Gaussian directions,
  filter-normalised (:func:`filter_normalize`);
* the path: ``θ_c = θ₁`` and the first two principal directions of the
  per-epoch weights (:mod:`lossviz.lessons.landscape_path`).

Speed.  All points of a block of grid rows are evaluated in one jitted call
(``lax.map`` inside the jit: no Python loop per point).  The first layer is
linear in the coefficients, ``X(W + αD₁ + βD₂) = XW + α·XD₁ + β·XD₂``, so
``XW``, ``XD₁`` and ``XD₂`` are computed once per surface and combined per
point, which drops the largest matmul of an autoencoder (45 % of its FLOPs).
``lax.map``'s ``batch_size`` (points vmapped together) is the one knob: on
XLA:CPU, where each point's different weights make a batched matmul slow,
one point at a time is faster; on a GPU batching pays (see :func:`default_batch_size`).
"""

from __future__ import annotations

from functools import partial
from typing import Iterator, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lossviz.config import TrainConfig
from lossviz import engine
from lossviz.engine import models

Layers = list[tuple[jax.Array, jax.Array]]

LINE_RANGE = (-0.5, 1.5)
"""α of the straight line θ(α) = (1 − α)·θ₀ + α·θ₁."""
LINE_POINTS = 41
"""Points on the line: a step of 0.05, so α = 0 and α = 1 are on it."""
DEFAULT_IMAGES = 2000
"""Training images a landscape is evaluated on unless asked otherwise."""
RESOLUTIONS = (11, 61)
"""Smallest and largest points per axis of a 2-D surface (odd, so the centre is a grid point)."""


# --------------------------------------------------------------------------
# Parameters as layers and as one vector
# --------------------------------------------------------------------------


def as_layers(params: Sequence) -> Layers:
    """``[(W, b), …]`` from either ``[(W, b), …]`` or the flat ``[W0, b0, W1, b1, …]``, as float32 jax arrays.

    Args:
      params: L dense layers; kernel ``l`` of shape (n_l, n_{l+1}), bias (n_{l+1},).
    Returns:
      Layers: L pairs ``(kernel, bias)``.
    Raises:
      ValueError: the list is not dense layers (a kernel of rank 2 followed by a
        bias as long as its outputs, each layer's inputs the last one's outputs).
    """
    items = list(params)
    if items and isinstance(items[0], (tuple, list)):
        pairs = [tuple(p) for p in items]
    else:
        if len(items) % 2:
            raise ValueError(f"a flat parameter list has kernel/bias pairs; got {len(items)} arrays")
        pairs = list(zip(items[0::2], items[1::2]))
    layers = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"layer {i}: expected (kernel, bias), got {len(pair)} arrays")
        kernel, bias = (jnp.asarray(a, jnp.float32) for a in pair)
        if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
            raise ValueError(f"layer {i}: kernel {kernel.shape} and bias {bias.shape} are not a dense layer")
        if i and kernel.shape[0] != layers[-1][0].shape[1]:
            raise ValueError(f"layer {i}: {kernel.shape[0]} inputs after {layers[-1][0].shape[1]} outputs")
        layers.append((kernel, bias))
    if not layers:
        raise ValueError("no layers")
    return layers


def flat_vector(layers: Layers) -> np.ndarray:
    """All parameters in one float64 vector, layer by layer, kernel (row-major) then bias.

    Args:
      layers: L dense layers.
    Returns:
      (P,) with P = Σ n_l·n_{l+1} + n_{l+1}.
    """
    return np.concatenate([np.asarray(a, np.float64).ravel() for pair in layers for a in pair])


def from_vector(vector: np.ndarray, like: Layers) -> Layers:
    """The inverse of :func:`flat_vector`, shaped like ``like``."""
    out, at = [], 0
    for kernel, bias in like:
        pieces = []
        for a in (kernel, bias):
            pieces.append(jnp.asarray(vector[at: at + a.size].reshape(a.shape), jnp.float32))
            at += a.size
        out.append((pieces[0], pieces[1]))
    return out


def combine(base: Layers, terms: Sequence[tuple[float, Layers]]) -> Layers:
    """``base + Σ c·direction`` layer by layer (what :func:`surface_rows` evaluates at one point)."""
    out = []
    for i, (kernel, bias) in enumerate(base):
        for c, direction in terms:
            kernel = kernel + c * direction[i][0]
            bias = bias + c * direction[i][1]
        out.append((kernel, bias))
    return out


def difference(a: Layers, b: Layers) -> Layers:
    """``a − b`` layer by layer."""
    return [(ka - kb, ba - bb) for (ka, ba), (kb, bb) in zip(a, b)]


def zeros_like(layers: Layers) -> Layers:
    return [(jnp.zeros_like(k), jnp.zeros_like(b)) for k, b in layers]


# --------------------------------------------------------------------------
# Directions
# --------------------------------------------------------------------------


def gaussian_direction(rng: np.random.Generator, like: Layers) -> Layers:
    """Standard normal kernels shaped like ``like``'s, zero biases."""
    return [(jnp.asarray(rng.standard_normal(k.shape), jnp.float32), jnp.zeros_like(b)) for k, b in like]


def filter_normalize(direction: Layers, weights: Layers) -> Layers:
    """Li et al.'s filter normalisation for dense layers; bias directions become zero.

    .. math:: d_{:,j} \\leftarrow \\frac{d_{:,j}}{\\lVert d_{:,j}\\rVert}\\,\\lVert W_{:,j}\\rVert

    Column ``j`` of a kernel stored ``(inputs, outputs)`` is the incoming
    weights of output neuron ``j`` (a "filter"), so each neuron's direction
    has that neuron's weight norm and moving one unit along it changes every
    neuron by as much as its own scale.  A zero column of ``d`` stays zero.

    Args:
      direction: layers like ``weights``.
      weights: the point the direction is anchored at.
    Returns:
      Layers: kernels rescaled column by column, biases zero.
    """
    out = []
    for (d, _), (w, b) in zip(direction, weights):
        d_norm = jnp.linalg.norm(d, axis=0, keepdims=True)
        w_norm = jnp.linalg.norm(w, axis=0, keepdims=True)
        scale = jnp.where(d_norm > 0, w_norm / jnp.where(d_norm > 0, d_norm, 1.0), 0.0)
        out.append((d * scale, jnp.zeros_like(b)))
    return out


def random_directions(weights: Layers, seed: int) -> tuple[Layers, Layers]:
    """Two filter-normalised Gaussian directions drawn from ``numpy.random.default_rng(seed)``.

    Args:
      weights: the layers the directions are anchored at (and shaped like).
      seed: the same seed draws the same directions on every machine (NumPy's PCG64).
    Returns:
      ``(δ₁, δ₂)``: layers, biases zero (:func:`filter_normalize`).
    """
    rng = np.random.default_rng(seed)
    first = filter_normalize(gaussian_direction(rng, weights), weights)
    second = filter_normalize(gaussian_direction(rng, weights), weights)
    return first, second


# --------------------------------------------------------------------------
# The images a landscape is evaluated on
# --------------------------------------------------------------------------


class Probe(NamedTuple):
    """Model inputs, targets and (for classifiers) labels of the images a loss is averaged over."""

    x: jax.Array
    targets: jax.Array
    labels: jax.Array | None

    @property
    def size(self) -> int:
        return int(self.x.shape[0])


def probe(dataset: engine.Dataset, images: int | None = DEFAULT_IMAGES, split: str = "train") -> Probe:
    """The first ``images`` examples of ``dataset``'s train or test split (all of them for ``None``).

    Args:
      dataset: the run's task data (``engine.prepare``).
      images: how many examples n; ``None`` for all.
      split: ``"train"`` or ``"test"``.
    Returns:
      :class:`Probe`: inputs (n, d) in the model's pixel scale, targets (n, d) or
      one-hot (n, C), labels (n,) for classifiers.
    """
    stored = dataset.x_train if split == "train" else dataset.x_test
    n = stored.shape[0] if images is None else min(int(images), stored.shape[0])
    x = stored[:n].astype(jnp.float32) / jnp.float32(dataset.pixel_divisor)
    y = dataset.y_train if split == "train" else dataset.y_test
    labels = dataset.labels_train if split == "train" else dataset.labels_test
    targets = x if y is None else y[:n]
    has_classes = dataset.task != "autoencoder" and labels is not None
    return Probe(x, targets, jnp.asarray(labels[:n], jnp.int32) if has_classes else None)


# --------------------------------------------------------------------------
# The jitted evaluation
# --------------------------------------------------------------------------


def _metrics(logits, targets, labels, spec: engine.Spec):
    loss = jnp.mean(engine.output_loss(spec, logits, targets))
    if labels is None:
        return loss, jnp.float32(jnp.nan)
    return loss, jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def _after_first(z, rest: Layers, spec: engine.Spec):
    """Logits from the first layer's pre-activation ``z`` and the remaining layers."""
    if not rest:
        return z
    return models.apply(rest, models.activate(z, spec.hidden_activation), spec.hidden_activation)


@jax.jit
def _first_layer(x, base: Layers, d1: Layers, d2: Layers):
    """``(XW + b, XD₁ + d₁, XD₂ + d₂)``: the first layer's three terms, once per surface."""
    (w, b), (u, p), (v, q) = base[0], d1[0], d2[0]
    return x @ w + b, x @ u + p, x @ v + q


@partial(jax.jit, static_argnames=("spec", "batch_size"))
def _points_linear_first(z0, z1, z2, rest, rest1, rest2, coords, targets, labels, *,
                         spec: engine.Spec, batch_size: int | None):
    """Loss and accuracy at each ``coords[i] = (α, β)``, the first layer from its precomputed terms."""
    engine.TRACE_COUNTS["landscape"] += 1

    def point(ab):
        a, b = ab[0], ab[1]
        layers = [(w + a * u + b * v, c + a * p + b * q)
                  for (w, c), (u, p), (v, q) in zip(rest, rest1, rest2)]
        return _metrics(_after_first(z0 + a * z1 + b * z2, layers, spec), targets, labels, spec)

    return jax.lax.map(point, coords, batch_size=batch_size)


@partial(jax.jit, static_argnames=("spec", "batch_size"))
def _points_direct(base, d1, d2, coords, x, targets, labels, *, spec: engine.Spec, batch_size: int | None):
    """The same numbers with every layer's weights built per point (the reference for the trick)."""

    def point(ab):
        weights = combine(base, [(ab[0], d1), (ab[1], d2)])
        return _metrics(models.apply(weights, x, spec.hidden_activation), targets, labels, spec)

    return jax.lax.map(point, coords, batch_size=batch_size)


def default_batch_size() -> int | None:
    """Points per vmapped batch inside ``lax.map``: none on CPU (measured: vmapping 8 points ran at 0.4–0.9 of
    the speed of one at a time), 16 on an accelerator (a guess, not measured: no GPU was at hand)."""
    return None if jax.default_backend() == "cpu" else 16


class Block(NamedTuple):
    """Rows ``start … start + len(losses) − 1`` of a surface, as they finish."""

    start: int
    losses: np.ndarray
    accuracy: np.ndarray


def surface_rows(config: TrainConfig, centre: Layers, d1: Layers, d2: Layers, alphas: np.ndarray,
                 betas: np.ndarray, images: Probe, *, rows_per_block: int = 1, batch_size: int | None = -1,
                 method: str = "linear-first") -> Iterator[Block]:
    """The loss at ``centre + α·d1 + β·d2`` on a grid, yielded in blocks of rows as they finish.

    Row ``i`` is ``β = betas[i]``, column ``j`` is ``α = alphas[j]`` (plotly's
    ``z[y][x]``).  Every block is one call of the same compiled function (the
    last one is padded), and the next block is dispatched before the last is
    read back, so drawing overlaps computing.

    Args:
      config: the run's config (architecture, loss, activations).
      centre, d1, d2: layers (``as_layers``).
      alphas: (A,) coefficients of ``d1``; betas: (B,) of ``d2``.
      images: the :class:`Probe` the loss is averaged over.
      rows_per_block: grid rows per jitted call.
      batch_size: ``lax.map``'s points per vmapped batch; ``-1`` for :func:`default_batch_size`.
      method: ``"linear-first"`` (the first layer's terms computed once) or ``"direct"``.
    Yields:
      :class:`Block`: ``losses`` and ``accuracy`` of shape (rows, A); accuracy is NaN without classes.
    """
    spec = engine.spec_of(config)
    if batch_size == -1:
        batch_size = default_batch_size()
    alphas, betas = np.asarray(alphas, np.float32), np.asarray(betas, np.float32)
    rows_per_block = max(1, min(int(rows_per_block), len(betas)))
    centre, d1, d2 = as_layers(centre), as_layers(d1), as_layers(d2)
    if method == "linear-first":
        z = _first_layer(images.x, centre, d1, d2)

        def evaluate(coords):
            return _points_linear_first(*z, centre[1:], d1[1:], d2[1:], coords, images.targets, images.labels,
                                        spec=spec, batch_size=batch_size)
    elif method == "direct":
        def evaluate(coords):
            return _points_direct(centre, d1, d2, coords, images.x, images.targets, images.labels,
                                  spec=spec, batch_size=batch_size)
    else:
        raise ValueError(f"method must be 'linear-first' or 'direct', not {method!r}")

    def dispatch(start: int):
        rows = betas[start: start + rows_per_block]
        padded = np.concatenate([rows, np.repeat(rows[-1:], rows_per_block - len(rows))])
        grid = np.stack(np.meshgrid(alphas, padded), axis=-1).reshape(-1, 2)
        return start, len(rows), evaluate(jnp.asarray(grid))

    pending = dispatch(0)
    for start in range(rows_per_block, len(betas) + rows_per_block, rows_per_block):
        following = dispatch(start) if start < len(betas) else None
        first, count, (loss, accuracy) = pending
        shape = (rows_per_block, len(alphas))
        yield Block(first, np.asarray(loss).reshape(shape)[:count], np.asarray(accuracy).reshape(shape)[:count])
        pending = following


def evaluate_grid(config: TrainConfig, centre: Layers, d1: Layers, d2: Layers, alphas, betas,
                  images: Probe, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """:func:`surface_rows` gathered: ``(losses, accuracy)``, each (len(betas), len(alphas)).

    .. math:: Z_{ij} = L(\\theta_c + \\alpha_j\\delta_1 + \\beta_i\\delta_2),\\ L \\text{ the mean loss of } loss\\_at
    """
    blocks = list(surface_rows(config, centre, d1, d2, alphas, betas, images, **kwargs))
    return (np.concatenate([b.losses for b in blocks]), np.concatenate([b.accuracy for b in blocks]))


def loss_at(config: TrainConfig, params, images: Probe) -> tuple[float, float]:
    """``(loss, accuracy)`` of one set of weights: the number the centre of a surface must equal.

    .. math:: L(\\theta) = \\frac1n\\sum_k \\ell\\big(f_\\theta(x_k), y_k\\big)

    Args:
      config: the run's config (architecture, activations, loss).
      params: its weights (:func:`as_layers` accepts either layout).
      images: the :class:`Probe` averaged over.
    Returns:
      ``(loss, accuracy)``: floats; accuracy is NaN without classes.
    """
    layers = as_layers(params)
    return tuple(float(v) for v in _single(layers, images.x, images.targets, images.labels,
                                           spec=engine.spec_of(config)))


@partial(jax.jit, static_argnames=("spec",))
def _single(layers, x, targets, labels, *, spec):
    return _metrics(models.apply(layers, x, spec.hidden_activation), targets, labels, spec)


def grid_axis(half_range: float, resolution: int) -> np.ndarray:
    """``resolution`` evenly spaced points on [−r, r]; an odd resolution puts 0 exactly in the middle."""
    axis = np.linspace(-half_range, half_range, resolution)
    if resolution % 2:
        axis[resolution // 2] = 0.0
    return axis


def line_alphas(points: int = LINE_POINTS) -> np.ndarray:
    """α from −0.5 to 1.5, with 0 and 1 exactly on the line."""
    alphas = np.round(np.linspace(*LINE_RANGE, points), 10)
    return alphas


def rows_per_call(layers: Layers, resolution: int, images: int, target_flops: float = 5e10) -> int:
    """Grid rows per jitted call: about ``target_flops`` of work (≈ 0.3 s on a 2-core CPU), at least one row.

    Small enough that rows appear a few times a second; a block of several
    rows would pad the last one with repeated rows (a grid of 41 rows is prime).
    """
    per_row = flops_per_point(layers, images) * resolution
    return int(max(1, min(resolution, target_flops // max(per_row, 1.0))))


def flops_per_point(layers: Layers, images: int) -> float:
    """Multiply-adds × 2 of one forward pass over ``images`` (what the bench's rate is counted against)."""
    return 2.0 * images * sum(int(k.shape[0]) * int(k.shape[1]) for k, _ in layers)
