"""Charts that speak: every plotly chart with an ``alt`` (its accessible name) and its numbers one click away.

WCAG 2.1 asks of a complex chart a text equivalent (1.1.1): the ``alt`` says the takeaway in a sentence
(Streamlit puts it on the chart as ``aria-label`` with ``role="figure"``), and a small "Data" expander
under it holds the numbers it draws as a table, downloadable as CSV. The table is built only once the
expander is opened (a keyed, stateful expander): sent closed, it was the biggest payload of most pages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lossviz.figures import player, theme
from lossviz.lessons import describe
from lossviz.ui import present

DOWNLOAD_LABEL = "Download the data (CSV)"
MAX_ROWS = 20_000  # a surface of 141×141 points is 19,881 rows; more is decimated, not dropped silently


def _axis_title(layout: Any, name: str) -> str:
    axis = getattr(layout, name, None)
    text = getattr(getattr(axis, "title", None), "text", None) if axis is not None else None
    return text or ""


def _array(values) -> np.ndarray:
    return np.asarray([] if values is None else values)


def figure_series(fig) -> list[describe.Series]:
    """The numbers each trace of a plotly figure draws, as describe.Series (traces without data are skipped)."""
    series = []
    for trace in fig.data:
        name = (trace.name or "").strip() if hasattr(trace, "name") else ""
        z = getattr(trace, "z", None)
        if trace.type == "image":
            series.append(describe.Series(name, "image", _array(None), _array(None),
                                          None if z is None else _array(z)))
        elif z is not None and np.ndim(z) == 2:
            z = np.asarray(z, dtype=float)
            x, y = _array(getattr(trace, "x", None)), _array(getattr(trace, "y", None))
            x = x[0] if x.ndim == 2 else x  # a surface may give its axes as full 2-D grids
            y = y[:, 0] if y.ndim == 2 else y
            x = x if x.size == z.shape[-1] else np.arange(z.shape[-1])
            y = y if y.size == z.shape[0] else np.arange(z.shape[0])
            series.append(describe.Series(name, "grid", x, y, z))
        elif z is not None:  # a line or points in 3-D: its height along x
            z = _array(z)
            x = _array(getattr(trace, "x", None))
            series.append(describe.Series(name, "line", x if x.size == z.size else np.arange(z.size), z))
        elif getattr(trace, "y", None) is not None:
            y = _array(trace.y)
            x = _array(getattr(trace, "x", None))
            x = x if x.size == y.size else np.arange(y.size)
            series.append(describe.Series(name, "bar" if trace.type == "bar" else "line", x, y))
    return series


def figure_alt(fig) -> str:
    """The generic takeaway of a figure from its own traces: title, then each series' extremes."""
    title = getattr(getattr(fig.layout, "title", None), "text", None) or ""
    series = figure_series(fig)
    named = [s for s in series if s.name]  # unnamed traces mark points of a named one (a minimum, a label)
    return describe.figure_sentence(title, named or series, _axis_title(fig.layout, "xaxis"),
                                    _axis_title(fig.layout, "yaxis"))


