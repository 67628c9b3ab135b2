"""Plotly figures of the "Softmax & KL" page: arrays in, figures out, no Streamlit."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lossviz.figures import player, theme
from lossviz.lessons import kl_fit

CLASS_COLOURS = theme.SERIES
CLASS_MARKERS = theme.MARKERS
REGION_COLOURS = tuple(theme.tint(colour, 0.75) for colour in CLASS_COLOURS[:3])
"""Pale tints of the first three class colours, behind the class's points."""
FORWARD_COLOUR, REVERSE_COLOUR, MIXTURE_COLOUR = theme.VERMILLION, theme.BLUE, theme.GREY
SECOND_PATTERN = dict(shape="/")
"""Hatching on the second of two compared bar series, so they differ beyond colour."""


def _layout(fig: go.Figure, title: str, height: int = 340, top: int = 50, **kwargs) -> go.Figure:
    fig.update_layout(**theme.layout(title=title, height=height, margin=theme.MARGIN | dict(t=top), **kwargs))
    return fig


def softmax_bars(probabilities: np.ndarray, target: np.ndarray) -> go.Figure:
    """Softmax output q next to the target p, one pair of bars per class."""
    classes = [f"class {k + 1}" for k in range(len(probabilities))]
    fig = go.Figure([
        go.Bar(x=classes, y=probabilities, name="softmax q", marker_color=theme.BLUE,
               text=[f"{v:.3f}" for v in probabilities], textposition="outside"),
        go.Bar(x=classes, y=target, name="target p", marker=dict(color=theme.VERMILLION, pattern=SECOND_PATTERN),
               text=[f"{v:.3f}" for v in target], textposition="outside"),
    ])
    return _layout(fig, "Softmax probabilities vs target", barmode="group",
                   yaxis=dict(range=[0, 1.15], title="probability"))


def identity_bars(cross_entropy: float, entropy: float, kl: float) -> go.Figure:
    """H(P, Q) as one bar next to the stack H(P) + KL(P‖Q): the two have the same height."""
    fig = go.Figure([
        go.Bar(x=["H(P, Q)"], y=[cross_entropy], name="cross-entropy H(P, Q)", marker_color=theme.GREY,
               text=[f"{cross_entropy:.4f}"], textposition="inside"),
        go.Bar(x=["H(P) + KL(P‖Q)"], y=[entropy], name="entropy H(P)", marker_color=theme.BLUISH_GREEN,
               text=[f"{entropy:.4f}"], textposition="inside"),
        go.Bar(x=["H(P) + KL(P‖Q)"], y=[kl], name="KL(P‖Q)", marker=dict(color=theme.BLUE, pattern=SECOND_PATTERN),
               text=[f"{kl:.4f}"], textposition="inside"),
    ])
    return _layout(fig, "Cross-entropy = entropy + KL", barmode="stack", yaxis_title="nats")


def gradient_bars(gradient: np.ndarray) -> go.Figure:
    """∂H(P, Q)/∂z_k = q_k − p_k for every logit."""
    classes = [f"z{k + 1}" for k in range(len(gradient))]
    colours = [theme.VERMILLION if g > 0 else theme.BLUE for g in gradient]  # never red against green
    fig = go.Figure(go.Bar(x=classes, y=gradient, marker_color=colours,
                           text=[f"{g:+.3f}" for g in gradient], textposition="outside"))
    return _layout(fig, "Gradient of the loss w.r.t. the logits: softmax − target",
                   yaxis=dict(range=[-1.15, 1.15], title="∂loss/∂z"), showlegend=False)


