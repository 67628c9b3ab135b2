"""Plotly figures of the MNIST lab: arrays in, figures out, no Streamlit.

The live charts are redrawn several times a second, so the builders stay
light: long series are thinned to at most ``max_points`` evenly spaced
points (always keeping the last one), and digit grids are one heatmap each.
Margins, fonts and colours are the one policy of :mod:`lossviz.figures.theme`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from lossviz.figures import theme
from lossviz.lab.smoothing import debiased_ema

MAX_POINTS = 1500
LIVE_MAX_POINTS = 300
"""Points per series while a run trains: every watching browser redraws the chart on each poll, and a class
of ten browsers drawing 1,500-point charts twice a second is more than a core (PRODUCT.md)."""


def thin(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of the series: every k-th point with k = ⌈(n − 1) / (max_points − 1)⌉, and the last."""
    x = np.asarray(x)
    y = np.asarray(y)
    n = len(x)
    if n <= max_points:
        return x, y
    stride = -(-(n - 1) // (max_points - 1))
    index = np.append(np.arange(0, n - 1, stride), n - 1)
    return x[index], y[index]


def _positive_for_log(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(np.all(finite > 0))


def step_loss_figure(
    steps: Sequence[int], step_losses: Sequence[float], smoothing: float = 0.9, log_y: bool = False,
    floor: float | None = None, loss_name: str = "loss", height: int = 340, max_points: int = MAX_POINTS,
) -> go.Figure:
    """Training loss of every step (faint) and its debiased EMA (bold), optional floor line.

    ``floor`` draws a dashed horizontal line (the BCE floor of the data); a log
    axis is used only when every finite loss is positive, since log(≤0) has no place on it.
    ``max_points`` caps each series (:func:`thin`). This is the chart redrawn between chunks, so the figure is built in one
    constructor call from plain dicts (plotly's per-property updates cost ~4× more).
    """
    y = np.asarray(step_losses, dtype=np.float64)
    smoothed = debiased_ema(y, smoothing) if len(y) else y
    xs, ys = thin(steps, y, max_points)
    xm, ym = thin(steps, smoothed, max_points)
    traces = [
        dict(type="scatter", x=xs, y=ys, mode="lines", name="per step", opacity=0.35,
             line=dict(width=1, color=theme.series_colour(0))),
        dict(type="scatter", x=xm, y=ym, mode="lines", name=f"smoothed (β = {smoothing:g})",
             line=dict(width=2.5, color=theme.series_colour(1))),
    ]
    if floor is not None and len(xs):
        # A two-point trace rather than add_hline: shapes cost ~15 ms per redraw.
        traces.append(dict(type="scatter", x=[xs[0], xs[-1]], y=[floor, floor], mode="lines",
                           name=f"BCE floor of the data ({floor:.4f})",
                           line=dict(dash="dash", color=theme.series_colour(2), width=2)))
    title = f"Training {loss_name} per step"
    use_log = log_y and _positive_for_log(np.append(y, floor if floor is not None else 1.0))
    if log_y and not use_log:
        title += " (linear axis: some losses are ≤ 0)"
    layout = theme.layout(
        height=height, title=dict(text=title), uirevision="steps",
        xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text=loss_name), type="log" if use_log else "linear"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
    if not len(y):  # drawn before the first run, so the page's chart code is loaded before Train is pressed
        layout["annotations"] = [dict(text="No steps yet: press Train.", x=0.5, y=0.5, xref="paper", yref="paper",
                                      showarrow=False, font=dict(size=16))]
        for axis in ("xaxis", "yaxis"):  # no made-up scale
            layout[axis] |= dict(showticklabels=False, zeroline=False)
    return go.Figure(data=traces, layout=layout)


def epoch_loss_figure(epochs: Sequence[dict], loss_name: str = "loss", show_keras: bool = False,
                      log_y: bool = False, height: int = 300) -> go.Figure:
    """Per-epoch train and test loss; with ``show_keras`` also the loss Keras 3 would report."""
    e = [row["epoch"] for row in epochs]
    fig = go.Figure()
    series = [("train", "train_loss"), ("test", "test_loss")]
    if show_keras:
        series.append(("what Keras 3 reports", "keras_reported_loss"))
    values = []
    for i, (name, key) in enumerate(series):
        y = [_nan(row.get(key)) for row in epochs]
        values += y
        fig.add_trace(go.Scatter(x=e, y=y, mode="lines+markers", name=name, line=theme.series_line(i),
                                 marker=dict(symbol=theme.MARKERS[i % len(theme.MARKERS)])))
    use_log = log_y and _positive_for_log(np.asarray(values, dtype=np.float64))
    fig.update_layout(**theme.layout(
        height=height, title=f"{loss_name} per epoch",
        xaxis_title="epoch", yaxis_title=loss_name, yaxis_type="log" if use_log else "linear",
        xaxis=dict(dtick=1), uirevision="epochs",
    ))
    return fig


def accuracy_figure(epochs: Sequence[dict], height: int = 300) -> go.Figure:
    """Test accuracy per epoch, in [0, 1]."""
    fig = go.Figure(go.Scatter(
        x=[row["epoch"] for row in epochs], y=[_nan(row.get("test_accuracy")) for row in epochs],
        mode="lines+markers", name="test accuracy", line=dict(color=theme.series_colour(2)),
    ))
    fig.update_layout(**theme.layout(height=height, title="Test accuracy per epoch",
                      xaxis_title="epoch", yaxis_title="accuracy", yaxis_range=[0, 1],
                      xaxis=dict(dtick=1), uirevision="accuracy"))
    return fig


def _tile(images: np.ndarray, columns: int) -> np.ndarray:
    """(n, 784) → one (rows·28, columns·28) image, 1-pixel gaps filled with NaN."""
    n = images.shape[0]
    rows = -(-n // columns)
    canvas = np.full((rows * 29 - 1, columns * 29 - 1), np.nan)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * 29:r * 29 + 28, c * 29:c * 29 + 28] = np.asarray(img, dtype=np.float64).reshape(28, 28)
    return canvas


def reconstruction_figure(originals: np.ndarray, reconstructions: np.ndarray, rescale: bool = False,
                          epoch: int | None = None, height: int = 260) -> go.Figure:
    """Test digits (top row) over the model's outputs (bottom row), ink dark.

    Both rows are shown on the same 0–1 scale (originals are pixels/255 when
    given raw), so a softmax output that spreads 1 over 784 pixels looks blank,
    which is the honest picture.  ``rescale`` divides each output by its own
    maximum to reveal the shape it has learned.
    """
    top = np.asarray(originals, dtype=np.float64)
    if np.nanmax(top) > 1.0:
        top = top / 255.0
    bottom = np.asarray(reconstructions, dtype=np.float64)
    if rescale:
        peak = np.nanmax(np.abs(bottom), axis=1, keepdims=True)
        bottom = np.divide(bottom, peak, out=np.zeros_like(bottom), where=peak > 0)
    # float32: plotly sends a numpy array as typed binary, and the page redraws this at every epoch (228 → 117 kB
    # for ten digits); the hover's three decimals are far inside float32's precision.
    grid = _tile(np.concatenate([top, np.clip(bottom, 0.0, 1.0)]), columns=top.shape[0]).astype(np.float32)
    fig = go.Figure(go.Heatmap(z=grid, zmin=0.0, zmax=1.0, colorscale=theme.INK, showscale=False,
                               hovertemplate="%{z:.3f}<extra></extra>"))
    title = "Test digits (top) and reconstructions (bottom)"
    if epoch is not None:
        title += f", epoch {epoch}"
    if rescale:
        title += ", each output rescaled to its maximum"
    fig.update_layout(**theme.layout(height=height, title=title,
                      xaxis=dict(visible=False), yaxis=dict(visible=False, autorange="reversed",
                                                           scaleanchor="x")))
    return fig


def confusion_figure(matrix: np.ndarray, height: int = 420) -> go.Figure:
    """Counts of (true digit, predicted digit) on the test set, with the count in each cell."""
    m = np.asarray(matrix)
    labels = [str(d) for d in range(m.shape[0])]
    fig = go.Figure(go.Heatmap(
        z=m, x=labels, y=labels, colorscale=theme.SEQUENTIAL, text=m, texttemplate="%{text}",
        hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>", showscale=False,
    ))
    fig.update_layout(**theme.layout(height=height, title="Confusion matrix (test set)",
                      xaxis=dict(title=dict(text="predicted"), dtick=1),
                      yaxis=dict(title=dict(text="true"), dtick=1, autorange="reversed")))
    return fig


def misclassified_figure(images: np.ndarray, true_labels: Sequence[int], predicted: Sequence[int],
                         height: int = 200) -> go.Figure:
    """A row of misclassified test digits, each labelled "true → predicted"."""
    imgs = np.asarray(images, dtype=np.float64)
    if imgs.size and np.nanmax(imgs) > 1.0:
        imgs = imgs / 255.0
    n = imgs.shape[0]
    fig = go.Figure(go.Heatmap(z=_tile(imgs, columns=max(n, 1)) if n else [[np.nan]], zmin=0, zmax=1,
                               colorscale=theme.INK, showscale=False, hoverinfo="skip"))
    for i, (t, p) in enumerate(zip(true_labels, predicted)):
        fig.add_annotation(x=i * 29 + 13.5, y=-3, text=f"{int(t)} → {int(p)}", showarrow=False,
                           font=dict(size=13))
    fig.update_layout(**theme.layout(height=height,
                      title="Misclassified test digits (true → predicted)",
                      xaxis=dict(visible=False), yaxis=dict(visible=False, autorange="reversed",
                                                           scaleanchor="x", range=[28, -8])))
    return fig


def overlay_figure(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str,
                   x_title: str, y_title: str, log_y: bool = False, markers: bool = False,
                   height: int = 380) -> go.Figure:
    """Several runs on one chart: ``series`` is ``(legend label, x, y)`` per run."""
    fig = go.Figure()
    values = []
    for i, (label, x, y) in enumerate(series):
        xs, ys = thin(x, y)
        values.append(np.asarray(ys, dtype=np.float64))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if markers else "lines", name=label,
                                 line=theme.series_line(i), marker=dict(symbol=theme.MARKERS[i % len(theme.MARKERS)])))
    joined = np.concatenate(values) if values else np.array([])
    use_log = log_y and _positive_for_log(joined)
    if log_y and not use_log:
        title += " (linear axis: some values are ≤ 0)"
    fig.update_layout(**theme.layout(height=height, title=title, xaxis_title=x_title,
                      yaxis_title=y_title, yaxis_type="log" if use_log else "linear",
                      legend=dict(orientation="h", yanchor="top", y=-0.15)))
    return fig


def _nan(value) -> float:
    return float("nan") if value is None else float(value)