def figure_table(fig) -> pd.DataFrame:
    """The numbers a figure draws, one row per point: series, x, y (and value for grids)."""
    frames = []
    for s in figure_series(fig):
        if s.kind == "image":
            continue
        if s.kind == "grid":
            yy, xx = np.meshgrid(np.arange(s.y.size), np.arange(s.x.size), indexing="ij")
            frame = pd.DataFrame({"x": s.x[xx.ravel()], "y": s.y[yy.ravel()], "value": np.ravel(s.z)})
        else:
            frame = pd.DataFrame({"x": s.x, "y": s.y})
        frame.insert(0, "series", s.name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"series": []})
    if len(table) > MAX_ROWS:
        table = table.iloc[:: -(-len(table) // MAX_ROWS)].reset_index(drop=True)
    return table


def chart(fig, alt: str | None = None, data=None, key: str | None = None, box=None,
          with_data: bool = True, label: str = "Data") -> None:
    """Draw ``fig`` with an accessible name and, under it, a "Data" expander with its numbers.

    Args:
      fig: a plotly figure (drawn in Streamlit's chart theme, the default; restyled by
        ``theme.projector`` in projector mode, its alt and table taken from it as built).
      alt: the one-sentence takeaway; None takes the generic one from the figure's traces.
      data: the table to show (DataFrame or dict of columns); None takes every trace's points (only
        computed once the expander is open, when ``key`` is given).
      key: the chart's element key; the Data expander, its table and its download get keys derived from it
        (without one the table is built and sent even while the expander is closed).
      box: where to draw (a column, an st.empty(), ...); None is the current container.
      with_data: False for frames of a live chart, whose numbers change faster than anyone can read.
      label: the expander's label.
    """
    box = st if box is None else box
    alt = player.alt_of(fig, alt or figure_alt(fig))
    drawn = player.keep_player(fig, theme.projector(fig)) if present.on() else fig
    if not with_data:
        box.plotly_chart(drawn, width="stretch", key=key, alt=alt)
        return
    with box.container():
        st.plotly_chart(drawn, width="stretch", key=key, alt=alt)
        data_expander((lambda: figure_table(fig)) if data is None else data, label, key)


# On a phone a table of six columns is wider than the screen, and its scrolling box cannot take the keyboard's
# focus (WCAG 2.1.1): there its type is a little smaller, so that whole words fit.
NARROW_TABLES = ('<style>@media (max-width: 480px) { [data-testid="stTable"] table { font-size: 0.75rem; } '
                 '[data-testid="stTable"] table :is(th, td) { padding: 0.25rem; } }</style>')


def small_table(rows: list[dict], row_header: str, percent: tuple[str, ...] = (),
                by_column: str | None = None) -> None:
    """A few rows (one per loss, say) as a plain HTML table, each row headed by its ``row_header`` value.

    Streamlit's interactive grid (``st.dataframe``) draws on a canvas and starts a script of its own in each
    tab; for five rows that is most of its cost (the zoo's four tables took 0.4 s of a warm visit as grids),
    and a screen reader reads a plain table's row and column headers as they are.

    Args:
      rows: dicts with the same keys, ``row_header`` among them.
      row_header: the column whose values head the rows.
      percent: columns of fractions, shown as percentages; other numbers get four significant digits.
      by_column: if given, each dict is drawn as a column, headed by its ``row_header`` value, and its keys
        head the rows, under this name (a few records of many numbers: narrow enough for a phone);
        ``percent`` is then ignored.
    """
    st.html(NARROW_TABLES)
    frame = pd.DataFrame(rows).set_index(row_header)
    if by_column:
        frame = frame.T.rename_axis(index=by_column, columns=None)
        st.table(frame.style.format(lambda v: f"{v:.4g}" if isinstance(v, float) else v))
        return
    numbers = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c]) and c not in percent]
    st.table(frame.style.format("{:.1%}", subset=list(percent)).format("{:.4g}", subset=numbers))


def expander_key(key: str) -> str:
    """The session-state key of the "Data" expander under the element keyed ``key`` (True while open)."""
    return f"{key}-open"


def opened_expander(label: str, key: str):
    """A closed expander that is filled only once it is opened: the container while open, else ``None``.

    Opening it reruns the script (Enter on its label is the one action), which then fills it; closed, its
    contents are neither built nor sent, nor drawn hidden by the browser.
    """
    box = st.expander(label, key=key, on_change="rerun")
    return box if box.open else None


def data_expander(data, label: str = "Data", key: str | None = None) -> None:
    """A closed expander holding ``data`` as a table and a CSV download, built only once it is opened.

    Args:
      data: a DataFrame, a dict of columns, or a function returning one (called only when it is shown).
      label: the expander's label.
      key: the base of the expander's key (``expander_key``), the table's and the download's; without
        one the expander cannot tell whether it is open, so its table is built and sent closed.
    """
    box = st.expander(label) if key is None else opened_expander(label, expander_key(key))
    if box is None:
        return
    table = pd.DataFrame(data() if callable(data) else data)
    with box:
        st.dataframe(table, hide_index=True, height=min(240, 40 + 35 * len(table)),
                     key=None if key is None else f"{key}-data")
        st.download_button(DOWNLOAD_LABEL, table.to_csv(index=False), file_name=f"{key or 'chart'}.csv",
                           mime="text/csv", on_click="ignore", key=None if key is None else f"{key}-csv",
                           icon=":material/download:")
