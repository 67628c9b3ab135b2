"""Plotly figures of the "Loss zoo" page, each with the sentence its ``alt`` text says and the numbers it draws.

Compared losses take the theme's series colours, dashes and markers
(:mod:`lossviz.figures.theme`); class regions use viridis, a perceptually
uniform scale, and each class a marker shape of its own.  No Streamlit, no
JAX: arrays in, figures and text out.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lossviz.figures import theme

# Up to ten classes (the upload limit's default), each its own shape: colour is never the only carrier.
CLASS_MARKERS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "star", "hexagon", "cross",
                 "pentagon", "x")


def _line(x, y, name: str, i: int, show_legend: bool = True) -> go.Scatter:
    """Compared series ``i``: the theme's colour, dash and marker (a marker every few points)."""
    return go.Scatter(x=x, y=y, name=name, mode="lines+markers", legendgroup=name, showlegend=show_legend,
                      line=theme.series_line(i, width=2.5), marker=theme.sparse_markers(i, len(x), every=20))


def _layout(fig: go.Figure, title: str, height: int, panels: bool = False, **kwargs) -> go.Figure:
    """Theme, title and a legend in a row above the plot (above the panel titles when ``panels``)."""
    fig.update_layout(**theme.layout(
        template=theme.TEMPLATE, title=dict(text=title, y=0.98, yanchor="top"), height=height,
        margin=theme.MARGIN | dict(t=100 if panels else 70),
        legend=dict(orientation="h", yanchor="bottom", y=1.08 if panels else 1.02, x=0), **kwargs))
    return fig


# --------------------------------------------------------------------------
# Loss and derivative along the margin or the residual
# --------------------------------------------------------------------------


def curves_figure(x: np.ndarray, values: np.ndarray, slopes: np.ndarray, titles: Sequence[str],
                  axis_label: str) -> go.Figure:
    """Loss (left) and its derivative (right) of each loss against ``axis_label``."""
    fig = make_subplots(1, 2, subplot_titles=("loss ℓ", "derivative dℓ/d" + axis_label.split()[-1]),
                        horizontal_spacing=0.08)
    for i, title in enumerate(titles):
        fig.add_trace(_line(x, values[i], title, i), 1, 1)
        fig.add_trace(_line(x, slopes[i], title, i, show_legend=False), 1, 2)
    fig.update_xaxes(title_text=axis_label, zeroline=True, zerolinecolor=theme.GREY)
    fig.update_yaxes(zeroline=True, zerolinecolor=theme.GREY)
    top = float(np.nanmax(values)) if values.size else 1.0
    fig.update_yaxes(range=[-0.05 * top, 1.05 * top], row=1, col=1)
    return _layout(fig, f"Loss and derivative against the {axis_label}", 440, panels=True)


def curves_alt(x: np.ndarray, values: np.ndarray, slopes: np.ndarray, titles: Sequence[str],
               axis_label: str) -> str:
    """The curves' takeaway: where each is largest, which reach zero, how steep each gets."""
    if not len(titles):
        return f"No loss chosen: an empty chart of loss against the {axis_label}."
    left, right = float(x[0]), float(x[-1])
    parts = [f"{t}: {values[i, 0]:.2f} at {left:g} and {values[i, -1]:.3g} at {right:g}, "
             f"steepest slope {np.max(np.abs(slopes[i])):.2f}" for i, t in enumerate(titles)]
    zero = [t for i, t in enumerate(titles) if np.any(values[i] == 0.0)]
    never = [t for i, t in enumerate(titles) if not np.any(values[i] == 0.0)]
    zero_text = (f" Exactly zero somewhere on the chart: {', '.join(zero)}." if zero else "") + (
        f" Never zero on the chart: {', '.join(never)}." if never else "")
    count = f"{len(titles)} loss{'es' if len(titles) > 1 else ''}"
    return (f"Loss (left) and derivative (right) against the {axis_label} for {count}. "
            + "; ".join(parts) + "." + zero_text)


def curves_data(x: np.ndarray, values: np.ndarray, slopes: np.ndarray, titles: Sequence[str],
                axis_label: str) -> dict[str, np.ndarray]:
    table = {axis_label: x}
    for i, title in enumerate(titles):
        table[f"{title}: ℓ"] = values[i]
        table[f"{title}: dℓ/dx"] = slopes[i]
    return table


# --------------------------------------------------------------------------
# Training histories
# --------------------------------------------------------------------------