def kl_contribution_bars(p: np.ndarray, q: np.ndarray, forward_terms: np.ndarray,
                         reverse_terms: np.ndarray) -> go.Figure:
    """The two distributions (left) and each outcome's term of KL(P‖Q) and KL(Q‖P) (right)."""
    outcomes = [f"{k + 1}" for k in range(len(p))]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "P and Q", f"terms: KL(P‖Q) = {forward_terms.sum():.4f}, KL(Q‖P) = {reverse_terms.sum():.4f}"))
    fig.add_trace(go.Bar(x=outcomes, y=p, name="P", marker_color=theme.VERMILLION), 1, 1)
    fig.add_trace(go.Bar(x=outcomes, y=q, name="Q", marker=dict(color=theme.BLUE, pattern=SECOND_PATTERN)), 1, 1)
    fig.add_trace(go.Bar(x=outcomes, y=forward_terms, name="p log(p/q)  [KL(P‖Q)]",
                         marker_color=theme.REDDISH_PURPLE, text=[f"{v:+.3f}" for v in forward_terms]), 1, 2)
    fig.add_trace(go.Bar(x=outcomes, y=reverse_terms, name="q log(q/p)  [KL(Q‖P)]",
                         marker=dict(color=theme.BLUISH_GREEN, pattern=SECOND_PATTERN), text=[f"{v:+.3f}" for v in reverse_terms]), 1, 2)
    fig.update_xaxes(title_text="outcome")
    return _layout(fig, "KL is not symmetric", height=380, top=80, barmode="group")


PLOT_STRIDE = 16
"""Every 16th point of the fit's grid is drawn (0.32 apart, drawn as splines): frames a sixteenth the size."""


def _fit_labels(fit: kl_fit.FitFrame) -> tuple[str, str]:
    return (f"forward KL(p‖q): μ={fit.means[0]:.2f}, σ={fit.stds[0]:.2f}",
            f"reverse KL(q‖p): μ={fit.means[1]:.2f}, σ={fit.stds[1]:.2f}")


def _fit_title(fit: kl_fit.FitFrame) -> str:
    return f"Fitting one Gaussian q to p (step {fit.step})"


def kl_fit_figure(x: np.ndarray, mixture: np.ndarray, fits: Sequence[kl_fit.FitFrame],
                  step: int | None = None) -> go.Figure:
    """The mixture p with the forward-KL and reverse-KL Gaussian fits over it, playable fit by fit.

    Args:
      x: the grid of ``mixture`` (every :data:`PLOT_STRIDE`-th point is drawn).
      mixture: p on ``x``.
      fits: the fits as :func:`lossviz.lessons.kl_fit.fit_kl_directions` yields them; its player
        (:mod:`lossviz.figures.player`) steps through at most :data:`player.MAX_FRAMES` of them (and ``step``'s).
      step: the Adam step (a fit's ``step``) the figure opens on; None (or a step no fit has) is the last.
    """
    x, mixture = np.asarray(x)[::PLOT_STRIDE], np.asarray(mixture)[::PLOT_STRIDE]
    steps = [fit.step for fit in fits]
    chosen = steps.index(step) if step in steps else len(fits) - 1
    picked = player.frame_indices(len(fits), keep=chosen)
    start = int(np.searchsorted(picked, chosen))
    shown = [fits[i] for i in picked]
    means = np.array([f.means for f in shown])  # (frames, direction)
    stds = np.array([f.stds for f in shown])
    # One call for all curves, padded to MAX_FRAMES + 1 rows (the kept step may add one): one shape always,
    # so jax compiles it once per process.
    pad = ((0, player.MAX_FRAMES + 1 - len(shown)), (0, 0))
    curves = kl_fit.gaussian_density(x, np.pad(means, pad, mode="edge")[..., None],
                                     np.pad(stds, pad, mode="edge")[..., None])[:len(shown)]  # (frames, 2, points)
    forward_label, reverse_label = _fit_labels(shown[start])
    fig = go.Figure([
        go.Scatter(x=x, y=mixture, name="mixture p", fill="tozeroy", line=dict(color=MIXTURE_COLOUR, shape="spline"),
                   fillcolor=theme.translucent(MIXTURE_COLOUR, 0.15)),
        go.Scatter(x=x, y=curves[start, 0], name=forward_label,
                   line=dict(color=FORWARD_COLOUR, width=3, shape="spline")),
        go.Scatter(x=x, y=curves[start, 1], name=reverse_label,
                   line=dict(color=REVERSE_COLOUR, width=3, dash="dash", shape="spline")),
    ])
    top = max(float(mixture.max()), float(curves.max()))
    _layout(fig, _fit_title(shown[start]), height=380, xaxis_title="x", yaxis=dict(title="density", range=[0, 1.1 * top]),
            legend=dict(orientation="h", y=-0.2))
    decimals = int(np.ceil(-np.log10(top))) + 3  # about a thousandth of the axis: under a pixel
    frames = [dict(traces=[1, 2], layout=dict(title=dict(text=_fit_title(fit))),
                   data=[dict(y=player.rounded(curves[k, d], decimals), name=label)
                         for d, label in enumerate(_fit_labels(fit))])
              for k, fit in enumerate(shown)]
    return player.add_player(fig, frames, [str(fit.step) for fit in shown], start, prefix="Adam step ")


