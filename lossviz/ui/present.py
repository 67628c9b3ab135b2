"""Teaching with the app: projector mode, and the Reveal button and name list of exercise links.

**Projector mode**: larger type, thicker chart lines and the long prose folded away, for a lecture hall.

One session-state entry (:data:`PRESENT_STATE_KEY`) holds the mode for the whole session, so it follows
the visitor from page to page; a toggle at the top of every page's sidebar sets it, and while it is on the
page's link carries ``present=1`` (``present=0`` or ``1`` in a link sets it).  What it changes lives in one
place each: the charts in :func:`lossviz.figures.theme.projector` (applied by ``lossviz.ui.charts.chart``),
the type size in :func:`style` (Streamlit sizes its text in ``rem``, so one rule on the root ``html``
element scales every text and keeps the theme's colours), the prose in :func:`prose`.

**Exercise links**: ``hide=a,b`` hides a page's controls and sections (parsed and applied by
:class:`lossviz.ui.links.UrlState`); here are the Reveal button that shows them again and the sidebar's
"Exercise links" expander that lists the names a page accepts.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

PRESENT_KEY = "present"
"""The link parameter."""
PRESENT_STATE_KEY = "_lossviz_present"
"""The mode itself, one entry for the whole session (a widget's own key is dropped when its page is left)."""
_TOGGLE_KEY = "_lossviz_present_toggle"
TOGGLE_LABEL = "Projector mode"
PROSE_LABEL = "Read the explanation"
REVEAL_LABEL = "Reveal"
EXERCISE_LABEL = "Exercise links"
ROOT_FONT_PX = 22
"""The root font size in projector mode: 1.375 × the browser's 16 px, so body text is about 22 px."""


def on() -> bool:
    """Whether this session is in projector mode."""
    return bool(st.session_state.get(PRESENT_STATE_KEY, False))


def start(from_link: bool | None) -> None:
    """Set the mode from the link (``None``: the link does not say), draw the toggle, keep the link in step.

    Called once per page run, by :class:`lossviz.ui.links.UrlState`.
    """
    if from_link is not None:
        st.session_state[PRESENT_STATE_KEY] = from_link
    st.session_state[_TOGGLE_KEY] = on()  # the toggle shows the session's mode on every page
    st.sidebar.toggle(TOGGLE_LABEL, key=_TOGGLE_KEY, on_change=_toggled,
                      help="Larger type, thicker lines and the long explanations folded away, for a lecture "
                           "hall. Stays on from page to page; the link carries `present=1`.")
    _write_link()
    if on():
        st.html(style())


def style() -> str:
    """The one rule projector mode adds to the page: a larger root font size (everything in ``rem`` follows)."""
    return f"<style>html {{ font-size: {ROOT_FONT_PX}px; }}</style>"


def prose(markdown: str) -> None:
    """A long paragraph: shown as it is, or folded into a closed "Read the explanation" expander in projector mode."""
    if on():
        with st.expander(PROSE_LABEL, icon=":material/menu_book:"):
            st.markdown(markdown)
    else:
        st.markdown(markdown)


def _toggled() -> None:
    st.session_state[PRESENT_STATE_KEY] = bool(st.session_state[_TOGGLE_KEY])
    _write_link()  # before the rerun reads the link, or the old present=1 would switch it back on


def _write_link() -> None:
    if on():
        if st.query_params.get(PRESENT_KEY) != "1" or len(st.query_params.get_all(PRESENT_KEY)) > 1:
            st.query_params[PRESENT_KEY] = "1"
    elif PRESENT_KEY in st.query_params:
        del st.query_params[PRESENT_KEY]


# -- exercise links ------------------------------------------------------------
_SEEN: dict[str, tuple[set[str], set[str]]] = {}
"""Per page, in this process: the link keys and the hideable names its full runs (no section hidden) had."""


def page_names(page: str, full_run: bool, keys: set[str], names: Sequence[str]) -> tuple[bool, set[str], set[str]]:
    """Whether a link's names can be judged on ``page``, and the link keys and hideable names it is known to have.

    A run that hides a section does not reach the controls inside it; their names are known from an
    earlier full run of the page in this process, if there was one (else nothing can be judged).
    """
    if full_run:
        seen_keys, seen_names = _SEEN.setdefault(page, (set(), set()))
        seen_keys |= keys
        seen_names |= set(names)
    judged = page in _SEEN
    seen_keys, seen_names = _SEEN.get(page, (set(), set()))
    return judged, seen_keys | keys, seen_names | set(names)


def reveal_button(box, hidden: Sequence[str], page: str, hide_key: str) -> None:
    """In ``box`` (near the top of the page): what the link hides, and the button that shows it again."""
    def reveal() -> None:
        if hide_key in st.query_params:
            del st.query_params[hide_key]  # the address stays the link of what is shown

    with box.container():
        st.info(f"Hidden for an exercise: {', '.join(hidden)}. Predict, then press {REVEAL_LABEL}.",
                icon=":material/visibility_off:")
        st.button(REVEAL_LABEL, key=f"_lossviz_reveal:{page}", on_click=reveal, icon=":material/visibility:")


def exercise_links(page: str, names: Sequence[str]) -> None:
    """The sidebar's "Exercise links" expander (at its bottom): the names ``hide=`` takes on this page."""
    path = "/" if page == "home" else f"/{page}"
    with st.sidebar.expander(EXERCISE_LABEL, icon=":material/school:"):
        st.caption(exercise_help(path, names))


def exercise_help(path: str, names: Sequence[str]) -> str:
    """What the "Exercise links" expander says: the page's hideable names and an example link.

    >>> exercise_help("/gradients", ["x", "curves"]).split("\\n\\n")[1][:40]
    'Example: `/gradients?hide=x,curves`; the'
    """
    if not names:
        return "This page has nothing to hide. `present=1` in its link opens it in projector mode."
    return ("Add `hide=` and comma-separated names to this page's link to hide those controls or sections "
            f"until a student presses **{REVEAL_LABEL}**. Names on this page: "
            + ", ".join(f"`{n}`" for n in names) + ".\n\n"
            f"Example: `{path}?hide={','.join(names[:2])}`; the hidden controls keep the values the link "
            "gives them. `present=1` in a link opens it in projector mode.")