def history_figure(losses: np.ndarray, titles: Sequence[str], total_steps: int) -> go.Figure:
    """Each member's own training loss per step (log scale: the losses have different units)."""
    fig = go.Figure()
    steps = np.arange(1, losses.shape[1] + 1)
    stride = max(1, len(steps) // 200)  # a few hundred points per line are plenty to draw
    for i, title in enumerate(titles):
        fig.add_trace(_line(steps[::stride], np.maximum(losses[i, ::stride], 1e-8), title, i))
    return _layout(fig, f"Training loss, step {losses.shape[1]} of {total_steps}", 340,
                   xaxis=dict(title="step", range=[0, total_steps]),
                   yaxis=dict(title="loss (each in its own units, log scale)", type="log", dtick="D2"))


def history_alt(losses: np.ndarray, titles: Sequence[str], total_steps: int) -> str:
    finals = "; ".join(f"{t} from {losses[i, 0]:.3g} to {losses[i, -1]:.3g}" for i, t in enumerate(titles))
    return f"Training loss per step, step {losses.shape[1]} of {total_steps}: {finals}."


def history_data(losses: np.ndarray, titles: Sequence[str]) -> dict[str, np.ndarray]:
    return {"step": np.arange(1, losses.shape[1] + 1), **{t: losses[i] for i, t in enumerate(titles)}}


# --------------------------------------------------------------------------
# Regression fit
# --------------------------------------------------------------------------


def regression_figure(x: np.ndarray, y: np.ndarray, outlier: np.ndarray, grid: np.ndarray, fitted: np.ndarray,
                      truth: np.ndarray, titles: Sequence[str], step: int) -> go.Figure:
    """The data (outliers as crosses), the true line (grey dots) and each loss's fitted curve."""
    fig = go.Figure([
        go.Scatter(x=x[~outlier], y=y[~outlier], mode="markers", name="data",
                   marker=dict(color=theme.GREY, size=6, symbol="circle-open")),
        go.Scatter(x=x[outlier], y=y[outlier], mode="markers", name="outliers",
                   marker=dict(color=theme.GREY, size=8, symbol="x-thin", line=dict(width=2, color=theme.GREY))),
        go.Scatter(x=grid, y=truth, mode="lines", name="true line", line=dict(color=theme.GREY, dash="dot")),
    ])
    for i, title in enumerate(titles):
        fig.add_trace(_line(grid, fitted[i], title, i))
    return _layout(fig, f"Fitted curves after {step} steps", 420, xaxis_title="x", yaxis_title="y")


def regression_data(grid: np.ndarray, fitted: np.ndarray, titles: Sequence[str]) -> dict[str, np.ndarray]:
    return {"x": grid, **{t: fitted[i] for i, t in enumerate(titles)}}


def regression_alt(summary: Sequence[dict], step: int, outliers: int, points: int) -> str:
    ranked = sorted(summary, key=lambda row: row["RMS distance from the true line"])
    parts = "; ".join(f"{r['loss']} {r['RMS distance from the true line']:.2f}" for r in ranked)
    return (f"{points} points, {outliers} of them outliers above the line, and each loss's fit after {step} "
            f"steps. RMS distance from the true line, closest first: {parts}.")


# --------------------------------------------------------------------------
# Classification: decision regions side by side
# --------------------------------------------------------------------------


def class_colours(classes: int) -> list[str]:
    """``classes`` colours sampled evenly from viridis."""
    if classes == 1:
        return plotly.colors.sample_colorscale(theme.SEQUENTIAL, [0.0])
    return plotly.colors.sample_colorscale(theme.SEQUENTIAL, [k / (classes - 1) for k in range(classes)])


def regions_figure(gx: np.ndarray, gy: np.ndarray, regions: np.ndarray, x: np.ndarray, labels: np.ndarray,
                   titles: Sequence[str], class_names: Sequence[str], step: int) -> go.Figure:
    """One panel per loss: its predicted class everywhere (viridis) and the points (marker = class)."""
    classes = len(class_names)
    colours = class_colours(classes)
    fig = make_subplots(1, max(1, len(titles)), subplot_titles=list(titles), shared_yaxes=True,
                        horizontal_spacing=0.02)
    scale = []  # a step per class: class k fills [k, k + 1) / classes of the scale
    for k, colour in enumerate(colours):
        scale += [[k / classes, colour], [(k + 1) / classes, colour]]
    for m in range(len(titles)):
        fig.add_trace(go.Heatmap(
            x=gx, y=gy, z=regions[m], zmin=-0.5, zmax=classes - 0.5, colorscale=scale, opacity=0.3,
            showscale=(m == len(titles) - 1), hoverinfo="skip",
            colorbar=dict(title="predicted class", tickvals=list(range(classes)), ticktext=list(class_names)),
        ), 1, m + 1)
        for k in range(classes):
            chosen = labels == k
            fig.add_trace(go.Scatter(
                x=x[chosen, 0], y=x[chosen, 1], mode="markers", name=f"class {class_names[k]}",
                legendgroup=f"class {k}", showlegend=(m == 0),
                marker=dict(size=6, color=colours[k], symbol=CLASS_MARKERS[k % len(CLASS_MARKERS)],
                            line=dict(width=1.2, color=theme.GREY)),  # 3:1 on pale tints and on dark
            ), 1, m + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return _layout(fig, f"Decision regions after {step} steps (same data, same start; only the loss differs)",
                   400, panels=True)


def regions_alt(summary: Sequence[dict], step: int, clean_known: bool) -> str:
    column = "accuracy (clean labels)" if clean_known else "accuracy (labels trained on)"
    ranked = sorted(summary, key=lambda row: -row[column])
    parts = "; ".join(f"{r['loss']} {r[column]:.1%}" for r in ranked)
    return (f"Decision regions of {len(summary)} classifiers after {step} steps, side by side. "
            f"{column.capitalize()}, best first: {parts}.")
