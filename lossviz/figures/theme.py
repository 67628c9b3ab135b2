"""The one theme policy for every figure: template, margins, fonts, palette and colour scales.

**Template: Streamlit's.**  No builder names a plotly template: a figure keeps
plotly's default template, which ``streamlit`` replaces with its own chart
theme when it is imported (it follows the app's light or dark theme and its
fonts).  Naming one instead (``template="plotly_white"``) cost about 30 ms per
figure to validate, measured on this machine, and fought the app's dark theme.
:data:`TEMPLATE` is ``None``, which ``update_layout(template=None)`` reads as
"leave the default".

**Colours.**  Series compared side by side take the Okabe–Ito palette
(Okabe & Ito 2008, "Color Universal Design": distinct under protanopia,
deuteranopia and tritanopia) in the order of :data:`SERIES`, and differ in
dash (:data:`DASHES`) and marker (:data:`MARKERS`) too, so they stay apart in
grey print.  Continuous scales are viridis or cividis (perceptually uniform);
MNIST digits alone are drawn in greys, as ink on paper.
"""

from __future__ import annotations

import numpy as np

TEMPLATE = None
"""No plotly template: the default one, Streamlit's chart theme inside the app."""

MARGIN = dict(l=10, r=10, t=50, b=10)
"""Margins of a 2-D figure with a one-line title; builders may raise ``t`` for legends or panel titles."""
MARGIN_3D = dict(l=0, r=0, t=50, b=0)
FONT = dict(size=13)
"""Sizes only: the family is the app's, from Streamlit's theme."""

# Okabe & Ito (2008).  Yellow (#F0E442) is left out: under 2:1 against white.
BLACK, ORANGE, SKY_BLUE, BLUISH_GREEN = "#000000", "#E69F00", "#56B4E9", "#009E73"
BLUE, VERMILLION, REDDISH_PURPLE = "#0072B2", "#D55E00", "#CC79A7"
GREY = "#767676"
"""Context and neutral marks (a mixture, a reference line, a marked point): 4.5:1 on white, 4:1 on the dark theme."""

SERIES = (BLUE, VERMILLION, BLUISH_GREEN, REDDISH_PURPLE, GREY, ORANGE, SKY_BLUE)
"""Colour of compared series 0, 1, 2, …: first those near 3:1 or more on both white and the dark theme
(the zoo's order); orange and sky blue only past five series, where dash and marker carry the difference.
Black is no series colour: it vanishes on the dark theme."""
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid")
MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "star", "triangle-down")

SEQUENTIAL = "Viridis"
"""Continuous data scales (a loss over a grid)."""
SEQUENTIAL_LIGHT = "Cividis"
"""A continuous backdrop under drawn paths (used faded)."""
INK = "Greys"
"""MNIST digits: pixel intensity as ink, not a data scale."""


def series_colour(i: int) -> str:
    """Colour of compared series ``i`` (cycles)."""
    return SERIES[i % len(SERIES)]


def series_line(i: int, **extra) -> dict:
    """``line`` of compared series ``i``: its colour and dash; ``extra`` (e.g. ``width``) added."""
    return dict(color=series_colour(i), dash=DASHES[i % len(DASHES)]) | extra


def sparse_markers(i: int, points: int, every: int = 25, size: int = 8) -> dict:
    """``marker`` of series ``i`` on about one point in ``every`` (at least six), for ``mode="lines+markers"``.

    A marker on every point would hide the line; a few say which series it is in grey print too.  Plotly's
    ``maxdisplayed`` picks them evenly among the points in view (again after a zoom) and draws only those:
    zero-size markers on the other points still cost an SVG element each (0.3 s of a browser's time for
    the zoo's ten curves of 201 points).  Each series gets one more than the last, so their markers do not
    line up.
    """
    shown = max(points // every, min(6, points)) + i
    return dict(symbol=MARKERS[i % len(MARKERS)], color=series_colour(i), size=size, maxdisplayed=shown)


def tint(colour: str, amount: float) -> str:
    """``colour`` mixed with white: ``amount`` 0 keeps it, 1 gives white (for pale regions behind points)."""
    rgb = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)], float)
    mixed = np.round(rgb + (255.0 - rgb) * amount).astype(int)
    return "#" + "".join(f"{v:02x}" for v in mixed)


def translucent(colour: str, alpha: float) -> str:
    """``colour`` as ``rgba(…, alpha)``: a shaded band over the plot."""
    r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha:g})"


LEGEND_BELOW = dict(yref="container", y=0, yanchor="bottom")
"""Where a horizontal legend under the plot goes: at the figure's bottom edge, the plot shrinking to make room.

Placed at a fixed distance under the plot instead (``y=-0.2``), a legend that wraps onto several rows on a
390 px phone ran into the x-axis title; anchored to the figure's edge, plotly pushes the margin for it."""


def layout(**overrides) -> dict:
    """The shared layout (margins, fonts, the series colours as colorway), ``overrides`` on top.

    A horizontal legend placed under the plot (``y < 0``) is anchored as :data:`LEGEND_BELOW`.
    Pass to ``go.Figure(layout=...)`` or ``fig.update_layout(**...)``.
    """
    merged = dict(margin=MARGIN, font=FONT, colorway=list(SERIES)) | overrides
    legend = merged.get("legend")
    if isinstance(legend, dict) and legend.get("orientation") == "h" and legend.get("y", 1) < 0:
        merged["legend"] = legend | LEGEND_BELOW
    return merged


