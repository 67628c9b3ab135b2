"""Plotly figures for the Gradients page: arrays in, figures out, no Streamlit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lossviz.figures import player, theme
from lossviz.lessons.gradients import COST_LABELS, COSTS, NeuronHistory
from lossviz.lessons.neuron_curves import GradientCurves
from lossviz.lessons.softmax_gradients import SOFTMAX_COST_LABELS, SOFTMAX_COSTS

COLORS = {"quadratic": theme.VERMILLION, "cross_entropy": theme.BLUE, "sigma": theme.BLUISH_GREEN,
          "sigma_prime": theme.REDDISH_PURPLE, "log_likelihood": theme.BLUE, "mse": theme.VERMILLION}
DASHES = {"quadratic": "dash", "cross_entropy": "solid", "log_likelihood": "solid", "mse": "dash"}
"""Compared costs differ in dash as well as colour (the theme's policy)."""
MARKERS = {"quadratic": "square", "cross_entropy": "circle", "log_likelihood": "circle", "mse": "square"}
SATURATED_FILL = theme.translucent(theme.VERMILLION, 0.10)
SATURATED_SWATCH = theme.translucent(theme.VERMILLION, 0.35)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def gradient_curves_figure(curves: GradientCurves, axis: str, saturation_bound: float, threshold: float,
                           marked: dict[float, float], x: float, y: float) -> go.Figure:
    """σ, σ′ and ∂C/∂w of both costs over z (or over a = σ(z)), the saturated region shaded.

    ``marked`` maps an output a to its logit z; each gets a dotted line and
    markers on the curves.  ``saturation_bound`` is the z* with σ′(z*) = threshold.
    """
    along = curves.z if axis == "z" else curves.a
    lo, hi = float(along.min()), float(along.max())
    edge = saturation_bound if axis == "z" else float(_sigmoid(saturation_bound))
    low_edge = -saturation_bound if axis == "z" else 1.0 - edge
    fig = go.Figure()
    for x0, x1 in ((lo, low_edge), (edge, hi)):
        if x1 > x0:
            fig.add_vrect(x0=x0, x1=x1, fillcolor=SATURATED_FILL, line_width=0, layer="below")
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"saturated: σ′(z) < {threshold:g}",
                             marker=dict(symbol="square", size=12, color=SATURATED_SWATCH)))
    traces = [("σ(z)", curves.a, COLORS["sigma"], "dot"), ("σ′(z)", curves.sigma_prime, COLORS["sigma_prime"], "dot")]
    traces += [(f"∂C/∂w {COST_LABELS[c]}", curves.dw[i], COLORS[c], DASHES[c]) for i, c in enumerate(COSTS)]
    for name, values, color, dash in traces:
        fig.add_trace(go.Scatter(x=along, y=values, mode="lines", name=name, line=dict(color=color, dash=dash)))
    for a_mark, z_mark in marked.items():
        where = z_mark if axis == "z" else a_mark
        fig.add_vline(x=where, line=dict(color=theme.GREY, dash="dot", width=1),
                      annotation_text=f"a = {a_mark:g}", annotation_position="top")
        index = int(np.argmin(np.abs(along - where)))
        fig.add_trace(go.Scatter(
            x=[where] * 4, y=[curves.a[index], curves.sigma_prime[index], curves.dw[0, index], curves.dw[1, index]],
            mode="markers", showlegend=False, marker=dict(size=9, color=theme.GREY, symbol="circle-open", line=dict(width=2)),
            hovertemplate=f"a = {a_mark:g}<br>value %{{y:.4f}}<extra></extra>",
        ))
    fig.update_layout(**theme.layout(
        height=420, legend=dict(orientation="h", y=-0.18),
        title=f"Gradients of a sigmoid neuron (x = {x:g}, y = {y:g}) from jax.grad",
        xaxis_title="logit z = wx + b" if axis == "z" else "output a = σ(z)", yaxis_title="value",
    ))
    return fig


