"""Link-bound widgets: every view of a page can be shared as a link.

A value read from a link is checked before it reaches a widget: out-of-range
numbers are clamped and malformed or unknown values are ignored, each with a
visible notice naming its key, never an exception.  The checks are pure
functions (:func:`read_link`, :func:`read_query`, the ``*_field`` builders), so
they can be fuzzed without a Streamlit session; :class:`UrlState` applies them
to ``st.query_params`` and the page's widgets.

Why not Streamlit's own ``bind="query-params"`` (1.55+)?  Measured under
Streamlit 1.67 (``tests/test_links.py::test_streamlit_bind_still_lacks_what_urlstate_does``
re-checks it), a bound widget cannot carry this app's links:

- it drops a bad value silently: ``?y=5`` on a 0–1 slider, ``?y=nan`` or
  ``?scale=cubic`` give the default with no word to the visitor, where the
  app must clamp (``y=1``) and name the key in a notice;
- it reads other formats than the app's published links: ``?clip=0`` on a
  toggle and ``?losses=kl,cce`` on a multiselect are ignored (it wants
  ``true``/``false`` and repeated keys), so every shared link would break;
- the widget's key *is* the link name, so two pages' ``lr`` or ``y`` share
  one session-state key, and the ``page:name`` keys the pages' callbacks use
  (the gradients page's "Start" sets ``w`` and ``b``; the lab's preset sets
  every field) would have to change;
- setting a bound widget from code does not update the address (upstream
  issue 14670): after the gradients page's "Start" callback moves ``w`` and
  ``b``, the link would still name the old ones;
- the URL is written by the browser, not by the script run, so AppTest sees
  no link change at all and the link tests could not check what a page writes.

So a link value comes, in order of preference, from the live widget, the link,
the value the visitor last had on this page in this session, or the default;
and the page writes its non-default values back with ``st.query_params``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import streamlit as st

from lossviz.ui.navigation import run_under_app_navigation

MAX_PARAM_LENGTH = 200
"""Longer link values are refused outright: no widget needs one."""

FIELDS_STATE_KEY = "_lossviz_link_fields"
"""Session-state entry holding each page's :class:`LinkField` by link name (tests fuzz them directly)."""


@dataclass(frozen=True)
class LinkField:
    """How one widget's value is written into a link and read back from one.

    ``parse(key, raw, notices)`` returns the value, appending a notice when it
    had to adjust it (a clamp, a dropped choice), and raises ``ValueError`` to
    reject ``raw``; ``serialize(value)`` is the text the link carries.
    """

    parse: Callable[[str, str, list[str]], Any]
    serialize: Callable[[Any], str]


def read_link(key: str, values: Sequence[str], field: LinkField, notices: list[str]) -> Any | None:
    """The value that a link's ``values`` for ``key`` give ``field``, or ``None`` if they give none.

    Every problem is appended to ``notices`` and names ``key``.

    >>> notices = []
    >>> read_link("y", ["5"], number_field(0.0, 1.0), notices), notices
    (1.0, ['`y=5` is outside [0.0, 1.0]; using 1.'])
    >>> read_link("y", ["nan"], number_field(0.0, 1.0), []) is None
    True
    """
    if not values:
        return None
    if len(values) > 1:
        notices.append(f"`{_short(key)}` was given {len(values)} times in the link; the last one is used.")
    raw = values[-1]
    if len(raw) > MAX_PARAM_LENGTH:
        notices.append(f"`{_short(key)}` in the link is {len(raw)} characters long; ignored.")
        return None
    try:
        return field.parse(key, raw, notices)
    except (ValueError, OverflowError) as err:
        notices.append(f"`{_short(key)}={_short(raw)}` in the link was ignored: {err}")
        return None


def unknown_notice(key: str) -> str:
    """The notice for a link parameter that no widget of the page reads."""
    return f"Unknown link parameter `{_short(key)}` ignored."


