"""Plotly figures for the "BCE landscape" page: arrays in (from :mod:`lossviz.bce`), figures out.

Non-finite values (the ``inf`` edges of an unclipped surface) are drawn as
gaps, never as a number they are not.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lossviz.bce import FloorStats, LogitSlice, RawSlice, Slice, Surface

TEMPLATE = "plotly_white"
LOG_FLOOR = 1e-3
"""Below this a log colour scale shows one colour: BCE is exactly 0 only at two corners."""
VALLEY = dict(color="#d62728", width=5)
SLICE_LINE = dict(color="#1f77b4", width=4, dash="dash")


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def _colour(bce: np.ndarray, log_colour: bool) -> tuple[np.ndarray, dict]:
    """Colour values and colour-bar settings: log10 of BCE with readable ticks, or BCE itself."""
    finite = _finite_or_nan(bce)
    if not log_colour:
        return finite, dict(title="BCE")
    ticks = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    return np.log10(np.maximum(finite, LOG_FLOOR)), dict(
        title="BCE (log)", tickvals=np.log10(ticks).tolist(), ticktext=[f"{t:g}" for t in ticks])


def _edge_note(surface: Surface) -> str:
    infinite = int(np.sum(~np.isfinite(surface.bce)))
    if surface.clipped:
        return f"edges clipped at −log ε = {np.nanmax(surface.bce):.1f}"
    return f"unclipped: {infinite} edge points are ∞ (gaps)"


def surface_figure(surface: Surface, valley_y: np.ndarray, valley_h: np.ndarray,
                   log_colour: bool, slice_y: float | None = None) -> go.Figure:
    """BCE(y, p) as a 3-D surface, the valley ``p = y`` at height ``H(y)`` drawn on it."""
    colour, colorbar = _colour(surface.bce, log_colour)
    fig = go.Figure(go.Surface(
        x=surface.p, y=surface.y, z=_finite_or_nan(surface.bce), surfacecolor=colour,
        colorscale="Viridis", colorbar=colorbar, name="BCE",
        hovertemplate="p = %{x:.3f}<br>y = %{y:.3f}<br>BCE = %{z:.4f}<extra></extra>",
    ))
    fig.add_trace(go.Scatter3d(x=valley_y, y=valley_y, z=valley_h, mode="lines", line=VALLEY,
                               name="valley p = y, height H(y)"))
    if slice_y is not None:
        row = int(np.argmin(np.abs(surface.y - slice_y)))
        fig.add_trace(go.Scatter3d(x=surface.p, y=np.full_like(surface.p, surface.y[row]),
                                   z=_finite_or_nan(surface.bce[row]), mode="lines", line=SLICE_LINE,
                                   name=f"slice y = {surface.y[row]:.2f}"))
    fig.update_layout(
        template=TEMPLATE, height=520, margin=dict(l=0, r=0, t=40, b=0),
        title=f"BCE(y, p), {surface.bce.shape[0]}×{surface.bce.shape[1]} grid, {_edge_note(surface)}",
        legend=dict(x=0, y=1), uirevision="surface",
        scene=dict(xaxis_title="prediction p", yaxis_title="target y", zaxis_title="BCE (nats)",
                   camera=dict(eye=dict(x=1.6, y=-1.6, z=0.9))),
    )
    return fig


def heatmap_figure(surface: Surface, log_colour: bool, slice_y: float | None = None) -> go.Figure:
    """BCE(y, p) as a heat map with the valley ``p = y`` and the chosen slice drawn on it."""
    colour, colorbar = _colour(surface.bce, log_colour)
    fig = go.Figure(go.Heatmap(
        x=surface.p, y=surface.y, z=colour, colorscale="Viridis", colorbar=colorbar,
        customdata=_finite_or_nan(surface.bce), name="BCE",
        hovertemplate="p = %{x:.3f}<br>y = %{y:.3f}<br>BCE = %{customdata:.4f}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=VALLEY, name="valley p = y"))
    if slice_y is not None:
        fig.add_trace(go.Scatter(x=[0, 1], y=[slice_y, slice_y], mode="lines", line=SLICE_LINE,
                                 name=f"slice y = {slice_y:.2f}"))
    fig.update_layout(
        template=TEMPLATE, height=520, margin=dict(l=10, r=10, t=40, b=10),
        title=f"Heat map ({'log' if log_colour else 'linear'} colour)",
        xaxis=dict(title="prediction p", range=[0, 1], constrain="domain"),
        yaxis=dict(title="target y", range=[0, 1], scaleanchor="x"),
        legend=dict(orientation="h", y=-0.12),
    )
    return fig


def slice_figure(slice_: Slice, show_excess: bool) -> go.Figure:
    """BCE(y, ·) and MSE against p, their minima at p = y, and both derivatives below."""
    y, p = slice_.y, slice_.p
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4],
                        subplot_titles=(f"Loss against p for target y = {y:.2f}", "Derivative in p"))
    fig.add_trace(go.Scatter(x=p, y=_finite_or_nan(slice_.bce), name="BCE(y, p)", line=dict(color="#1f77b4")),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=p, y=slice_.mse, name="MSE (p − y)²", line=dict(color="#ff7f0e")), row=1, col=1)
    if show_excess:
        fig.add_trace(go.Scatter(x=p, y=_finite_or_nan(slice_.excess), name="BCE − H(y) = KL",
                                 line=dict(color="#2ca02c", dash="dot")), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[y], y=[slice_.floor], mode="markers+text", name="BCE minimum",
        marker=dict(size=12, color="#1f77b4", symbol="diamond"),
        text=[f"p = y = {y:.2f}, H(y) = {slice_.floor:.3f}"], textposition="top center",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(x=[y], y=[0.0], mode="markers", name="MSE minimum (0)",
                             marker=dict(size=10, color="#ff7f0e", symbol="x")), row=1, col=1)
    fig.add_trace(go.Scatter(x=p, y=_finite_or_nan(slice_.dbce), name="dBCE/dp = (p − y)/(p(1 − p))",
                             line=dict(color="#1f77b4")), row=2, col=1)
    fig.add_trace(go.Scatter(x=p, y=slice_.dmse, name="dMSE/dp = 2(p − y)",
                             line=dict(color="#ff7f0e")), row=2, col=1)
    fig.add_trace(go.Scatter(x=[y], y=[0.0], mode="markers", name="derivative = 0 at p = y",
                             marker=dict(size=10, color="#d62728")), row=2, col=1)
    fig.add_hline(y=0, line=dict(color="grey", width=1), row=2, col=1)
    fig.update_yaxes(title_text="loss (nats)", range=[-0.1, 4.0], row=1, col=1)
    fig.update_yaxes(title_text="slope", range=[-10, 10], row=2, col=1)
    fig.update_xaxes(title_text="prediction p", range=[0, 1], row=2, col=1)
    fig.update_layout(template=TEMPLATE, height=620, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def floors_figure(stats: FloorStats) -> go.Figure:
    """Histogram of per-image floors (mean binary entropy of each image's pixels)."""
    centres = 0.5 * (stats.hist_edges[:-1] + stats.hist_edges[1:])
    fig = go.Figure(go.Bar(x=centres, y=stats.hist_counts, width=np.diff(stats.hist_edges),
                           marker_color="#1f77b4", name="images",
                           hovertemplate="floor ≈ %{x:.4f}<br>%{y} images<extra></extra>"))
    fig.add_vline(x=stats.mean_floor, line=dict(color="#d62728", dash="dash"),
                  annotation_text=f"mean {stats.mean_floor:.4f} nats/pixel")
    fig.update_layout(template=TEMPLATE, height=340, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"Per-image BCE floor, {stats.images:,} training images",
                      xaxis_title="image floor: mean H(x) over its pixels (nats)", yaxis_title="images",
                      bargap=0)
    return fig


def digits_figure(target: np.ndarray, softmax_output: np.ndarray | None, labels: dict[str, str]) -> go.Figure:
    """The digit, the sigmoid's best (the digit itself), and the softmax's best, same [0, 1] scale.

    A fourth panel shows the softmax output stretched to its own maximum, to
    show its shape: the shape is right, the scale is 1/100 of what it must be.
    """
    image = np.asarray(target, np.float64).reshape(28, 28)
    soft = None if softmax_output is None else np.asarray(softmax_output, np.float64).reshape(28, 28)
    panels = [("target", image, 1.0), ("sigmoid best", image, 1.0)]
    if soft is not None:
        panels += [("softmax best", soft, 1.0), ("softmax best, stretched", soft, max(float(soft.max()), 1e-12))]
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.02,
                        subplot_titles=[labels.get(name, name) for name, _, _ in panels])
    for col, (name, values, top) in enumerate(panels, start=1):
        fig.add_trace(go.Heatmap(z=values[::-1], zmin=0.0, zmax=top, colorscale="Greys", reversescale=True,
                                 showscale=False, name=name,
                                 hovertemplate=name + ": %{z:.4f}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x")
    for col in range(2, len(panels) + 1):
        fig.update_yaxes(scaleanchor=f"x{col}", row=1, col=col)
    fig.update_layout(template=TEMPLATE, height=300, margin=dict(l=0, r=0, t=60, b=0))
    return fig


def fit_curve_figure(losses: np.ndarray, simplex_bound: float, floor: float) -> go.Figure:
    """Mean BCE of the softmax output during the fit, the simplex bound and the digit's floor."""
    steps = np.arange(1, len(losses) + 1)
    fig = go.Figure(go.Scatter(x=steps, y=losses, mode="lines", name="softmax fit (Adam)"))
    fig.add_hline(y=simplex_bound, line=dict(color="#d62728", dash="dash"),
                  annotation_text=f"simplex bound {simplex_bound:.4f}", annotation_position="top right")
    fig.add_hline(y=floor, line=dict(color="#2ca02c", dash="dot"),
                  annotation_text=f"floor (sigmoid best) {floor:.4f}", annotation_position="bottom right")
    fig.update_layout(template=TEMPLATE, height=300, margin=dict(l=10, r=10, t=40, b=10),
                      title="Mean BCE of softmax(z) while Adam fits the 784 logits",
                      xaxis_title="step", yaxis=dict(title="mean BCE (nats, log)", type="log"))
    return fig


def raw_figure(raw: RawSlice) -> go.Figure:
    """BCE(y, p) for a raw 0–255 target as p → 1: a straight dive on a log axis of 1 − p."""
    fig = go.Figure(go.Scatter(x=raw.one_minus_p, y=_finite_or_nan(raw.bce), mode="lines",
                               name=f"BCE({raw.y:g}, p)",
                               hovertemplate="1 − p = %{x:.1e}<br>BCE = %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[raw.one_minus_p[-1]], y=[raw.bce[-1]], mode="markers+text",
                             marker=dict(size=10, color="#d62728"), name="Keras's clip, p = 1 − ε",
                             text=[f"{raw.bce[-1]:.0f} at p = 1 − ε"], textposition="middle left"))
    fig.update_layout(template=TEMPLATE, height=340, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"Raw target y = {raw.y:g}: BCE keeps falling as p → 1",
                      xaxis=dict(title="1 − p (log scale; p grows to the right)", type="log", autorange="reversed"),
                      yaxis_title="BCE (nats)")
    return fig


def logit_figure(logit: LogitSlice) -> go.Figure:
    """BCE of σ(z) against y along the logit z (stable form) and its gradient σ(z) − y."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=(f"BCE(y = {logit.y:.2f}, σ(z))", "gradient σ(z) − y"))
    fig.add_trace(go.Scatter(x=logit.z, y=logit.bce, name="max(z, 0) − zy + log(1 + e^−|z|)"), row=1, col=1)
    fig.add_trace(go.Scatter(x=logit.z, y=logit.grad, name="σ(z) − y", line=dict(color="#ff7f0e")), row=2, col=1)
    fig.add_hline(y=0, line=dict(color="grey", width=1), row=2, col=1)
    fig.add_hline(y=logit.floor, line=dict(color="#2ca02c", dash="dot"), row=1, col=1,
                  annotation_text=f"H(y) = {logit.floor:.3f}")
    if logit.z_star is not None and abs(logit.z_star) <= logit.z[-1]:
        fig.add_trace(go.Scatter(x=[logit.z_star], y=[logit.floor], mode="markers", name="minimum z* = logit(y)",
                                 marker=dict(size=12, color="#d62728", symbol="diamond")), row=1, col=1)
        fig.add_trace(go.Scatter(x=[logit.z_star], y=[0.0], mode="markers", showlegend=False,
                                 marker=dict(size=10, color="#d62728")), row=2, col=1)
    fig.update_xaxes(title_text="logit z", row=2, col=1)
    fig.update_yaxes(title_text="nats", row=1, col=1)
    fig.update_layout(template=TEMPLATE, height=480, margin=dict(l=10, r=10, t=40, b=10))
    return fig