def _epoch_frames(history: NeuronHistory, epoch: int) -> tuple[np.ndarray, int]:
    """The epochs that are frames (at most :data:`player.MAX_FRAMES`, ``epoch`` among them) and ``epoch``'s frame."""
    epochs = player.frame_indices(history.epochs + 1, keep=epoch)
    return epochs, int(np.searchsorted(epochs, epoch))


def training_figure(history: NeuronHistory, epoch: int, quantity: str) -> go.Figure:
    """Output a (``quantity="a"``) or cost (``"cost"``) per epoch for both costs, a marker at ``epoch``.

    The markers play through the epochs in the browser (:mod:`lossviz.figures.player`), opening at ``epoch``.
    """
    values = history.a if quantity == "a" else history.cost
    epochs = np.arange(history.epochs + 1)
    fig = go.Figure()
    for i, cost in enumerate(COSTS):
        fig.add_trace(go.Scatter(x=epochs, y=values[i], mode="lines", name=COST_LABELS[cost],
                                 line=dict(color=COLORS[cost], dash=DASHES[cost])))
    for i, cost in enumerate(COSTS):
        fig.add_trace(go.Scatter(
            x=[epoch], y=[values[i, epoch]], mode="markers", showlegend=False,
            marker=dict(size=11, color=COLORS[cost], symbol=MARKERS[cost], line=dict(width=2, color=theme.BLACK)),
            hovertemplate=f"{COST_LABELS[cost]}, epoch %{{x}}: %{{y:.4f}}<extra></extra>",
        ))
    fig.add_vline(x=epoch, line=dict(color=theme.GREY, dash="dot", width=1))
    title = "Output a per epoch" if quantity == "a" else "Cost per epoch (each under its own cost)"
    fig.update_layout(**theme.layout(height=330, title=title, xaxis_title="epoch",
                                     yaxis_title="a = σ(wx + b)" if quantity == "a" else "cost",
                                     legend=dict(orientation="h", y=-0.25)))
    if quantity == "a":
        fig.update_yaxes(range=[-0.02, 1.02])
    shown, start = _epoch_frames(history, epoch)
    markers = [len(COSTS) + i for i in range(len(COSTS))]
    frames = [dict(traces=markers, data=[dict(x=[int(e)], y=player.rounded(values[i, e], 6)) for i in range(len(COSTS))],
                   layout=dict(shapes=[dict(x0=int(e), x1=int(e))])) for e in shown]
    return player.add_player(fig, frames, [str(e) for e in shown], start)


def path_figure(w_axis, b_axis, surfaces, history: NeuronHistory, epoch: int) -> go.Figure:
    """Each cost's contour plot over (w, b) with its own training path and a marker at ``epoch``.

    The markers play through the epochs in the browser (:mod:`lossviz.figures.player`), opening at ``epoch``.
    """
    fig = make_subplots(rows=1, cols=len(COSTS), horizontal_spacing=0.08,
                        subplot_titles=[f"{COST_LABELS[c]} cost C(w, b)" for c in COSTS])
    markers = []
    for i, cost in enumerate(COSTS):
        col = i + 1
        fig.add_trace(go.Contour(
            # Twelve labelled levels: each label costs the browser text measuring (25 took 0.17 s more to draw).
            x=w_axis, y=b_axis, z=surfaces[i], ncontours=12, colorscale=theme.SEQUENTIAL_LIGHT, opacity=0.22,
            showscale=False, contours=dict(showlabels=True, labelfont=dict(size=11, color=theme.GREY)),
            hovertemplate="w %{x:.2f}<br>b %{y:.2f}<br>C %{z:.4f}<extra></extra>", name=COST_LABELS[cost],
            showlegend=False,
        ), row=1, col=col)
        fig.add_trace(go.Scatter(x=history.w[i], y=history.b[i], mode="lines", name=f"path, {COST_LABELS[cost]}",
                                 line=dict(color=COLORS[cost], dash=DASHES[cost], width=3)), row=1, col=col)
        fig.add_trace(go.Scatter(x=history.w[i, :1], y=history.b[i, :1], mode="markers", showlegend=False,
                                 marker=dict(size=9, color="white", line=dict(width=2, color=COLORS[cost])),
                                 hovertemplate="start w %{x:.2f}, b %{y:.2f}<extra></extra>"), row=1, col=col)
        markers.append(len(fig.data))
        fig.add_trace(go.Scatter(
            x=[history.w[i, epoch]], y=[history.b[i, epoch]], text=[epoch], mode="markers", showlegend=False,
            marker=dict(size=13, color=COLORS[cost], symbol="diamond", line=dict(width=2, color=theme.BLACK)),
            hovertemplate="epoch %{text}: w %{x:.3f}, b %{y:.3f}<extra></extra>",
        ), row=1, col=col)
        fig.update_xaxes(title_text="w", row=1, col=col)
        fig.update_yaxes(title_text="b", row=1, col=col)
    fig.update_layout(**theme.layout(height=420, legend=dict(orientation="h", y=-0.2)),
                      title=_path_title(epoch))
    shown, start = _epoch_frames(history, epoch)
    frames = [dict(traces=markers, layout=dict(title=dict(text=_path_title(e))),
                   data=[dict(x=player.rounded(history.w[i, e], 5), y=player.rounded(history.b[i, e], 5), text=[int(e)])
                         for i in range(len(COSTS))]) for e in shown]
    return player.add_player(fig, frames, [str(e) for e in shown], start, clearance=24)