def read_query(fields: Mapping[str, LinkField], query: Mapping[str, Sequence[str]]) -> tuple[dict[str, Any], list[str]]:
    """What a whole link gives a page whose widgets are ``fields``: accepted values by key, and the notices.

    The same steps :class:`UrlState` takes, without a Streamlit session.

    >>> read_query({"n": number_field(1, 9)}, {"n": ["3"], "zz": ["1"]})
    ({'n': 3}, ['Unknown link parameter `zz` ignored.'])
    """
    values: dict[str, Any] = {}
    notices: list[str] = []
    for key, raw in query.items():
        if key not in fields:
            notices.append(unknown_notice(key))
            continue
        value = read_link(key, list(raw), fields[key], notices)
        if value is not None:
            values[key] = value
    return values, notices


# -- the fields ------------------------------------------------------------


def number_field(min_value: float, max_value: float, as_int: bool | None = None) -> LinkField:
    """A number in [min_value, max_value], clamped into it with a notice; whole if ``as_int``.

    ``as_int`` defaults to whether both bounds are ints.
    """
    if as_int is None:
        as_int = _all_ints(min_value, max_value)

    def parse(key: str, raw: str, notices: list[str]):
        number = float(raw.strip())
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        if as_int and not number.is_integer():
            raise ValueError("expected a whole number")
        clamped = min(max(number, min_value), max_value)
        if clamped != number:
            notices.append(f"`{_short(key)}={_short(raw)}` is outside [{min_value}, {max_value}]; using {clamped:g}.")
        return int(clamped) if as_int else float(clamped)

    return LinkField(parse, _format_number)


def choice_field(options: Sequence[Any]) -> LinkField:
    """One of ``options``, written as its text."""
    by_text = {_format_number(o): o for o in options}

    def parse(key: str, raw: str, notices: list[str]):
        if raw not in by_text:
            raise ValueError(f"not one of {', '.join(by_text)}")
        return by_text[raw]

    return LinkField(parse, _format_number)


def choices_field(options: Sequence[Any]) -> LinkField:
    """Several of ``options``, written as ``a,b,c``; unknown ones are dropped with a notice."""
    by_text = {_format_number(o): o for o in options}

    def parse(key: str, raw: str, notices: list[str]):
        chosen, unknown = [], []
        for part in raw.split(",") if raw else []:  # "" is the link of an empty choice
            if part in by_text and by_text[part] not in chosen:
                chosen.append(by_text[part])
            elif part not in by_text:
                unknown.append(part)
        if unknown:
            notices.append(f"`{_short(key)}`: ignored unknown choices {', '.join(map(_short, unknown))}.")
        return chosen

    return LinkField(parse, lambda chosen: ",".join(_format_number(o) for o in chosen))


def flag_field() -> LinkField:
    """On or off, written as 1 or 0 (true/false, on/off, yes/no are read too)."""

    def parse(key: str, raw: str, notices: list[str]) -> bool:
        if raw.lower() in ("1", "true", "on", "yes"):
            return True
        if raw.lower() in ("0", "false", "off", "no"):
            return False
        raise ValueError("expected 1 or 0")

    return LinkField(parse, lambda on: "1" if on else "0")


def text_field(check: Callable[[str], Any]) -> LinkField:
    """Free text that ``check`` accepts (it raises ``ValueError`` otherwise)."""

    def parse(key: str, raw: str, notices: list[str]) -> str:
        check(raw)
        return raw

    return LinkField(parse, str)


CLAIMED = text_field(lambda raw: None)
"""The field of a parameter a page reads itself (:meth:`UrlState.claim`): any text, checked by the page."""


# -- the widgets -----------------------------------------------------------


