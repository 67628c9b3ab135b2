"""The one animation player: plotly frames with play, pause, step ±1, speed, reset and a scrubber.

Every animation of the app plays **in the browser**: a figure carries all its
frames (plotly ``frames``, each updating only the traces that move) and the
controls are plotly ``updatemenus`` and a ``sliders`` scrubber, so playing,
pausing and stepping never ask the server for anything.

**Nothing moves by itself.**  A figure opens on one frame (the one the page's
own control chose, or the last) and changes only when someone presses a
button or drags the scrubber; there is no autoplay.  This is how the app
honours ``prefers-reduced-motion`` (WCAG 2.1, 2.2.2 and 2.3.3): motion starts
only on request, every frame can be reached one step at a time, and the
frames jump (transitions of 0 ms, no easing).

**Step ±1 without the server.**  A plotly button's arguments are fixed when
the figure is drawn, but a frame may carry layout updates: frame *k* rewrites
the row of buttons so that the steps point at frames *k* − 1 and *k* + 1 and
Play continues after *k* (plotly replaces a menu's buttons as a whole, and
one menu is what keeps them from overlapping on a phone).  Frames are
drawn with plotly's ``redraw`` (its default), which is what makes the rewritten
buttons take effect.

**Keyboard.**  Plotly's buttons are SVG and cannot take focus.  So every
animation has a link-bound Streamlit slider next to it (the arrow keys step
it) that chooses the frame its figure opens on (``start`` here; the builders
take the step or epoch and keep it among the frames): stepping with the
keyboard works through a rerun, and Play still plays in the browser from
there.

Colours come from :mod:`lossviz.figures.theme`: the buttons are black on
white with a grey border in both Streamlit themes (21:1 text, 4.5:1 border on
white; a white button stands out on the dark theme).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from lossviz.figures import theme

MAX_FRAMES = 41
"""Frames per animation at most: enough to follow a curve, small enough to keep a figure's JSON light."""
FRAME_MS = 150
"""Time per frame at 1×."""
SPEEDS = (0.5, 1.0, 2.0, 4.0)
PLAY, PAUSE, STEP_BACK, STEP_ON, RESET = "▶ Play", "❚❚ Pause", "◀ step", "step ▶", "⟲ Reset"
SLIDER_LENGTH = 0.78
"""The scrubber's share of the width; the speed choice sits right of it."""
PLAYER_HEIGHT = 108
"""Pixels the buttons and the scrubber take above the plot (added to the figure's height and top margin)."""
BUTTON_STYLE = dict(bgcolor="white", bordercolor=theme.GREY, borderwidth=1,
                    font=dict(color=theme.BLACK, size=11))
ALT_SENTENCE = ("The chart is an animation that does not move by itself: its Play, Pause, step and Reset "
                "buttons and the scrubber under them show it frame by frame.")
"""Appended to the ``alt`` of an animated figure (:func:`alt_of`)."""

# Menu order in ``layout.updatemenus``: frames rewrite menu BUTTONS only.
BUTTONS, SPEED = 0, 1


def frame_indices(total: int, most: int = MAX_FRAMES, keep: int | None = None) -> np.ndarray:
    """Up to ``most`` evenly spread indices of ``range(total)``, always the first and last, and ``keep``.

    Args:
      total: how many steps there are (e.g. epochs + 1).
      most: frames wanted at most (``keep`` may add one more).
      keep: an index that must be a frame (the one a page opens on), or None.

    Returns:
      Sorted distinct int indices.

    >>> frame_indices(11, 4).tolist()
    [0, 3, 7, 10]
    >>> frame_indices(11, 4, keep=5).tolist()
    [0, 3, 5, 7, 10]
    """
    if total < 1:
        raise ValueError("an animation needs at least one step")
    picked = np.unique(np.round(np.linspace(0, total - 1, min(most, total))).astype(int))
    if keep is not None:
        picked = np.union1d(picked, [min(max(int(keep), 0), total - 1)])
    return picked


def _animate_args(names, duration_ms: float, fromcurrent: bool = False) -> list:
    # redraw (plotly's default) is kept: it is what makes a frame's rewritten buttons take effect.
    options = dict(mode="immediate", frame=dict(duration=duration_ms), transition=dict(duration=0))
    if fromcurrent:
        options["fromcurrent"] = True
    return [names, options]


def _buttons(names: Sequence[str], k: int, play_from: Sequence[str] | None = None) -> list[dict]:
    """The row of buttons as frame ``k`` sets it: Play on from ``k``, Pause, steps to k − 1 and k + 1, Reset."""
    last = len(names) - 1
    return [
        dict(label=PLAY, method="animate", args=_animate_args(play_from, FRAME_MS, fromcurrent=True)),
        dict(label=PAUSE, method="animate", args=_animate_args([None], 0)),
        dict(label=STEP_BACK, method="animate", args=_animate_args([names[max(k - 1, 0)]], 0)),
        dict(label=STEP_ON, method="animate", args=_animate_args([names[min(k + 1, last)]], 0)),
        dict(label=RESET, method="animate", args=_animate_args([names[0]], 0)),
    ]


