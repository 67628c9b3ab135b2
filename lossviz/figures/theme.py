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
    """``marker`` of series ``i`` drawn every ``every`` points (staggered per series), for ``mode="lines+markers"``.

    A marker on every point would hide the line; a few say which series it is in grey print too.
    """
    sizes = np.zeros(points)
    every = max(1, min(every, max(points // 6, 1)))
    sizes[(i * 7) % every::every] = size
    return dict(symbol=MARKERS[i % len(MARKERS)], color=series_colour(i), size=sizes)


def tint(colour: str, amount: float) -> str:
    """``colour`` mixed with white: ``amount`` 0 keeps it, 1 gives white (for pale regions behind points)."""
    rgb = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)], float)
    mixed = np.round(rgb + (255.0 - rgb) * amount).astype(int)
    return "#" + "".join(f"{v:02x}" for v in mixed)


def translucent(colour: str, alpha: float) -> str:
    """``colour`` as ``rgba(…, alpha)``: a shaded band over the plot."""
    r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha:g})"


def layout(**overrides) -> dict:
    """The shared layout (margins, fonts, the series colours as colorway), ``overrides`` on top.

    Pass to ``go.Figure(layout=...)`` or ``fig.update_layout(**...)``.
    """
    return dict(margin=MARGIN, font=FONT, colorway=list(SERIES)) | overrides