class UrlState:
    """Widgets whose values live in the page's link.

    Create one near the top of a page, make widgets through it, and call
    :meth:`finish` at the end (it reports unknown link parameters), or
    :meth:`stop` to end the page early with its notices shown.  A value
    comes, in order of preference, from the live widget, the link, the value
    the visitor last had on this page in this session, or the default.
    """

    def __init__(self, page: str):
        run_under_app_navigation()
        self.page = page
        self._query = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
        self._fields: dict[str, LinkField] = {}
        self._notices: list[str] = []
        self._notice_box = st.empty()
        st.session_state.setdefault(FIELDS_STATE_KEY, {})[page] = self._fields

    def _bind(self, key: str, default: Any, field: LinkField, make_widget: Callable[[str], Any]) -> Any:
        if key in self._fields:
            raise ValueError(f"link parameter {key!r} is bound twice on page {self.page!r}")
        self._fields[key] = field
        state_key = f"{self.page}:{key}"
        shadow_key = f"_last:{state_key}"
        if state_key not in st.session_state:
            value = st.session_state.get(shadow_key, default)
            parsed = read_link(key, self._query.get(key, []), field, self._notices)
            st.session_state[state_key] = value if parsed is None else parsed
        value = make_widget(state_key)
        st.session_state[shadow_key] = value
        text = field.serialize(value)
        if value == default:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != text or len(st.query_params.get_all(key)) > 1:
            st.query_params[key] = text
        return value

    def claim(self, key: str) -> str | None:
        """Mark ``key`` as the page's own parameter (not "unknown") and return its last value in the link."""
        self._fields.setdefault(key, CLAIMED)
        values = self._query.get(key)
        return values[-1] if values else None

    def note(self, message: str) -> None:
        """Add a notice of the page's own to the notice area at the top."""
        self._notices.append(message)

    def finish(self) -> None:
        """Report unknown link parameters and show every notice of this run."""
        for key in self._query:
            if key not in self._fields:
                self._notices.append(unknown_notice(key))
                del st.query_params[key]
        self._show()

    def stop(self) -> None:
        """End the page here, like ``st.stop()``, with this run's notices shown.

        Parameters of widgets the page did not reach are not called unknown.
        """
        self._show()
        st.stop()

    def _show(self) -> None:
        if self._notices:
            self._notice_box.warning("  \n".join(self._notices), icon=":material/link_off:")

    # -- widgets ---------------------------------------------------------
    def slider(self, label: str, key: str, min_value: float, max_value: float, value: float,
               step: float | None = None, **kwargs) -> Any:
        """``st.slider`` for one int or float, clamped to its range when read from a link."""
        field = number_field(min_value, max_value, _all_ints(min_value, max_value, value))
        return self._bind(key, value, field, lambda k: st.slider(
            label, min_value=min_value, max_value=max_value, step=step, key=k, **kwargs))

    def number(self, label: str, key: str, min_value: float, max_value: float, value: float,
               step: float | None = None, **kwargs) -> Any:
        """``st.number_input`` bound to the link, with the slider's checks."""
        field = number_field(min_value, max_value, _all_ints(min_value, max_value, value))
        return self._bind(key, value, field, lambda k: st.number_input(
            label, min_value=min_value, max_value=max_value, step=step, key=k, **kwargs))

    def select(self, label: str, key: str, options: Sequence[Any], value: Any,
               widget: str = "selectbox", **kwargs) -> Any:
        """One choice among ``options`` (selectbox, radio, select_slider or segmented_control)."""
        makers = {
            "selectbox": lambda k: st.selectbox(label, options, key=k, **kwargs),
            "radio": lambda k: st.radio(label, options, key=k, **kwargs),
            "select_slider": lambda k: st.select_slider(label, options, key=k, **kwargs),
            "segmented_control": lambda k: st.segmented_control(
                label, options, key=k, selection_mode="single", **kwargs),
        }
        return self._bind(key, value, choice_field(options), makers[widget])

    def multiselect(self, label: str, key: str, options: Sequence[Any], value: Sequence[Any],
                    **kwargs) -> list[Any]:
        """Several choices among ``options``, written to the link as ``a,b,c``."""
        return self._bind(key, list(value), choices_field(options),
                          lambda k: st.multiselect(label, options, key=k, **kwargs))

    def toggle(self, label: str, key: str, value: bool, widget: str = "toggle", **kwargs) -> bool:
        """An on/off switch, written to the link as 1 or 0."""
        maker = st.toggle if widget == "toggle" else st.checkbox
        return self._bind(key, value, flag_field(), lambda k: maker(label, key=k, **kwargs))

    def text(self, label: str, key: str, value: str, check: Callable[[str], Any], **kwargs) -> str:
        """Free text that ``check`` accepts (it raises ``ValueError`` otherwise).

        A bad link value is ignored with a notice; a bad value typed by the
        visitor is returned as is, so the page can explain it next to the box.
        """
        return self._bind(key, value, text_field(check), lambda k: st.text_input(label, key=k, **kwargs))


def _all_ints(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _short(text: str, limit: int = 40) -> str:
    text = str(text).replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_number(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)
