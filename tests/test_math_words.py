"""Math in words (WCAG 1.1.1): every display formula on every page has its meaning in words right under it.

Formulas are drawn by ``lossviz.ui.words.formula``: ``st.latex`` (KaTeX keeps MathML for screen readers;
the browser test in ``test_accessibility.py`` checks the ``<math>`` elements) and a caption in words.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from conftest import app_test
from lossviz import site

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["app.py", *(p.file for p in site.existing_pages())]
PAGES_WITH_MATH = {"pages/bce.py": 8, "pages/gradients.py": 13, "pages/losses.py": 1}
"""Formulas each page draws on first load (at least), so that a page that lost them fails too."""


def test_no_page_calls_st_latex_directly():
    # Formulas go through the one helper, which puts the words under them.
    offenders = [f for f in PAGES if re.search(r"\bst\.latex\(", (ROOT / f).read_text())]
    assert not offenders


def _formulas_and_what_follows(at) -> list[tuple[str, str, str]]:
    """(formula, kind of the next element in the same block, its text) for every st.latex drawn."""
    found = []

    def walk(node):
        children = list(getattr(node, "children", {}).values())
        for i, child in enumerate(children):
            if child.type == "latex":
                after = children[i + 1] if i + 1 < len(children) else None
                found.append((child.value, getattr(after, "type", "nothing"), getattr(after, "value", "")))
            walk(child)

    walk(at._tree)
    return found


@pytest.mark.parametrize("page", sorted(PAGES_WITH_MATH))
def test_every_formula_is_followed_by_its_meaning_in_words(page):
    at = app_test(page)
    assert not at.exception, at.exception
    formulas = _formulas_and_what_follows(at)
    assert len(formulas) >= PAGES_WITH_MATH[page], formulas
    unexplained = [(latex, kind) for latex, kind, words in formulas if kind != "caption" or len(words.split()) < 5]
    assert not unexplained
    assert len({words for _, _, words in formulas}) == len(formulas)  # each says its own thing


def test_the_words_follow_the_numbers_on_screen():
    at = app_test("pages/bce.py")
    at.slider(key="bce:y").set_value(0.75).run()
    entropy = -0.75 * math.log(0.75) - 0.25 * math.log(0.25)  # H(0.75), by hand
    words = [w for _, _, w in _formulas_and_what_follows(at)]
    assert any(f"H(0.75) = {entropy:.4f} nats" in w for w in words), words
    # The same page's live fit leaves its last sentence in the polite live region (a fit another session
    # finished is shown without training: "Fit again, live" trains it here).
    at.button(key="bce:refit").click().run()
    region = [m.value for m in at.markdown if 'role="status"' in m.value]
    assert len(region) == 1 and 'aria-live="polite"' in region[0], region
    assert re.search(r"Finished: step 2,000 of 2,000, mean BCE \d\.\d+\.", region[0]), region
