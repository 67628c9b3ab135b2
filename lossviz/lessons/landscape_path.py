"""The path a run took: its per-epoch weights on their first two principal directions (Li et al. 2018, section 7).

Streamlit-free; parameters as in :mod:`lossviz.lessons.landscape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lossviz.lessons.landscape import Layers, flat_vector, from_vector



@dataclass(frozen=True)
class PcaPath:
    """Weights ``θ_t`` projected on the plane through ``θ_final`` spanned by ``directions``.

    ``coords`` (T, 2): ``(θ_t − θ_final)·e_k`` for the trajectory's points in
    order (the last is the final weights, at the origin);
    ``explained`` (2,): the share of the variance of the trajectory's
    differences along ``e₁`` and ``e₂``; ``residual`` (T,): the distance of
    each point from the plane (what the picture leaves out).
    """

    coords: np.ndarray
    explained: np.ndarray
    residual: np.ndarray
    directions: tuple[Layers, Layers]


def pca_path(trajectory: Sequence[Layers], final: Layers) -> PcaPath:
    """Li et al.'s trajectory plot: PCA of ``θ_t − θ_final`` (centred, as scikit-learn's PCA), then projection.

    .. math:: M = [\\theta_t - \\theta_{\\mathrm{final}}]_t,\\quad
              M - \\bar M = U S V^\\top,\\quad e_k = V_{:,k},\\quad
              c_{t,k} = (\\theta_t - \\theta_{\\mathrm{final}})\\cdot e_k

    Args:
      trajectory: T ≥ 2 sets of layers (e.g. initial, then each epoch's).
      final: the layers the plane passes through.
    Returns:
      :class:`PcaPath`.
    """
    if len(trajectory) < 2:
        raise ValueError("a path needs at least two points")
    final_vector = flat_vector(final)
    deltas = np.stack([flat_vector(t) - final_vector for t in trajectory])
    centred = deltas - deltas.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:2] if vt.shape[0] >= 2 else np.vstack([vt, np.zeros_like(vt)])
    variance = singular**2
    total = variance.sum()
    explained = np.zeros(2)
    if total > 0:
        explained[: min(2, len(variance))] = variance[:2] / total
    coords = deltas @ basis.T
    residual = np.linalg.norm(deltas - coords @ basis, axis=1)
    directions = (from_vector(basis[0], final), from_vector(basis[1], final))
    return PcaPath(coords=coords, explained=explained, residual=residual, directions=directions)


def path_axes(coords: np.ndarray, resolution: int, margin: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Grid axes around a projected path (and the origin), with ``margin`` of its extent on each side."""
    axes = []
    for k in range(2):
        low, high = min(coords[:, k].min(), 0.0), max(coords[:, k].max(), 0.0)
        pad = margin * (high - low) if high > low else 1.0
        axes.append(np.linspace(low - pad, high + pad, resolution))
    return axes[0], axes[1]
