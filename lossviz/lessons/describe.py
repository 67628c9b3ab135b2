"""One-sentence takeaways of the charts, computed from the numbers they draw (the charts' ``alt`` text).

A screen reader announces a chart by its accessible name; these sentences make that name say what the
chart shows *now*, so it changes with the controls. Pure functions of NumPy arrays and numbers: no
plotly, no streamlit. ``figure_sentence`` is the generic fallback that any chart gets from its own
traces; the named functions are the takeaways of the charts whose lesson is one number.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

MAX_SERIES = 5  # a sentence that lists more series than this is no longer read to the end


class Series(NamedTuple):
    """One drawn series, as plain numbers.

    Attributes:
      name: the legend name ("" when the chart has one series).
      kind: "line" (x, y), "bar" (x, y), "grid" (x, y, z: heat map, contour, surface) or "image".
      x: [n] or [nx] values along the horizontal axis (may be labels).
      y: [n] values (line, bar) or [ny] values of the vertical axis (grid).
      z: [ny, nx] values of a grid, else None.
    """

    name: str
    kind: str
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray | None = None


def number(value: float) -> str:
    """A number as a person would read it: 3 significant digits, no float noise."""
    value = float(value)
    if not np.isfinite(value):
        return "infinite" if np.isinf(value) else "undefined"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def _label(value) -> str:
    return number(value) if isinstance(value, (int, float, np.integer, np.floating)) else str(value)


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(y)
    return np.asarray(x, dtype=object)[keep], y[keep]


def series_clause(series: Series, x_name: str = "x", y_name: str = "y") -> str:
    """What one series shows: where it is lowest and highest (lines also: where it ends).

    Returns:
      a clause such as "BCE: lowest 0.611 at p = 0.3, highest 16.1 at p = 1, ends at 16.1".
    """
    head = f"{series.name}: " if series.name else ""
    if series.kind == "image":
        if series.z is None or np.ndim(series.z) < 2:
            return f"{head}an image"
        height, width = np.shape(series.z)[:2]
        return f"{head}an image of {width} by {height} pixels"
    if series.kind == "grid" and series.z is not None:
        z = np.asarray(series.z, dtype=float)
        if not np.isfinite(z).any():
            return f"{head}no finite values"
        low = np.unravel_index(np.nanargmin(np.where(np.isfinite(z), z, np.nan)), z.shape)
        high = np.unravel_index(np.nanargmax(np.where(np.isfinite(z), z, np.nan)), z.shape)
        xs, ys = np.asarray(series.x, dtype=object), np.asarray(series.y, dtype=object)

        def at(index):
            return f"{x_name} = {_label(xs[index[1]])}, {y_name} = {_label(ys[index[0]])}"

        return f"{head}lowest {number(z[low])} at {at(low)}, highest {number(z[high])} at {at(high)}"
    x, y = _finite(series.x, series.y)
    if y.size == 0:
        return f"{head}no finite values"
    low, high = int(np.argmin(y)), int(np.argmax(y))
    clause = (f"{head}lowest {number(y[low])} at {x_name} = {_label(x[low])}, "
              f"highest {number(y[high])} at {x_name} = {_label(x[high])}")
    if series.kind == "line" and y.size - 1 not in (low, high):  # where a curve or a training run ends
        clause += f", last {number(y[-1])} at {x_name} = {_label(x[-1])}"
    return clause


def figure_sentence(title: str, series: Sequence[Series], x_name: str = "x", y_name: str = "y") -> str:
    """The generic takeaway of a chart: its title, then each series' extremes (at most MAX_SERIES)."""
    title = title.strip().rstrip(".") or "Chart"
    shown = [s for s in series if s.kind != "image" or s.z is not None][:MAX_SERIES]
    clauses = [series_clause(s, x_name or "x", y_name or "y") for s in shown]
    more = len(series) - len(shown)
    tail = f"; and {more} more series" if more > 0 else ""
    return f"{title}. " + ("; ".join(clauses) + tail + "." if clauses else "No data drawn.")


# --------------------------------------------------------------------------
# The takeaways whose lesson is one number
# --------------------------------------------------------------------------
def bce_slice(y: float, argmin: float, floor: float, show_excess: bool) -> str:
    """BCE page, the slice at one target: the valley's lowest point."""
    excess = " The excess BCE − H(y) is drawn too: zero at the same p." if show_excess else ""
    return (f"BCE against p for y = {number(y)}: a valley whose lowest point, {number(floor)} nats, is at "
            f"p = {number(argmin)}; MSE is lowest there too, at 0.{excess}")


def raw_target(y_raw: float, p_last: float, bce_last: float, falls: bool) -> str:
    """BCE page, a raw 0–255 target."""
    if falls:
        return (f"BCE against p for the raw target y = {number(y_raw)}: it only falls as p approaches 1 and "
                f"reaches {number(bce_last)} at p = {number(p_last)}, Keras's clip; there is no minimum.")
    return (f"BCE against p for the target y = {number(y_raw)}, still a probability: it has its usual "
            f"minimum; at p = {number(p_last)} it is {number(bce_last)}.")


def logit_view(y: float, z_star: float | None, floor: float) -> str:
    """BCE page, BCE and its gradient against the logit z."""
    where = (f"lowest, {number(floor)} nats, at z = {number(z_star)} where the gradient σ(z) − y is zero"
             if z_star is not None else "approaching 0 only as |z| grows without bound")
    return f"BCE against the logit z for y = {number(y)}: {where}; the gradient stays between −1 and 1."


def live_loss(what: str, step: int, total: int | None, loss: float | None, unit: str = "") -> str:
    """A live training chart: the current step and loss (changes every update; None: no step yet)."""
    of = f" of {total:,}" if total else ""
    if loss is None:
        return f"{what}: step {step:,}{of}, no loss recorded yet."
    unit = f" {unit}" if unit else ""
    return f"{what}: step {step:,}{of}, loss {number(loss)}{unit}."


def progress_line(what: str, done: int, total: int, unit: str = "epoch", **measures: float | None) -> str:
    """A training's progress as a live region says it: "Training: epoch 2 of 6, loss 0.11."

    Named for whole epochs (or chunks of steps) so that it changes at a human pace, not every step.

    Args:
      what: who trains, capitalised ("Training", "Finished").
      done: epochs (or steps) done.
      total: epochs (or steps) in all.
      unit: "epoch" or "step".
      measures: numbers to name after it, e.g. ``loss=0.11`` ("best_accuracy" reads "best accuracy");
        ``None`` values are left out.
    """
    parts = [f"{unit} {done:,} of {total:,}"]
    parts += [f"{name.replace('_', ' ')} {number(value)}" for name, value in measures.items() if value is not None]
    return f"{what}: {', '.join(parts)}."