# -- projector mode ------------------------------------------------------------
PROJECTOR_LINE_SCALE = 2.0
"""Line widths in projector mode, relative to the figure's own (plotly's default width is 2 px)."""
PROJECTOR_MARKER_SCALE = 1.5
PROJECTOR_FONT_SCALE = 1.4
PROJECTOR_MIN_FONT = 18
"""Smallest chart text in projector mode, in px (the body text is 22 px there)."""
PROJECTOR_GRID = dict(gridwidth=2, gridcolor="rgba(128, 128, 128, 0.55)")
"""Stronger gridlines: a mid grey that stands out on white and on black alike (the theme stays Streamlit's)."""
_LINE_TRACES = {"scatter", "scattergl", "scatter3d", "scatterpolar", "scatterternary", "contour"}
_PLOTLY_DEFAULT_SIZES = dict(line=2.0, marker=6.0, font=12.0)


def projector(fig):
    """A copy of the finished figure ``fig`` restyled for a projector: lines ×2, markers ×1.5, text ×1.4 (at
    least :data:`PROJECTOR_MIN_FONT` px), stronger gridlines; in its animation ``frames`` too.

    Colours, dashes and the template are left alone, so the chart still follows Streamlit's light or dark theme.
    """
    import plotly.graph_objects as go

    out = go.Figure(fig)
    for trace in out.data:
        _projector_trace(trace)
    out.layout.font.size = max(PROJECTOR_MIN_FONT, (out.layout.font.size or _PLOTLY_DEFAULT_SIZES["font"])
                               * PROJECTOR_FONT_SCALE)
    out.layout.xaxis.gridwidth = out.layout.yaxis.gridwidth = 1  # so the axes are in its spec, set below
    if out.layout.height:  # ×1.4 type on the same plot height: long axis titles would run past the plot
        out.layout.height = round(out.layout.height * PROJECTOR_FONT_SCALE)
    _projector_layout(out.layout)
    for frame in out.frames or ():
        for trace in frame.data or ():
            _projector_trace(trace)
        if frame.layout is not None:
            _projector_layout(frame.layout)
    return out


def _scaled(value, scale: float, default: float):
    if value is None:
        return default * scale
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value, dtype=float) * scale
    return value * scale


def _projector_trace(trace) -> None:
    if "colorbar" in trace:
        _at_least(trace.colorbar.tickfont, PROJECTOR_MIN_FONT)
    if trace.type not in _LINE_TRACES:
        return
    trace.line.width = _scaled(trace.line.width, PROJECTOR_LINE_SCALE, _PLOTLY_DEFAULT_SIZES["line"])
    if "marker" in trace and ("markers" in (getattr(trace, "mode", None) or "") or trace.marker.size is not None):
        trace.marker.size = _scaled(trace.marker.size, PROJECTOR_MARKER_SCALE, _PLOTLY_DEFAULT_SIZES["marker"])
        if trace.marker.line.width:
            trace.marker.line.width = _scaled(trace.marker.line.width, PROJECTOR_LINE_SCALE, 1.0)
    if "textfont" in trace and isinstance(trace.textfont.size, (int, float)):
        trace.textfont.size = max(PROJECTOR_MIN_FONT, trace.textfont.size * PROJECTOR_FONT_SCALE)


def _projector_layout(layout) -> None:
    """Every font set under ``layout`` (titles, legends, ticks, annotations) ×1.4; every axis's grid stronger."""
    spec = layout.to_plotly_json()
    spec.pop("template", None)  # Streamlit's theme: left alone
    for path in _font_paths(spec):
        font = layout
        for step in path:
            font = font[step]
        font.size = max(PROJECTOR_MIN_FONT, font.size * PROJECTOR_FONT_SCALE)
    # Streamlit's chart theme gives ticks, axis titles and legends font sizes of their own (they beat
    # layout.font), so those are set here outright where the builder left them unset.
    axes = [layout[name] for name in spec if name[1:5] == "axis" and name[0] in "xy"]
    for scene in (layout[name] for name in spec if name.startswith("scene")):
        axes += [scene.xaxis, scene.yaxis, scene.zaxis]
    for axis in axes:
        axis.update(PROJECTOR_GRID)
        _at_least(axis.tickfont, PROJECTOR_MIN_FONT)
        _at_least(axis.title.font, PROJECTOR_MIN_FONT + 2)
    if spec.get("title", {}).get("text"):
        layout.title.automargin = True  # larger type: the title pushes the plot down rather than over an axis title
    _at_least(layout.legend.font, PROJECTOR_MIN_FONT)
    _at_least(layout.title.font, PROJECTOR_MIN_FONT + 4)


def _at_least(font, size: float) -> None:
    font.size = max(size, font.size or 0)


def _font_paths(node, path: tuple = ()):
    """Paths to every ``…font`` with a numeric size in a layout's plain spec (the root ``font`` excepted)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict) and isinstance(value.get("size"), (int, float)):
                if path or key != "font":
                    yield path + (key,)
            elif isinstance(value, (dict, list, tuple)):
                yield from _font_paths(value, path + (key,))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _font_paths(value, path + (index,))