class AnimatedFigure(go.Figure):
    """A plotly figure that also carries frames and player controls as plain JSON, unvalidated.

    Built as plotly objects, 61 frames and their buttons took about 110 ms per
    figure to validate and copy on this machine (the figure itself: 9 ms), on
    every script run that draws it.  Here they are kept as the dicts plotly.js
    reads, and :meth:`to_dict` (what ``st.plotly_chart``, ``to_json`` and
    ``show`` serialise) adds them to the validated rest.
    """

    _player: dict

    def to_dict(self) -> dict:
        spec = super().to_dict()
        spec["frames"] = self._player["frames"]
        spec["layout"].update(self._player["layout"])
        return spec

    @property
    def player_frames(self) -> list[dict]:
        """The frames, as sent to the browser."""
        return self._player["frames"]

    @property
    def player_layout(self) -> dict:
        """``updatemenus`` and ``sliders``, as sent to the browser."""
        return self._player["layout"]


def add_player(fig: go.Figure, frames: Sequence[dict], labels: Sequence[str], start: int | None = None,
               prefix: str = "epoch ", clearance: int = 0) -> AnimatedFigure:
    """Give ``fig`` its frames, the player's buttons and a scrubber; it opens on frame ``start``.

    Row one: Play, Pause, step back, step on, Reset.  Row two: the scrubber
    with the current frame's label, and the speed (a choice plays at that
    speed from the frame shown; before the player has shown any frame, plotly
    knows no current one and plays from the first).

    Args:
      fig: the figure as it looks at frame ``start`` (its traces drawn there).
      frames: one dict per frame with ``data`` (trace updates as plain dicts,
        only the traces that move), ``traces`` (their indices in ``fig.data``)
        and optionally ``layout`` (e.g. a title naming the epoch, a moved
        shape; no ``updatemenus``).  Plain JSON values: they are not validated.
      labels: the scrubber's label of each frame (e.g. the epoch number).
      start: the frame shown first; None is the last.
      prefix: the scrubber's current-value prefix.
      clearance: pixels between the plot and the player (room for subplot titles).

    Returns:
      ``fig`` itself, now an :class:`AnimatedFigure`.
    """
    count = len(frames)
    if count < 1 or len(labels) != count:
        raise ValueError(f"{count} frames need as many labels, got {len(labels)}")
    start = count - 1 if start is None else min(max(int(start), 0), count - 1)
    names = [str(k) for k in range(count)]
    built = [dict(name=names[k], data=list(frame["data"]), traces=list(frame["traces"]),
                  layout=dict(frame.get("layout", {}), updatemenus=[dict(buttons=_buttons(names, k))]))
             for k, frame in enumerate(frames)]
    # Until a frame has played plotly knows no current frame, so Play first lists the frames after ``start``.
    first_play = None if start == count - 1 else names[start + 1:]
    row = dict(type="buttons", direction="left", showactive=False, y=1, yanchor="bottom",
               pad=dict(b=clearance + 66), **BUTTON_STYLE)
    speeds = [dict(label=f"{s:g}×", method="animate", args=_animate_args(None, FRAME_MS / s, fromcurrent=True))
              for s in SPEEDS]
    menus = [None] * 2
    # A little left of the plot, into the y axis's margin: the row then fits a phone's 390 px.
    menus[BUTTONS] = dict(row, x=-0.045, xanchor="left", buttons=_buttons(names, start, first_play))
    menus[SPEED] = dict(BUTTON_STYLE, type="dropdown", direction="down", showactive=True, active=SPEEDS.index(1.0),
                        buttons=speeds, x=1, xanchor="right", y=1, yanchor="bottom", pad=dict(b=clearance + 6))
    slider = dict(
        active=start, x=0, len=SLIDER_LENGTH, y=1, yanchor="bottom", pad=dict(b=clearance + 2, t=0, l=0),
        ticklen=3, minorticklen=0, tickcolor=theme.GREY, bordercolor=theme.GREY, bgcolor="white",
        currentvalue=dict(prefix=prefix, xanchor="left", offset=6, font=dict(size=13)), transition=dict(duration=0),
        steps=[dict(label=labels[k], method="animate", args=_animate_args([names[k]], 0)) for k in range(count)],
    )
    top = fig.layout.margin.t if fig.layout.margin.t is not None else theme.MARGIN["t"]
    # The title stays at the very top (plotly centres it in the top margin, now taller, by default).
    fig.update_layout(title=dict(y=1, yref="container", yanchor="top", pad_t=12),
                      height=(fig.layout.height or 450) + PLAYER_HEIGHT + clearance,
                      margin=dict(t=top + PLAYER_HEIGHT + clearance))
    fig.__class__ = AnimatedFigure  # same object, same traces: no copy (a copy costs as much as building it)
    fig._player = dict(frames=built, layout=dict(updatemenus=menus, sliders=[slider]))
    return fig


def rounded(values, decimals: int = 4) -> list[float]:
    """``values`` (any shape, flattened) rounded to ``decimals`` places, as a list: short JSON in frames.

    >>> rounded([0.123456, 2e-9, 3.0], 3)
    [0.123, 0.0, 3.0]
    """
    return np.round(np.ravel(np.asarray(values, dtype=np.float64)), decimals).tolist()


def alt_of(fig: go.Figure, alt: str) -> str:
    """``alt`` for ``fig``: if it is animated, followed by :data:`ALT_SENTENCE` (how to play it)."""
    return f"{alt.rstrip()} {ALT_SENTENCE}" if isinstance(fig, AnimatedFigure) else alt


def keep_player(source: go.Figure, restyled: go.Figure) -> go.Figure:
    """``restyled`` (a restyled copy of ``source``, e.g. for the projector) with ``source``'s frames and player.

    Frames only move data, so a copy's larger lines and markers carry over to every frame.
    """
    if isinstance(source, AnimatedFigure) and restyled is not source:
        restyled.__class__ = AnimatedFigure
        restyled._player = source._player
    return restyled
