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

Two keys work on every page: ``present=1`` (projector mode, :mod:`lossviz.ui.present`) and
``hide=a,b``, which hides the controls of those link keys (not drawn, their values still from
the link) and the sections declared with :meth:`UrlState.shows`, until Reveal drops it.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

import streamlit as st

from lossviz.ui import present
from lossviz.ui.navigation import run_under_app_navigation

MAX_PARAM_LENGTH = 200
"""Longer link values are refused outright: no widget needs one."""

FIELDS_STATE_KEY = "_lossviz_link_fields"
"""Session-state entry holding each page's :class:`LinkField` by link name (tests fuzz them directly)."""

HIDE_KEY = "hide"
"""The link parameter naming the controls and sections an exercise link hides until Reveal."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}")  # a hideable name: a link key or a section name


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


def names_field(known: Collection[str] | None = None, unsure: bool = False) -> LinkField:
    """Names of hideable controls and sections, written ``a,b,c``; names not in ``known`` are dropped with a notice.

    ``known`` None accepts every well-formed name.  ``unsure``: ``known`` may lack names (a hidden section's
    controls were not reached), so names outside it are kept, with a notice that says so.

    >>> notices = []
    >>> names_field({"x", "curves"}).parse("hide", "curves,zz,x,curves", notices), notices[0][:33]
    (['curves', 'x'], '`hide`: ignored unknown names zz ')
    """

    def parse(key: str, raw: str, notices: list[str]) -> list[str]:
        chosen, unknown = [], []
        for part in raw.split(",") if raw else []:
            part = part.strip()
            well_formed = bool(NAME_PATTERN.fullmatch(part))
            if well_formed and (known is None or part in known or unsure):
                if part not in chosen:
                    chosen.append(part)
            if part and not (well_formed and (known is None or part in known)) and part not in unknown:
                unknown.append(part)
        if unknown:
            names = ", ".join(map(_short, unknown))
            notices.append(f"`{_short(key)}`: " + (f"{names} not found on this page, unless inside a hidden section"
                                                   if unsure else f"ignored unknown names {names}")
                           + " (the page lists its names under Exercise links in the sidebar).")
        return chosen

    return LinkField(parse, ",".join)


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
        self._reveal_box = st.empty()
        st.session_state.setdefault(FIELDS_STATE_KEY, {})[page] = self._fields
        self._fields[present.PRESENT_KEY] = flag_field()
        present.start(read_link(present.PRESENT_KEY, self._query.get(present.PRESENT_KEY, []), flag_field(),
                                self._notices))
        self._fields[HIDE_KEY] = names_field()
        # Judged against the page's names in finish(), when they are all known; here only what to hide.
        self._hide = set(read_link(HIDE_KEY, self._query.get(HIDE_KEY, []), names_field(), []) or ())
        self._hideable: list[str] = []
        self._skipped_section = False

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
        if field is not CLAIMED and key not in self._hideable:
            self._hideable.append(key)
        # A hidden control is not drawn; its value is the one the link, the session or the default gives.
        value = st.session_state[state_key] if key in self._hide else make_widget(state_key)
        st.session_state[shadow_key] = value
        text = field.serialize(value)
        if value == default:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != text or len(st.query_params.get_all(key)) > 1:
            st.query_params[key] = text
        return value

    def fragment(self, func: Callable[..., None]) -> Callable[..., None]:
        """``st.fragment`` for a section of the page: moving one of its controls reruns only the section.

        The section's link-bound widgets are made again in each of its own reruns, so the keys it bound
        in its last run are released first (a key bound twice in one run still raises).  Arguments are
        those of the page's last full run (``st.fragment``'s rule): pass what a control outside the section
        decides, and that control reruns the page.
        """
        bound_last_run: set[str] = set()

        @st.fragment
        @functools.wraps(func)
        def section(*args, **kwargs) -> None:
            for key in bound_last_run:
                self._fields.pop(key, None)
            before = set(self._fields)
            try:
                func(*args, **kwargs)
            finally:
                bound_last_run.clear()
                bound_last_run.update(set(self._fields) - before)

        return section

    def claim(self, key: str) -> str | None:
        """Mark ``key`` as the page's own parameter (not "unknown") and return its last value in the link."""
        self._fields.setdefault(key, CLAIMED)
        values = self._query.get(key)
        return values[-1] if values else None

    def shows(self, name: str) -> bool:
        """Declare a hideable section ``name`` of the page; False when the link hides it (``hide=name``)."""
        if name not in self._hideable:
            self._hideable.append(name)
        hidden = name in self._hide
        self._skipped_section |= hidden
        return not hidden

    def note(self, message: str) -> None:
        """Add a notice of the page's own to the notice area at the top."""
        self._notices.append(message)

    def finish(self) -> None:
        """Report unknown link parameters, list the page's hideable names, and show every notice of this run.

        Keys that a hidden section may hold are judged by an earlier full run of the page in this process.
        """
        judged, seen_keys, seen_names = present.page_names(self.page, not self._skipped_section,
                                                           set(self._fields), self._hideable)
        for key in self._query:
            if key not in self._fields and (not self._skipped_section or judged and key not in seen_keys):
                self._notices.append(unknown_notice(key))
                del st.query_params[key]
        self._fields[HIDE_KEY] = names_field(seen_names, unsure=not judged)
        hidden = read_link(HIDE_KEY, self._query.get(HIDE_KEY, []), self._fields[HIDE_KEY], self._notices)
        if hidden is not None:
            text = self._fields[HIDE_KEY].serialize(hidden)
            if not hidden:
                del st.query_params[HIDE_KEY]
            elif st.query_params.get_all(HIDE_KEY) != [text]:
                st.query_params[HIDE_KEY] = text
        self._show([name for name in hidden or [] if name in seen_names])
        present.exercise_links(self.page, self._hideable)

    def stop(self) -> None:
        """End the page here, like ``st.stop()``, with this run's notices shown.

        Parameters of widgets the page did not reach are not called unknown.
        """
        self._show([name for name in self._hideable if name in self._hide])
        st.stop()

    def _show(self, hidden: Sequence[str]) -> None:
        if self._notices:
            self._notice_box.warning("  \n".join(self._notices), icon=":material/link_off:")
        if hidden:
            present.reveal_button(self._reveal_box, hidden, self.page, HIDE_KEY)

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
