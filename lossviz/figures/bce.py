"""Plotly figures for the "BCE landscape" page: arrays in (from :mod:`lossviz.bce`), figures out.

Non-finite values (the ``inf`` edges of an unclipped surface) are drawn as
gaps, never as a number they are not.

Each figure is built in one go from a layout dict, with no ``make_subplots``
or ``add_hline``: those validate a whole subplot grid per call and cost tens
of milliseconds each, while the page must redraw within 150 ms.  Colours,
margins and fonts come from :mod:`lossviz.figures.theme`.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lossviz.figures import theme
from lossviz.lessons.bce import LogitSlice, RawSlice, Slice, Surface
from lossviz.lessons.bce_mnist import FloorStats

LOG_FLOOR = 1e-3
"""Below this a log colour scale shows one colour: BCE is exactly 0 only at two corners."""
VALLEY = dict(color=theme.VERMILLION, width=5)
BCE_LINE, MSE_LINE = theme.series_line(0), theme.series_line(1)


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.nan)


def _hline(y: float, xref: str = "x", yref: str = "y", **line) -> dict:
    return dict(type="line", xref=f"{xref} domain", yref=yref, x0=0, x1=1, y0=y, y1=y,
                line=dict(color=theme.GREY, width=1) | line)


def _label(text: str, x: float, y: float, xref: str = "x domain", yref: str = "y", **kwargs) -> dict:
    return dict(text=text, x=x, y=y, xref=xref, yref=yref, showarrow=False, **kwargs)


def _two_rows(split: float = 0.45, gap: float = 0.08) -> dict:
    """Two stacked plots sharing the x axis: x/y on top, x2/y2 below."""
    return dict(
        xaxis=dict(anchor="y", matches="x2", showticklabels=False),
        yaxis=dict(domain=[split + gap / 2, 1.0]),
        xaxis2=dict(anchor="y2"),
        yaxis2=dict(domain=[0.0, split - gap / 2]),
    )


def _title(text: str) -> dict:
    return dict(text=text, x=0, xanchor="left")


def _colour(bce: np.ndarray, log_colour: bool) -> tuple[np.ndarray, dict]:
    """Colour values and colour-bar settings: log10 of BCE with readable ticks, or BCE itself."""
    finite = _finite_or_nan(bce)
    if not log_colour:
        return finite, dict(title=dict(text="BCE"))
    ticks = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0])
    return np.log10(np.maximum(finite, LOG_FLOOR)), dict(
        title=dict(text="BCE (log)"), tickvals=np.log10(ticks).tolist(), ticktext=[f"{t:g}" for t in ticks])


def _edge_note(surface: Surface) -> str:
    infinite = int(np.sum(~np.isfinite(surface.bce)))
    if surface.clipped:
        return f"edges clipped at −log ε = {np.nanmax(surface.bce):.1f}"
    return f"unclipped: {infinite} edge points are ∞ (gaps)"


def surface_figure(surface: Surface, valley_y: np.ndarray, valley_h: np.ndarray, log_colour: bool) -> go.Figure:
    """BCE(y, p) as a 3-D surface, the valley ``p = y`` at height ``H(y)`` drawn on it."""
    colour, colorbar = _colour(surface.bce, log_colour)
    data = [
        go.Surface(x=surface.p, y=surface.y, z=_finite_or_nan(surface.bce), surfacecolor=colour,
                   colorscale=theme.SEQUENTIAL, colorbar=colorbar, name="BCE",
                   hovertemplate="p = %{x:.3f}<br>y = %{y:.3f}<br>BCE = %{z:.4f}<extra></extra>"),
        go.Scatter3d(x=valley_y, y=valley_y, z=valley_h, mode="lines", line=VALLEY,
                     name="valley p = y, height H(y)"),
    ]
    return go.Figure(data=data, layout=theme.layout(
        height=520, margin=theme.MARGIN_3D,
        title=_title(f"BCE(y, p), {surface.bce.shape[0]}×{surface.bce.shape[1]} grid, {_edge_note(surface)}"),
        legend=dict(x=0, y=1), uirevision="surface",
        scene=dict(xaxis=dict(title=dict(text="prediction p")), yaxis=dict(title=dict(text="target y")),
                   zaxis=dict(title=dict(text="BCE (nats)")), camera=dict(eye=dict(x=1.6, y=-1.6, z=0.9))),
    ))


def heatmap_figure(surface: Surface, log_colour: bool) -> go.Figure:
    """BCE(y, p) as a heat map with the valley ``p = y`` drawn on it (a slice's target redraws the slice alone)."""
    colour, colorbar = _colour(surface.bce, log_colour)
    data = [
        go.Heatmap(x=surface.p, y=surface.y, z=colour, colorscale=theme.SEQUENTIAL, colorbar=colorbar,
                   customdata=_finite_or_nan(surface.bce), name="BCE",
                   hovertemplate="p = %{x:.3f}<br>y = %{y:.3f}<br>BCE = %{customdata:.4f}<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=VALLEY, name="valley p = y"),
    ]
    return go.Figure(data=data, layout=theme.layout(
        height=520, title=_title(f"Heat map ({'log' if log_colour else 'linear'} colour)"),
        xaxis=dict(title=dict(text="prediction p"), range=[0, 1], constrain="domain"),
        yaxis=dict(title=dict(text="target y"), range=[0, 1], scaleanchor="x"),
        legend=dict(orientation="h", y=-0.12),
    ))


def slice_figure(slice_: Slice, show_excess: bool) -> go.Figure:
    """BCE(y, ·) and MSE against p, their minima at p = y, and both derivatives below."""
    y, p = slice_.y, slice_.p
    data = [
        go.Scatter(x=p, y=_finite_or_nan(slice_.bce), name="BCE(y, p)", line=BCE_LINE),
        go.Scatter(x=p, y=slice_.mse, name="MSE (p − y)²", line=MSE_LINE),
    ]
    if show_excess:
        data.append(go.Scatter(x=p, y=_finite_or_nan(slice_.excess), name="BCE − H(y) = KL",
                               line=dict(color=theme.BLUISH_GREEN, dash="dot")))
    data += [
        go.Scatter(x=[y], y=[slice_.floor], mode="markers+text", name="BCE minimum",
                   marker=dict(size=12, color=theme.BLUE, symbol="diamond"),
                   text=[f"p = y = {y:.2f}, H(y) = {slice_.floor:.3f}"], textposition="top center"),
        go.Scatter(x=[y], y=[0.0], mode="markers", name="MSE minimum (0)",
                   marker=dict(size=10, color=theme.VERMILLION, symbol="x")),
        go.Scatter(x=p, y=_finite_or_nan(slice_.dbce), name="dBCE/dp = (p − y)/(p(1 − p))",
                   line=BCE_LINE, xaxis="x2", yaxis="y2"),
        go.Scatter(x=p, y=slice_.dmse, name="dMSE/dp = 2(p − y)", line=MSE_LINE,
                   xaxis="x2", yaxis="y2"),
        go.Scatter(x=[y], y=[0.0], mode="markers", name="derivative = 0 at p = y",
                   marker=dict(size=10, color=theme.GREY), xaxis="x2", yaxis="y2"),
    ]
    layout = _two_rows(split=0.4)
    layout["yaxis"] |= dict(title=dict(text="loss (nats)"), range=[-0.1, 4.0])
    layout["yaxis2"] |= dict(title=dict(text="slope"), range=[-10, 10])
    layout["xaxis2"] |= dict(title=dict(text="prediction p"), range=[0, 1])
    return go.Figure(data=data, layout=theme.layout(**layout) | dict(
        height=620, title=_title(f"Loss against p for target y = {y:.2f}; derivative below"),
        shapes=[_hline(0.0, "x2", "y2")],
    ))


def floors_figure(stats: FloorStats) -> go.Figure:
    """Histogram of per-image floors (mean binary entropy of each image's pixels)."""
    centres = 0.5 * (stats.hist_edges[:-1] + stats.hist_edges[1:])
    return go.Figure(
        data=[go.Bar(x=centres, y=stats.hist_counts, width=np.diff(stats.hist_edges), marker_color=theme.BLUE,
                     name="images", hovertemplate="floor ≈ %{x:.4f}<br>%{y} images<extra></extra>")],
        layout=theme.layout(
            height=340, bargap=0,
            title=_title(f"Per-image BCE floor, {stats.images:,} training images"),
            xaxis=dict(title=dict(text="image floor: mean H(x) over its pixels (nats)")),
            yaxis=dict(title=dict(text="images")),
            shapes=[dict(type="line", xref="x", yref="y domain", x0=stats.mean_floor, x1=stats.mean_floor,
                         y0=0, y1=1, line=dict(color=theme.VERMILLION, dash="dash"))],
            annotations=[_label(f"mean {stats.mean_floor:.4f} nats/pixel", stats.mean_floor, 1.0,
                                xref="x", yref="y domain", xanchor="left", yanchor="top")],
        ))


def digits_figure(target: np.ndarray, softmax_output: np.ndarray | None, labels: dict[str, str]) -> go.Figure:
    """The digit, the sigmoid's best (the digit itself), and the softmax's best, same [0, 1] scale.

    A fourth panel shows the softmax output stretched to its own maximum, to
    show its shape: the shape is right, the scale is 1/100 of what it must be.
    """
    image = np.asarray(target, np.float64).reshape(28, 28)
    panels = [("target", image, 1.0), ("sigmoid best", image, 1.0)]
    if softmax_output is not None:
        soft = np.asarray(softmax_output, np.float64).reshape(28, 28)
        panels += [("softmax best", soft, 1.0), ("softmax best, stretched", soft, max(float(soft.max()), 1e-12))]
    width, gap = 1.0 / len(panels), 0.02
    data, layout, annotations = [], {}, []
    for i, (name, values, top) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        data.append(go.Heatmap(z=values[::-1], zmin=0.0, zmax=top, colorscale=theme.INK, showscale=False,
                               name=name, xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                               hovertemplate=name + ": %{z:.4f}<extra></extra>"))
        domain = [i * width + gap / 2, (i + 1) * width - gap / 2]
        layout[f"xaxis{suffix}"] = dict(domain=domain, visible=False, constrain="domain", anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = dict(visible=False, scaleanchor=f"x{suffix}", anchor=f"x{suffix}")
        annotations.append(_label(labels.get(name, name), sum(domain) / 2, 1.0, xref="paper", yref="paper",
                                  xanchor="center", yanchor="bottom"))
    return go.Figure(data=data, layout=theme.layout(**layout) | dict(height=300, margin=dict(l=0, r=0, t=40, b=0),
                                                                     annotations=annotations))


def fit_curve_figure(losses: np.ndarray, simplex_bound: float, floor: float) -> go.Figure:
    """Mean BCE of the softmax output during the fit, the simplex bound and the digit's floor."""
    steps = np.arange(1, len(losses) + 1)
    return go.Figure(
        data=[go.Scatter(x=steps, y=losses, mode="lines", name="softmax fit (Adam)", line=theme.series_line(0))],
        layout=theme.layout(
            height=300, title=_title("Mean BCE of softmax(z) while Adam fits the 784 logits"),
            xaxis=dict(title=dict(text="step")),
            yaxis=dict(title=dict(text="mean BCE (nats, log)"), type="log"),
            shapes=[_hline(simplex_bound, color=theme.VERMILLION, dash="dash"),
                    _hline(floor, color=theme.BLUISH_GREEN, dash="dot")],
            annotations=[
                _label(f"simplex bound {simplex_bound:.4f}", 1.0, np.log10(simplex_bound), xanchor="right",
                       yanchor="bottom"),
                _label(f"floor (sigmoid best) {floor:.4f}", 1.0, np.log10(floor), xanchor="right",
                       yanchor="top"),
            ],
        ))


def raw_figure(raw: RawSlice) -> go.Figure:
    """BCE(y, p) for a raw 0–255 target as p → 1: a straight dive on a log axis of 1 − p."""
    return go.Figure(
        data=[
            go.Scatter(x=raw.one_minus_p, y=_finite_or_nan(raw.bce), mode="lines", name=f"BCE({raw.y:g}, p)",
                       line=theme.series_line(0),
                       hovertemplate="1 − p = %{x:.1e}<br>BCE = %{y:.1f}<extra></extra>"),
            go.Scatter(x=[raw.one_minus_p[-1]], y=[raw.bce[-1]], mode="markers+text",
                       marker=dict(size=10, color=theme.VERMILLION), name="Keras's clip, p = 1 − ε",
                       text=[f"{raw.bce[-1]:,.0f} at p = 1 − ε"], textposition="middle left"),
        ],
        layout=theme.layout(
            height=340, title=_title(f"Raw target y = {raw.y:g}: BCE as p → 1"),
            xaxis=dict(title=dict(text="1 − p (log scale; p grows to the right)"), type="log",
                       autorange="reversed"),
            yaxis=dict(title=dict(text="BCE (nats)")),
        ))


def logit_figure(logit: LogitSlice) -> go.Figure:
    """BCE of σ(z) against y along the logit z (stable form) and its gradient σ(z) − y."""
    data = [
        go.Scatter(x=logit.z, y=logit.bce, name="BCE = max(z, 0) − zy + log(1 + e^−|z|)", line=theme.series_line(0)),
        go.Scatter(x=logit.z, y=logit.grad, name="gradient σ(z) − y", line=theme.series_line(1),
                   xaxis="x2", yaxis="y2"),
    ]
    if logit.z_star is not None and abs(logit.z_star) <= logit.z[-1]:
        data += [
            go.Scatter(x=[logit.z_star], y=[logit.floor], mode="markers", name="minimum z* = logit(y)",
                       marker=dict(size=12, color=theme.GREY, symbol="diamond")),
            go.Scatter(x=[logit.z_star], y=[0.0], mode="markers", showlegend=False,
                       marker=dict(size=10, color=theme.GREY), xaxis="x2", yaxis="y2"),
        ]
    layout = _two_rows(split=0.45)
    layout["yaxis"] |= dict(title=dict(text="BCE (nats)"))
    layout["yaxis2"] |= dict(title=dict(text="gradient"))
    layout["xaxis2"] |= dict(title=dict(text="logit z"))
    return go.Figure(data=data, layout=theme.layout(**layout) | dict(
        height=480, title=_title(f"BCE(y = {logit.y:.2f}, σ(z)) along the logit; gradient below"),
        shapes=[_hline(0.0, "x2", "y2"), _hline(logit.floor, color=theme.BLUISH_GREEN, dash="dot")],
        annotations=[_label(f"H(y) = {logit.floor:.3f}", 1.0, logit.floor, xanchor="right", yanchor="bottom")],
    ))
