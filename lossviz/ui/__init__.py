"""The only Streamlit-aware module: link-bound widgets and shared resources.

:class:`UrlState` binds a page's widgets to ``st.query_params`` so that any
view can be shared as a link.  A value read from a link is checked before it
reaches a widget: out-of-range numbers are clamped and malformed or unknown
values are ignored, each with a visible notice at the top of the page, never
an exception.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Sequence

# Plotly finds pandas by looking in sys.modules; when a cold server's first sessions run at once, one
# of them can meet a half-imported pandas there.  A real import here, under the import lock, before
# any page draws a figure, rules that out (the load test caught it).
import pandas  # noqa: F401
import streamlit as st

from lossviz import data

MAX_PARAM_LENGTH = 200
"""Longer link values are refused outright: no widget needs one."""


class UrlState:
    """Widgets whose values live in the page's link.

    Create one near the top of a page, make widgets through it, and call
    :meth:`finish` at the end (it reports unknown link parameters).  A value
    comes, in order of preference, from the live widget, the link, the value
    the visitor last had on this page in this session, or the default.
    """

    def __init__(self, page: str):
        _run_under_app_navigation()
        self.page = page
        self._query = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
        self._known: set[str] = set()
        self._notices: list[str] = []
        self._notice_box = st.container()

    # -- the core --------------------------------------------------------
    def _bind(
        self, key: str, default: Any, parse: Callable[[str], Any], serialize: Callable[[Any], str],
        make_widget: Callable[[str], Any],
    ) -> Any:
        if key in self._known:
            raise ValueError(f"link parameter {key!r} is bound twice on page {self.page!r}")
        self._known.add(key)
        state_key = f"{self.page}:{key}"
        shadow_key = f"_last:{state_key}"
        if state_key not in st.session_state:
            value = st.session_state.get(shadow_key, default)
            values = self._query.get(key)
            if values:
                if len(values) > 1:
                    self._notices.append(f"`{key}` was given {len(values)} times in the link; the last one is used.")
                parsed = self._parse(key, values[-1], parse)
                if parsed is not None:
                    value = parsed
            st.session_state[state_key] = value
        value = make_widget(state_key)
        st.session_state[shadow_key] = value
        text = serialize(value)
        if value == default:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != text or len(st.query_params.get_all(key)) > 1:
            st.query_params[key] = text
        return value

    def _parse(self, key: str, raw: str, parse: Callable[[str], Any]) -> Any | None:
        if len(raw) > MAX_PARAM_LENGTH:
            self._notices.append(f"`{key}` in the link is {len(raw)} characters long; ignored.")
            return None
        try:
            return parse(raw)
        except (ValueError, OverflowError) as err:
            self._notices.append(f"`{key}={_short(raw)}` in the link was ignored: {err}")
            return None

    def note(self, message: str) -> None:
        """Add a notice of the page's own to the notice area at the top."""
        self._notices.append(message)

    def finish(self) -> None:
        """Report unknown link parameters and show every notice of this run."""
        for key in self._query:
            if key not in self._known:
                self._notices.append(f"Unknown link parameter `{_short(key)}` ignored.")
                del st.query_params[key]
        if self._notices:
            with self._notice_box:
                st.warning("  \n".join(self._notices), icon=":material/link_off:")

    # -- widgets ---------------------------------------------------------
    def slider(self, label: str, key: str, min_value: float, max_value: float, value: float,
               step: float | None = None, **kwargs) -> Any:
        """``st.slider`` for one int or float, clamped to its range when read from a link."""
        as_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (min_value, max_value, value))
        parse = _number_parser(min_value, max_value, as_int, self._notices, key)
        return self._bind(
            key, value, parse, _format_number,
            lambda k: st.slider(label, min_value=min_value, max_value=max_value, step=step, key=k, **kwargs),
        )

    def number(self, label: str, key: str, min_value: float, max_value: float, value: float,
               step: float | None = None, **kwargs) -> Any:
        """``st.number_input`` bound to the link, with the slider's checks."""
        as_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (min_value, max_value, value))
        parse = _number_parser(min_value, max_value, as_int, self._notices, key)
        return self._bind(
            key, value, parse, _format_number,
            lambda k: st.number_input(label, min_value=min_value, max_value=max_value, step=step, key=k, **kwargs),
        )

    def select(self, label: str, key: str, options: Sequence[Any], value: Any,
               widget: str = "selectbox", **kwargs) -> Any:
        """One choice among ``options`` (selectbox, radio, select_slider or segmented_control)."""
        by_text = {_format_number(o): o for o in options}

        def parse(raw: str) -> Any:
            if raw not in by_text:
                raise ValueError(f"not one of {', '.join(by_text)}")
            return by_text[raw]

        makers = {
            "selectbox": lambda k: st.selectbox(label, options, key=k, **kwargs),
            "radio": lambda k: st.radio(label, options, key=k, **kwargs),
            "select_slider": lambda k: st.select_slider(label, options, key=k, **kwargs),
            "segmented_control": lambda k: st.segmented_control(
                label, options, key=k, selection_mode="single", **kwargs),
        }
        return self._bind(key, value, parse, _format_number, makers[widget])

    def multiselect(self, label: str, key: str, options: Sequence[Any], value: Sequence[Any],
                    **kwargs) -> list[Any]:
        """Several choices among ``options``, written to the link as ``a,b,c``."""
        by_text = {_format_number(o): o for o in options}

        def parse(raw: str) -> list[Any]:
            chosen, unknown = [], []
            for part in raw.split(","):
                if part in by_text and by_text[part] not in chosen:
                    chosen.append(by_text[part])
                elif part not in by_text:
                    unknown.append(part)
            if unknown:
                self._notices.append(f"`{key}`: ignored unknown choices {', '.join(map(_short, unknown))}.")
            return chosen

        return self._bind(
            key, list(value), parse, lambda v: ",".join(_format_number(o) for o in v),
            lambda k: st.multiselect(label, options, key=k, **kwargs),
        )

    def toggle(self, label: str, key: str, value: bool, widget: str = "toggle", **kwargs) -> bool:
        """An on/off switch, written to the link as 1 or 0."""

        def parse(raw: str) -> bool:
            if raw.lower() in ("1", "true", "on", "yes"):
                return True
            if raw.lower() in ("0", "false", "off", "no"):
                return False
            raise ValueError("expected 1 or 0")

        maker = st.toggle if widget == "toggle" else st.checkbox
        return self._bind(key, value, parse, lambda v: "1" if v else "0",
                          lambda k: maker(label, key=k, **kwargs))

    def text(self, label: str, key: str, value: str, check: Callable[[str], Any], **kwargs) -> str:
        """Free text that ``check`` accepts (it raises ``ValueError`` otherwise).

        A bad link value is ignored with a notice; a bad value typed by the
        visitor is returned as is, so the page can explain it next to the box.
        """

        def parse(raw: str) -> str:
            check(raw)
            return raw

        return self._bind(key, value, parse, str, lambda k: st.text_input(label, key=k, **kwargs))


