"""What a screen reader hears besides the charts' alt text: each formula's meaning in words, and a
training's progress as a polite live region at a human pace.

WCAG 2.1: a formula drawn by KaTeX keeps its MathML, which a screen reader can read symbol by symbol;
the sentence under it says what the formula *means* (1.1.1, 3.1.5). A running training announces its
progress through one ``role="status"`` region (4.1.3) whose text changes once per epoch and at most every
few seconds, never per step or per poll, so a listener hears a sentence now and then rather than a stream.
"""

from __future__ import annotations

import html
import time

import streamlit as st

ANNOUNCE_SECONDS = 3.0
"""A live region's text changes at most this often (the last, final text is written at once)."""

DELIVERY_SECONDS = 2.0
"""How long new words may take to reach a busy browser: no full script run should start within this time."""

_SHOWN_KEY = "_lossviz_live_status:"


def formula(latex: str, words: str) -> None:
    """A display formula and, right under it, what it means in words.

    Args:
      latex: the formula, drawn by ``st.latex`` (KaTeX, whose output carries MathML for screen readers).
      words: one or two plain sentences saying what the formula states, not how it is spelled.
    """
    # The thin space keeps a closing subscript inside KaTeX's box: without it "C = -ln p_c" overflows by
    # 2 px, and its display span becomes a scrollable region that the keyboard cannot reach (axe, WCAG 2.1.1).
    st.latex(latex + r"\,")
    st.caption(words)


def live_region(key: str):
    """Draw the polite live region here, saying what it last said for ``key``; returns its placeholder.

    Draw it on every script run at a fixed place, whether or not anything trains: screen readers announce
    changes of a live region that already exists. It is a ``<div role="status" aria-live="polite">`` drawn
    by ``st.markdown``, whose sanitiser keeps those attributes, and Streamlit updates it in place while a
    fragment polls (``st.html`` would replace its node on every change, and a new region goes unheard).
    Measured in chromium: a *full* script run that changes the text (in the lab, the rerun at each epoch's
    end) replaces the node, so a page whose fragment watches a run holds the text in full runs
    (:func:`live_status`'s ``hold``) and lets the fragment's polls change it.

    Args:
      key: names the region in the session (one text and time shown per key).
    """
    shown = st.session_state.get(_SHOWN_KEY + key)
    return st.markdown(_region(shown[0] if shown else ""), unsafe_allow_html=True)


def live_status(box, key: str, text: str, final: bool = False, hold: bool = False) -> None:
    """Say a training's progress in the live region ``box`` (from :func:`live_region`), at a human pace.

    A text that differs from the one shown replaces it only when :data:`ANNOUNCE_SECONDS` have passed
    since the last change, or at once when ``final``; call it on every redraw (every poll of a watching
    fragment, every chunk of a loop) with a text that changes per epoch, not per step.

    Args:
      box: the placeholder :func:`live_region` returned for ``key`` in this script run.
      key: as given to :func:`live_region`.
      text: the progress now, e.g. "Training: epoch 2 of 6, loss 0.11." (a sentence of plain text).
      final: the training ended: say so now rather than after the pause.
      hold: keep the words shown (in a full script run of a page that a fragment watches): a full run
        that changes the region's text replaces its node, and a new region goes unheard, so the next
        fragment poll says it in the node that already exists. A fragment that watches a run should not
        ``st.rerun()`` while the words are :func:`settling`.
    """
    state_key = _SHOWN_KEY + key
    shown = st.session_state.get(state_key)
    now = time.monotonic()
    if hold:
        shown = shown or ("", now)
    elif shown is None or (text != shown[0] and (final or now - shown[1] >= ANNOUNCE_SECONDS)):
        shown = (text, now)
        st.session_state[state_key] = shown
    box.markdown(_region(shown[0]), unsafe_allow_html=True)


def settling(key: str) -> bool:
    """Whether the region ``key``'s words changed less than :data:`DELIVERY_SECONDS` ago.

    A script run that starts clears the deltas not yet sent to the browser (Streamlit's
    ``ForwardMsgQueue.clear``), so a full rerun just after a poll changed the words can drop them; the full
    run, which holds the words, then draws them in a new node that goes unheard. Seen in chromium on a
    loaded 2-core machine, where sending lags the poll by more than the 0.5 s between polls.
    """
    shown = st.session_state.get(_SHOWN_KEY + key)
    return bool(shown) and time.monotonic() - shown[1] < DELIVERY_SECONDS


def behind(key: str, text: str) -> bool:
    """Whether the live region ``key`` said something in this session and has not yet said ``text``."""
    shown = st.session_state.get(_SHOWN_KEY + key)
    return bool(shown and shown[0]) and shown[0] != text


def _region(text: str) -> str:
    return f'<div role="status" aria-live="polite" aria-atomic="true">{html.escape(text)}</div>'