def kl_objective_figure(objectives: np.ndarray) -> go.Figure:
    """Forward and reverse KL over the optimisation steps."""
    steps = np.arange(1, len(objectives) + 1)
    fig = go.Figure([
        go.Scatter(x=steps, y=objectives[:, 0], name="forward KL(p‖q)", line=dict(color=FORWARD_COLOUR)),
        go.Scatter(x=steps, y=objectives[:, 1], name="reverse KL(q‖p)", line=dict(color=REVERSE_COLOUR, dash="dash")),
    ])
    return _layout(fig, "Objective per Adam step", height=380, xaxis_title="step",
                   yaxis=dict(title="nats (log scale)", type="log", dtick=1, tickformat=".2g"),
                   legend=dict(orientation="h", y=-0.2))


def _dash(loss_name: str) -> str:
    return "solid" if loss_name == "categorical_crossentropy" else "dash"


def training_curves(labels: Sequence[str], loss_names: Sequence[str], learning_rates: Sequence[float],
                    losses: np.ndarray, accuracies: np.ndarray, total_epochs: int,
                    epoch: int | None = None) -> go.Figure:
    """Loss (log scale) and accuracy per epoch of every combination.

    Colour and marker = learning rate, line style = loss (CE solid, KL
    dashed), so that coinciding CE and KL curves show as one line with dashes
    over it.  Once every epoch is in (``losses`` covers ``total_epochs``), a
    player (:mod:`lossviz.figures.player`) reveals the curves epoch by epoch,
    opening with epochs 1 … ``epoch`` shown (None: all of them).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "training accuracy"))
    rank = {lr: i for i, lr in enumerate(sorted(set(learning_rates)))}
    epochs = np.arange(1, losses.shape[1] + 1)
    for i, label in enumerate(labels):
        k = rank[learning_rates[i]]
        style = dict(color=theme.series_colour(k), dash=_dash(loss_names[i]), width=2)
        marker = theme.sparse_markers(k, len(epochs), every=10)
        for values, col in ((losses[i], 1), (accuracies[i], 2)):
            fig.add_trace(go.Scatter(x=epochs, y=values, name=label, legendgroup=label, line=style,
                                     mode="lines+markers", marker=marker, showlegend=col == 1), 1, col)
    fig.update_xaxes(title_text="epoch", range=[1, max(total_epochs, 2)])
    fig.update_yaxes(type="log", dtick=1, tickformat=".2g", row=1, col=1)  # decades only: readable labels
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    _layout(fig, "Every combination, trained together", height=420, top=80)
    if losses.shape[1] < total_epochs or not labels:
        return fig
    return _reveal_player(fig, losses.shape[1], epoch)


def _reveal_title(epoch: int) -> dict:
    return dict(text=f"Every combination, trained together (epochs 1–{epoch} shown)")


def _reveal_player(fig: go.Figure, epochs: int, epoch: int | None = None) -> go.Figure:
    """Frames that reveal a two-panel figure's curves epoch by epoch, a few bytes each.

    The curves move onto hidden copies of the two panels (axes x3/y3 over the
    loss panel, x4/y4 over the accuracy one; each hidden y axis ``matches`` its
    visible one) that start where the visible panels do and have the same
    scale, but end at the epoch shown: plotly clips each trace to its axes'
    domain, so a frame reveals epochs 1 … e by setting two domains and ranges
    and sends no data at all.  The visible x axes do not zoom (the hidden ones
    could not follow).
    """
    span = max(epochs, 2) - 1
    hidden = {"x": ("x3", "y3"), "x2": ("x4", "y4")}
    for trace in fig.data:
        trace.xaxis, trace.yaxis = hidden[trace.xaxis or "x"]
    panels = {}
    for n, (x_name, y_name) in ((3, ("xaxis", "yaxis")), (4, ("xaxis2", "yaxis2"))):
        x_axis, y_axis = fig.layout[x_name], fig.layout[y_name]
        start, end = x_axis.domain
        panels[f"xaxis{n}"] = (start, end)
        x_axis.fixedrange = True
        fig.layout[f"xaxis{n}"] = dict(domain=[start, end], range=[1, 1 + span], anchor=f"y{n}", visible=False,
                                       fixedrange=True)
        fig.layout[f"yaxis{n}"] = dict(domain=y_axis.domain, matches=y_name.replace("axis", ""), type=y_axis.type,
                                       anchor=f"x{n}", visible=False)
    for x_name, y_name in (("x", "y"), ("x2", "y2")):  # plotly draws only panels that hold a trace
        fig.add_trace(go.Scatter(x=[], y=[], xaxis=x_name, yaxis=y_name, showlegend=False, hoverinfo="skip"))
    frames = []
    chosen = epochs - 1 if epoch is None else min(max(int(epoch), 1), epochs) - 1
    picked = player.frame_indices(epochs, keep=chosen)
    shown_epochs = picked + 1
    for shown in shown_epochs:
        share = max((shown - 1) / span, 0.004)  # a sliver at epoch 1: a zero-width domain is not drawn
        frames.append(dict(data=[], traces=[], layout={
            axis: dict(domain=[round(float(start), 4), round(float(start + share * (end - start)), 4)],
                       range=[1, round(float(1 + share * span), 3)]) for axis, (start, end) in panels.items()}))
        frames[-1]["layout"]["title"] = _reveal_title(int(shown))
    opening = int(np.searchsorted(picked, chosen))
    fig.update_layout(frames[opening]["layout"])  # the figure as drawn is its opening frame
    return player.add_player(fig, frames, [str(e) for e in shown_epochs], opening, clearance=24)


def decision_regions(gx: np.ndarray, gy: np.ndarray, probabilities: np.ndarray, x: np.ndarray,
                     labels: np.ndarray, titles: Sequence[str], columns: int = 3,
                     max_points: int = 400) -> go.Figure:
    """One panel per combination: predicted class as coloured regions (paler where unsure), data on top.

    ``probabilities`` is ``(members, len(gy), len(gx), 3)``.
    """
    members = probabilities.shape[0]
    columns = max(1, min(columns, members))
    rows = -(-members // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=list(titles),
                        horizontal_spacing=0.04, vertical_spacing=0.12 / max(rows, 1))
    scale = []
    n_classes = probabilities.shape[-1]
    for c in range(n_classes):
        lo, hi = c / n_classes, (c + 1) / n_classes
        scale += [[lo, REGION_COLOURS[c]], [hi, REGION_COLOURS[c]]]
    shown = np.arange(len(x))[:: max(1, len(x) // max_points)]
    for m in range(members):
        row, col = m // columns + 1, m % columns + 1
        predicted = probabilities[m].argmax(-1)
        confidence = probabilities[m].max(-1)
        fig.add_trace(go.Heatmap(
            x=gx, y=gy, z=predicted + 1, zmin=0.5, zmax=n_classes + 0.5, colorscale=scale, showscale=False,
            customdata=confidence, hovertemplate="predicted class %{z}<br>confidence %{customdata:.2f}<extra></extra>",
        ), row, col)
        for c in range(n_classes):
            pts = shown[labels[shown] == c]
            fig.add_trace(go.Scatter(
                x=x[pts, 0], y=x[pts, 1], mode="markers", name=f"class {c + 1}", legendgroup=f"class {c + 1}",
                showlegend=(m == 0), marker=dict(size=5, color=CLASS_COLOURS[c], symbol=CLASS_MARKERS[c],
                                                 line=dict(width=0.3, color="white")),
            ), row, col)
    fig.update_xaxes(showticklabels=False, range=[gx[0], gx[-1]])
    fig.update_yaxes(showticklabels=False, range=[gy[0], gy[-1]])
    return _layout(fig, "Decision regions (data on top)", height=300 * rows + 90, top=80)
