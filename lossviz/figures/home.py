"""Plotly figure builders shared by the pages: arrays in, figures out, no Streamlit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lossviz import losses

from lossviz.figures import theme


def bce_minimum_figure(targets=(0.0, 0.1, 0.3, 0.5, 0.8), points: int = 400) -> go.Figure:
    """BCE(y, p) against p for a few targets y, each minimum marked at p = y, height H(y).

    The home page's one picture: the curves bottom out where the prediction
    equals the target, and the bottom is the entropy H(y), not zero.
    """
    p = np.linspace(0.0, 1.0, points + 1)[1:-1]
    fig = go.Figure()
    for i, y in enumerate(targets):
        curve = np.asarray(losses.binary_crossentropy_elementwise(y, p, epsilon=None))
        fig.add_trace(go.Scatter(x=p, y=curve, mode="lines", name=f"y = {y:g}", line=theme.series_line(i)))
        floor = float(losses.binary_entropy(y))
        fig.add_trace(go.Scatter(
            x=[y], y=[floor], mode="markers", showlegend=False,
            marker=dict(size=10, symbol=theme.MARKERS[i % len(theme.MARKERS)] + "-open",
                        color=theme.series_colour(i), line=dict(width=2)),
            hovertemplate=f"minimum at p = {y:g}<br>H(y) = {floor:.3f}<extra></extra>",
        ))
    fig.update_layout(**theme.layout(
        height=360, margin=theme.MARGIN | dict(t=40),
        title="Binary cross-entropy BCE(y, p): minimum at p = y, height H(y)",
        xaxis_title="prediction p", yaxis_title="BCE (nats)", yaxis_range=[0, 3],
    ))
    return fig