def _path_title(epoch: int) -> str:
    return f"Paths over the (w, b) plane; marker at epoch {epoch}"


def softmax_figure(curves, classes: int, dominant_logit: float, confident_level: float = 0.9) -> go.Figure:
    """∂C/∂z of the correct class (solid) and the dominant wrong class (dashed) for both softmax costs.

    The region where the dominant wrong class's probability exceeds
    ``confident_level`` (the model is confidently wrong) is shaded.
    """
    zc = curves.correct_logit
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    confident = zc[curves.probabilities[:, 1] > confident_level]
    if confident.size:
        # add_vrect skips figures with a secondary y axis, so the band is a plain paper-high shape.
        fig.add_shape(type="rect", xref="x", yref="paper", x0=float(confident.min()), x1=float(confident.max()),
                      y0=0, y1=1, fillcolor=SATURATED_FILL, line_width=0, layer="below")
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers",
                                 name=f"confidently wrong: p(wrong) > {confident_level:g}",
                                 marker=dict(symbol="square", size=12, color=SATURATED_SWATCH)))
    for i, cost in enumerate(SOFTMAX_COSTS):
        label = SOFTMAX_COST_LABELS[cost]
        # Correct class solid, wrong class dashed; the two costs differ in colour and marker.
        markers = theme.sparse_markers(i, len(zc), every=40) | dict(symbol=MARKERS[cost], color=COLORS[cost])
        fig.add_trace(go.Scatter(x=zc, y=curves.gradients[i, :, 0], mode="lines+markers",
                                 name=f"∂C/∂z_correct, {label}", line=dict(color=COLORS[cost]), marker=markers))
        fig.add_trace(go.Scatter(x=zc, y=curves.gradients[i, :, 1], mode="lines+markers",
                                 name=f"∂C/∂z_wrong, {label}", line=dict(color=COLORS[cost], dash="dash"),
                                 marker=markers))
    fig.add_trace(go.Scatter(x=zc, y=curves.probabilities[:, 0], mode="lines", name="p(correct)",
                             line=dict(color=COLORS["sigma"], dash="dot")), secondary_y=True)
    fig.update_layout(**theme.layout(height=420, legend=dict(orientation="h", y=-0.2)),
                      title=f"Softmax over K = {classes}: wrong class at logit {dominant_logit:g}, others at 0")
    fig.update_xaxes(title_text="logit of the correct class z_correct")
    fig.update_yaxes(title_text="gradient in the logit (jax.grad)", secondary_y=False)
    fig.update_yaxes(title_text="p(correct)", range=[0, 1], tickvals=[0, 0.25, 0.5, 0.75, 1], showgrid=False,
                     secondary_y=True)
    return fig
