"""Plotly figures for the "Loss landscape" page, with the sentence (``alt``) and the table each one draws.

Colours, margins and fonts come from :mod:`lossviz.figures.theme` (viridis
for every surface, Okabe–Ito series that differ in dash and marker too).  A surface's colour may be shared by
two runs (:class:`ColourScale`); its log option colours
``log10(loss − low + ε)`` so that losses that are negative or far from zero
still spread over the scale, and the colour bar is labelled in loss values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go

from lossviz.figures import player, theme
from lossviz.lessons.landscape_path import PcaPath
from lossviz.lessons.landscape_runs import LineResult

MARGIN = theme.MARGIN | dict(t=60)


class ColourScale(NamedTuple):
    """The colour range of one or several surfaces: ``[low, high]`` in loss units, linear or log."""

    low: float
    high: float
    log: bool

    @classmethod
    def spanning(cls, *arrays: np.ndarray, log: bool) -> "ColourScale":
        """The smallest to the largest finite value across ``arrays`` (one scale shared by several surfaces)."""
        values = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
        values = values[np.isfinite(values)]
        return cls(float(values.min()), float(values.max()), log) if values.size else cls(0.0, 1.0, log)

    @property
    def epsilon(self) -> float:
        span = self.high - self.low
        return 1e-3 * span if span > 0 else 1e-6

    def colour(self, losses: np.ndarray) -> np.ndarray:
        values = np.where(np.isfinite(losses), losses, np.nan)
        if not self.log:
            return values
        return np.log10(np.maximum(values - self.low, 0.0) + self.epsilon)

    def limits(self) -> tuple[float, float]:
        ends = self.colour(np.array([self.low, self.high]))
        return float(ends[0]), float(ends[1]) if ends[1] > ends[0] else float(ends[0]) + 1.0

    def colorbar(self, unit: str) -> dict:
        if not self.log:
            return dict(title=dict(text=unit, side="right"))
        offsets = (self.high - self.low) * 10.0 ** -np.arange(3, -1, -1)
        ticks = self.colour(self.low + np.concatenate([[0.0], offsets]))
        text = [f"{self.low + o:.4g}" for o in np.concatenate([[0.0], offsets])]
        return dict(title=dict(text=f"{unit}, log scale above the lowest", side="right"),
                    tickvals=ticks.tolist(), ticktext=text)


def _title(text: str) -> dict:
    return dict(text=text, x=0, xanchor="left")


def _fmt(value: float) -> str:
    return "not computed" if not np.isfinite(value) else f"{value:.4g}"


# --------------------------------------------------------------------------
# The straight line
# --------------------------------------------------------------------------


def line_figure(result: LineResult, unit: str, label: str) -> go.Figure:
    """Train and test loss along θ(α) = (1 − α)θ₀ + αθ₁; accuracy underneath for classifiers."""
    classes = bool(np.any(np.isfinite(result.train_accuracy)))
    names = ("train loss", "test loss", "train accuracy", "test accuracy")
    series = [dict(name=name, mode="lines+markers", line=theme.series_line(i, width=3 if i < 2 else 2),
                   marker=dict(symbol=theme.MARKERS[i], size=5)) for i, name in enumerate(names)]
    data = [go.Scatter(x=result.alphas, y=result.train_loss, **series[0]),
            go.Scatter(x=result.alphas, y=result.test_loss, **series[1])]
    layout = dict(title=_title(f"{label}: from initial (α = 0) to final (α = 1) weights"),
                  margin=MARGIN, font=theme.FONT, height=460 if classes else 380, hovermode="x unified",
                  xaxis=dict(title=dict(text="α")), yaxis=dict(title=dict(text=unit)),
                  legend=dict(orientation="h", y=-0.15))
    shapes = [dict(type="line", xref="x", yref="paper", x0=a, x1=a, y0=0, y1=1,
                   line=dict(color=theme.GREY, width=1, dash="dot")) for a in (0.0, 1.0)]
    if classes:
        layout.update(xaxis=dict(anchor="y", matches="x2", showticklabels=False),
                      yaxis=dict(domain=[0.42, 1.0], title=dict(text=unit)),
                      xaxis2=dict(anchor="y2", title=dict(text="α")),
                      yaxis2=dict(domain=[0.0, 0.34], title=dict(text="accuracy"), range=[0, 1]))
        data += [go.Scatter(x=result.alphas, y=result.train_accuracy, xaxis="x2", yaxis="y2", **series[2]),
                 go.Scatter(x=result.alphas, y=result.test_accuracy, xaxis="x2", yaxis="y2", **series[3])]
    return go.Figure(data=data, layout=dict(layout, shapes=shapes))


def line_alt(result: LineResult, unit: str, label: str) -> str:
    """One sentence with the numbers the line chart shows."""
    at = {a: i for i, a in enumerate(np.round(result.alphas, 6))}
    low = int(np.nanargmin(result.train_loss))
    text = (f"{label}: {unit} along the straight line from the initial to the final weights, α from "
            f"{result.alphas[0]:g} to {result.alphas[-1]:g}. Training loss {_fmt(result.train_loss[at[0.0]])} "
            f"at α = 0 (initial) and {_fmt(result.train_loss[at[1.0]])} at α = 1 (final); lowest "
            f"{_fmt(result.train_loss[low])} at α = {result.alphas[low]:g}. Test loss at α = 1: "
            f"{_fmt(result.test_loss[at[1.0]])}.")
    if np.any(np.isfinite(result.test_accuracy)):
        text += (f" Test accuracy {result.test_accuracy[at[0.0]]:.1%} at α = 0, "
                 f"{result.test_accuracy[at[1.0]]:.1%} at α = 1.")
    return text


def line_table(result: LineResult) -> dict[str, np.ndarray]:
    table = {"alpha": result.alphas, "train loss": result.train_loss, "test loss": result.test_loss}
    if np.any(np.isfinite(result.train_accuracy)):
        table.update({"train accuracy": result.train_accuracy, "test accuracy": result.test_accuracy})
    return table


# --------------------------------------------------------------------------
# Surfaces
# --------------------------------------------------------------------------


def _axis_titles(path: PcaPath | None) -> tuple[str, str]:
    if path is None:
        return "α (direction 1, filter-normalised)", "β (direction 2, filter-normalised)"
    return (f"PC 1 ({path.explained[0]:.1%} of the path's variance)",
            f"PC 2 ({path.explained[1]:.1%} of the path's variance)")


def contour_figure(alphas: np.ndarray, betas: np.ndarray, losses: np.ndarray, scale: ColourScale, unit: str,
                   title: str, path: PcaPath | None = None, epoch: int | None = None) -> go.Figure:
    """The loss on the plane as filled contours, the final weights marked, the projected path on top.

    With a path, a star marks one epoch (point ``epoch`` of the path, None: the last) and the
    player (:mod:`lossviz.figures.player`) moves it along the path from there.
    """
    zmin, zmax = scale.limits()
    x_title, y_title = _axis_titles(path)
    data = [go.Contour(x=alphas, y=betas, z=scale.colour(losses), customdata=losses, zmin=zmin, zmax=zmax,
                       colorscale=theme.SEQUENTIAL, colorbar=scale.colorbar(unit), ncontours=24, name="loss",
                       contours=dict(coloring="heatmap", showlines=True), line=dict(width=0.5, color="white"),
                       hovertemplate="x = %{x:.3f}<br>y = %{y:.3f}<br>loss = %{customdata:.5g}<extra></extra>")]
    if path is not None:
        count = len(path.coords)
        symbols = ["diamond"] + ["circle"] * (count - 1)
        data.append(go.Scatter(x=path.coords[:, 0], y=path.coords[:, 1], mode="lines+markers",
                               name="path (◆ initial, then each epoch)", text=[f"epoch {t}" for t in range(count)],
                               hovertemplate="%{text}<br>(%{x:.3g}, %{y:.3g})<extra></extra>",
                               line=dict(color=theme.VERMILLION, width=3),
                               marker=dict(symbol=symbols, size=10, line=dict(color="white", width=1.5))))
    data.append(go.Scatter(x=[0.0], y=[0.0], mode="markers", name="final weights",
                           marker=dict(symbol="x", size=13, color="white", line=dict(color="black", width=2))))
    if path is not None:  # the epoch the player shows: a star that steps along the path
        shown = shown_epoch(path, epoch)
        data.append(go.Scatter(x=path.coords[shown:shown + 1, 0], y=path.coords[shown:shown + 1, 1],
                               mode="markers", name="epoch shown", text=[f"epoch {shown}"],
                               hovertemplate="%{text}<br>(%{x:.3g}, %{y:.3g})<extra></extra>",
                               marker=dict(symbol="star", size=20, color=theme.VERMILLION,
                                           line=dict(color="white", width=2))))
    fig = go.Figure(data=data, layout=dict(
        title=_title(title), margin=MARGIN, font=theme.FONT, height=460, xaxis=dict(title=dict(text=x_title)),
        yaxis=dict(title=dict(text=y_title)), legend=dict(orientation="h", y=-0.18)))
    if path is None:
        return fig
    epochs = player.frame_indices(len(path.coords), keep=shown)
    frames = [dict(traces=[len(data) - 1], data=[dict(x=[float(path.coords[e, 0])], y=[float(path.coords[e, 1])],
                                                      text=[f"epoch {e}"])]) for e in epochs]
    return player.add_player(fig, frames, [str(e) for e in epochs], int(np.searchsorted(epochs, shown)))


def shown_epoch(path: PcaPath, epoch: int | None) -> int:
    """The path's point ``epoch`` (0 is the initial weights) within the path; None is the last."""
    last = len(path.coords) - 1
    return last if epoch is None else min(max(int(epoch), 0), last)