def _run_under_app_navigation() -> None:
    """Rerun a page that Streamlit started without ``app.py``'s navigation.

    With a top-level ``pages/`` folder, the first script run of a server
    process uses Streamlit's legacy folder mode: a page opened by direct link
    runs on its own and the sidebar lists file names.  Leaving that mode and
    rerunning sends the same page through ``app.py``'s ``st.navigation`` (page
    file names match their link paths, so the rerun finds it).

    Only a session's first run is rerun: a later run may carry a button
    click, which a rerun would drop.  (AppTest starts every run in folder
    mode; there the page simply goes on.)
    """
    from streamlit.runtime.pages_manager import PagesManager

    first_run = not st.session_state.get(_SESSION_STARTED)
    st.session_state[_SESSION_STARTED] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()


_SESSION_STARTED = "_lossviz_session_started"


def _short(text: str, limit: int = 40) -> str:
    text = str(text).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_number(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _number_parser(min_value, max_value, as_int: bool, notices: list[str], key: str):
    def parse(raw: str):
        number = float(raw.strip())
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        if as_int and not number.is_integer():
            raise ValueError("expected a whole number")
        clamped = min(max(number, min_value), max_value)
        if clamped != number:
            notices.append(f"`{key}={_short(raw)}` is outside [{min_value}, {max_value}]; using {clamped:g}.")
        return int(clamped) if as_int else float(clamped)

    return parse


# --------------------------------------------------------------------------
# Shared resources, loaded once per server process
# --------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=2)
def _cached_mnist(path: str | None) -> data.Mnist:
    # Keyed by the configured path so that changing LOSSVIZ_MNIST is honoured;
    # a failed load raises, and Streamlit does not cache exceptions.
    return data.load_mnist(path)


def mnist_or_error() -> data.Mnist | None:
    """MNIST, loaded once per process; ``None`` after a clear message if it cannot be."""
    try:
        return _cached_mnist(os.environ.get(data.MNIST_ENV) or None)
    except data.DataError as err:
        st.error(f"**MNIST is not available.** {err}", icon=":material/database_off:")
        return None


def mnist_or_stop() -> data.Mnist:
    """MNIST, loaded once per process; a clear message and a stop of the page if it cannot be."""
    mnist = mnist_or_error()
    if mnist is None:
        st.stop()
    return mnist