def surface3d_figure(alphas: np.ndarray, betas: np.ndarray, losses: np.ndarray, scale: ColourScale, unit: str,
                     title: str, path: PcaPath | None = None) -> go.Figure:
    """The same loss as a 3-D surface (height = loss, colour on the shared scale)."""
    zmin, zmax = scale.limits()
    x_title, y_title = ("PC 1", "PC 2") if path is not None else ("α", "β")
    finite = np.where(np.isfinite(losses), losses, np.nan)
    return go.Figure(
        data=[go.Surface(x=alphas, y=betas, z=finite, surfacecolor=scale.colour(losses), cmin=zmin, cmax=zmax,
                         colorscale=theme.SEQUENTIAL, colorbar=scale.colorbar(unit), name="loss",
                         hovertemplate="x = %{x:.3f}<br>y = %{y:.3f}<br>loss = %{z:.5g}<extra></extra>")],
        layout=dict(title=_title(title), margin=theme.MARGIN_3D, font=theme.FONT, height=480,
                    scene=dict(xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text=y_title)),
                               zaxis=dict(title=dict(text="loss")))))


def surface_alt(alphas: np.ndarray, betas: np.ndarray, losses: np.ndarray, unit: str, label: str,
                path: PcaPath | None = None, epoch: int | None = None) -> str:
    """One sentence with the grid, where the loss is lowest and highest, and the value at the centre.

    With a path it also says which epoch the contour map's star opens on (``epoch``, None: the last).
    """
    done = int(np.sum(np.all(np.isfinite(losses), axis=1)))
    where = "the plane of the path's first two principal components" if path is not None else \
        "two filter-normalised random directions"
    text = (f"{label}: {unit} around the final weights along {where}, on a grid of {len(alphas)} × {len(betas)} "
            f"points from {alphas[0]:.3g} to {alphas[-1]:.3g} across and {betas[0]:.3g} to {betas[-1]:.3g} up")
    if done < len(betas):
        text += f", {done} of {len(betas)} rows computed so far"
    if not np.any(np.isfinite(losses)):
        return text + "."
    low = np.unravel_index(np.nanargmin(losses), losses.shape)
    high = np.unravel_index(np.nanargmax(losses), losses.shape)
    text += (f". Lowest {losses[low]:.4g} at ({alphas[low[1]]:.3g}, {betas[low[0]]:.3g}), highest "
             f"{losses[high]:.4g} at ({alphas[high[1]]:.3g}, {betas[high[0]]:.3g})")
    centre = [(i, j) for i, b in enumerate(betas) for j, a in enumerate(alphas) if a == 0 and b == 0]
    if centre and np.isfinite(losses[centre[0]]):
        text += f"; at the centre (the final weights) {losses[centre[0]]:.4g}"
    if path is not None:
        text += (f". The path of {len(path.coords)} points (initial, then each epoch) runs from "
                 f"({path.coords[0, 0]:.3g}, {path.coords[0, 1]:.3g}) to the final weights at (0, 0); the two "
                 f"components explain {path.explained[0]:.1%} and {path.explained[1]:.1%} of its variance. On the "
                 f"contour map a star marks epoch {shown_epoch(path, epoch)} of the path; its Play, Pause, step "
                 "and Reset buttons and scrubber move it along the path, and nothing moves by itself")
    return text + "."


def grid_table(alphas: np.ndarray, betas: np.ndarray, losses: np.ndarray,
               accuracy: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The surface in long form: one row per grid point."""
    a, b = np.meshgrid(alphas, betas)
    table = {"x": a.ravel(), "y": b.ravel(), "loss": losses.ravel()}
    if accuracy is not None and np.any(np.isfinite(accuracy)):
        table["accuracy"] = accuracy.ravel()
    return table


def path_table(path: PcaPath) -> dict[str, np.ndarray]:
    count = len(path.coords)
    return {"epoch": np.arange(count), "PC 1": path.coords[:, 0], "PC 2": path.coords[:, 1],
            "distance from the plane": path.residual}
