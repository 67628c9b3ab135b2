"""Accessibility (WCAG 2.1 AA): charts that speak, contrast in both themes, the keyboard, colour-blind-safe series.

The browser tests run axe-core (shipped inside ``axe-playwright-python``: nothing is downloaded) with the
WCAG 2.1 A and AA rule tags on every sidebar page, in the light theme and in the dark one (chromium told
that the system prefers dark; ``.streamlit/config.toml`` defines both themes and the app follows it).
"""

from __future__ import annotations

import itertools
import re
import time

import numpy as np
import pytest

from conftest import app_test, error_texts, screenshot, wait_for_app
from lossviz import site
from lossviz.lessons import bce, describe

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
THEMES = ("light", "dark")
SMALL_LINKS = {"landscape": "?pair=classifier&res=11&images=500&view=slice"}  # its charts, on a small grid

# Violations in Streamlit's own markup that no theme option reaches, as (rule id, theme or None for both,
# kind of element; see ELEMENT_KIND). Each is listed in the README's Accessibility section; anything else fails.
STREAMLIT_OWN = {
    # Labels of disabled widgets are drawn in textColor at 40 % opacity: at most 3.7:1 on any background.
    # WCAG 1.4.3 exempts inactive components, but axe cannot tell that these labels belong to one.
    ("color-contrast", None, "label of a disabled widget"),
    # One primaryColor is both white buttons' background and the text of a selected segmented-control
    # option on a primary tint: on a dark page no colour gives both 4.5:1. The buttons win (4.6:1); the
    # selected option reads 4.3:1 (and is also marked by its tinted background and border).
    ("color-contrast", "dark", "selected segmented-control option"),
}
# Not exempt any more: display formulas have room to stand unscrolled (a KaTeX span that scrolls cannot take
# focus), and code blocks wrap their lines (st.code(..., wrap_lines=True)); ELEMENT_KIND still names them.
ELEMENT_KIND = """el => {
    if (!el) return '';
    if (el.closest('.katex-display') || el.classList.contains('katex-display')) return 'KaTeX display formula';
    if (el.closest('[data-testid="stCode"]') || el.tagName === 'PRE') return 'code block';
    if (el.closest('[data-selected="true"]') && el.closest('[data-testid="stButtonGroup"]'))
        return 'selected segmented-control option';
    const box = el.closest('[data-testid="stElementContainer"]');
    if (box && box.querySelector('[disabled], [aria-disabled="true"]')) return 'label of a disabled widget';
    return '';
}"""

MIN_CVD_DELTA_E = 8.0
"""Smallest CAM02-UCS colour difference ΔE' allowed between two series colours under a fully simulated
colour-vision deficiency (about 1 is a just-noticeable difference; 8 keeps neighbours clearly apart)."""


# --------------------------------------------------------------------------
# Pure: the takeaways and the charts' tables
# --------------------------------------------------------------------------
def test_number_reads_like_a_person_writes():
    assert [describe.number(v) for v in (0.61086, 16.118, 0.0, 1234.5, 2e-5, np.inf, np.nan)] == [
        "0.611", "16.1", "0", "1.23e+03", "2.00e-05", "infinite", "undefined"]


def test_series_clause_names_the_extremes_and_the_end():
    x = np.linspace(0, 1, 11)
    y = (x - 0.3) ** 2 + 0.5
    y[-1] = 0.55  # the end is neither extreme: a training run still going, say
    clause = describe.series_clause(describe.Series("fit", "line", x, y), "p", "loss")
    assert clause == "fit: lowest 0.5 at p = 0.3, highest 0.86 at p = 0.9, last 0.55 at p = 1"
    grid = describe.Series("", "grid", np.array([1, 2, 3]), np.array([10, 20]), np.array([[5, 1, 7], [2, 9, 3]]))
    assert describe.series_clause(grid, "a", "b") == "lowest 1 at a = 2, b = 10, highest 9 at a = 2, b = 20"
    empty = describe.Series("nan", "line", np.arange(3), np.full(3, np.nan))
    assert describe.series_clause(empty) == "nan: no finite values"


def test_bce_slice_takeaway_is_the_closed_form_minimum():
    for y in (0.3, 0.75):
        cut = bce.bce_slice(y)
        text = describe.bce_slice(y, cut.argmin, cut.floor, False)
        entropy = -y * np.log(y) - (1 - y) * np.log(1 - y)  # H(y), independently of the lesson's code
        assert f"lowest point, {entropy:.3g} nats, is at p = {y:g}" in text


def test_figure_alt_and_table_come_from_the_traces():
    from lossviz.figures import home
    from lossviz.ui import charts

    fig = home.bce_minimum_figure(targets=(0.3, 0.8), points=400)
    alt = charts.figure_alt(fig)
    assert alt.startswith("Binary cross-entropy")
    assert "y = 0.3: lowest 0.611 at prediction p = 0.3" in alt and "y = 0.8: lowest 0.5 at prediction p = 0.8" in alt
    table = charts.figure_table(fig)
    assert len(table) == sum(len(t.y) for t in fig.data)  # every drawn point, the minimum markers included
    assert set(table["series"]) == {"y = 0.3", "y = 0.8", ""}
    assert describe.live_loss("Run #1", 40, 120, None) == "Run #1: step 40 of 120, no loss recorded yet."
    assert describe.live_loss("Run #1", 120, 120, 0.10712) == "Run #1: step 120 of 120, loss 0.107."


def test_progress_line_names_the_epoch_and_the_loss():
    assert describe.progress_line("Training", 2, 6, loss=0.10712) == "Training: epoch 2 of 6, loss 0.107."
    assert describe.progress_line("Queued", 0, 6, loss=None) == "Queued: epoch 0 of 6."
    assert describe.progress_line("Adam", 1200, 2000, unit="step", mean_BCE=0.35) == \
        "Adam: step 1,200 of 2,000, mean BCE 0.35."


def test_live_status_speaks_at_a_human_pace():
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from lossviz.ui import words

        box = words.live_region("t")
        words.live_status(box, "t", st.session_state.get("say", "first"), final=st.session_state.get("final", False))
        st.caption(f"settling: {words.settling('t')}")

    at = AppTest.from_function(script).run()
    region = lambda: at.markdown[0].value  # noqa: E731
    assert 'role="status" aria-live="polite"' in region() and "first" in region()
    at.session_state["say"] = "second"
    assert "first" in at.run().markdown[0].value  # too soon after the first: still the first
    at.session_state["final"] = True
    assert "second" in at.run().markdown[0].value  # the last sentence comes at once
    at.session_state["say"], at.session_state["final"] = "<b>&", False
    at.session_state["_lossviz_live_status:t"] = ("second", 0.0)  # said long ago
    assert "&lt;b&gt;&amp;" in at.run().markdown[0].value  # plain text, escaped
    assert at.caption[0].value == "settling: True"  # just changed: no full rerun may start yet
    at.session_state["_lossviz_live_status:t"] = ("<b>&", 0.0)
    assert at.run().caption[0].value == "settling: False"


def test_softmax_kl_training_says_where_it_is_in_a_live_region():
    at = app_test("pages/softmax-kl.py", {"loss": "categorical_crossentropy", "lr": "0.1", "ep": "5"})
    at.button(key="softmax-kl:train").click().run()
    region = [m.value for m in at.markdown if 'role="status"' in m.value]
    assert len(region) == 1 and 'aria-live="polite"' in region[0], region
    assert re.search(r"Finished: epoch 5 of 5, best accuracy (0|1)\.?\d*\.", region[0]), region


def test_series_colours_stay_apart_under_colour_blindness():
    import colorspacious

    from lossviz.figures import theme

    def rgb(hex_colour: str) -> np.ndarray:
        return np.array([int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)]) / 255

    worst = {}
    for cvd in ("protanomaly", "deuteranomaly", "tritanomaly"):
        space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
        seen = {c: np.clip(colorspacious.cspace_convert(rgb(c), space, "sRGB1"), 0, 1) for c in theme.SERIES}
        worst[cvd] = min((float(colorspacious.deltaE(seen[a], seen[b], input_space="sRGB1")), a, b)
                         for a, b in itertools.combinations(theme.SERIES, 2))
    assert all(d >= MIN_CVD_DELTA_E for d, _, _ in worst.values()), worst


def test_series_carry_a_few_markers_drawn_only_where_shown():
    """Each series' symbol marks a few points (grey print tells the series apart), set by ``maxdisplayed`` so that
    plotly draws only those; the series' counts differ so their markers do not line up."""
    from lossviz.figures import theme

    shown = [theme.sparse_markers(i, 201, every=20) for i in range(5)]
    assert [m["maxdisplayed"] for m in shown] == [10, 11, 12, 13, 14]
    assert len({m["symbol"] for m in shown}) == 5 and all(m["size"] == 8 for m in shown)
    assert theme.sparse_markers(0, 12)["maxdisplayed"] == 6  # a short series still shows six
    assert theme.sparse_markers(0, 3)["maxdisplayed"] == 3


def test_chart_alt_follows_the_controls():
    at = app_test("pages/gradients.py")

    def alts() -> dict[str, str]:
        return {c.proto.id: c.proto.alt for c in at.get("plotly_chart")}

    before = [c.proto.alt for c in at.get("plotly_chart")]
    assert all(before) and len(set(before)) == len(before)
    at.slider(key="gradients:y").set_value(1.0).run()
    after = [c.proto.alt for c in at.get("plotly_chart")]
    assert "y = 1" in after[0] and after[0] != before[0]
    at.slider(key="gradients:t").set_value(10).run()
    assert "epoch 10" in [c.proto.alt for c in at.get("plotly_chart")][3]
    assert not at.exception and alts()


# --------------------------------------------------------------------------
# Browser: axe-core on every page in both themes, accessible names in the DOM, the keyboard
# --------------------------------------------------------------------------
def axe_violations(page) -> list[tuple[str, str, str, str]]:
    """(rule id, kind of element, element selector, axe's summary) of every WCAG 2.1 A/AA violation now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    found = []
    for rule in results.response["violations"]:
        for node in rule["nodes"]:
            selector = str(node["target"][-1])
            kind = page.evaluate(f"sel => ({ELEMENT_KIND})(document.querySelector(sel))", selector)
            found.append((rule["id"], kind, selector, node.get("failureSummary", "").replace("\n", " ")))
    return found


def unnamed_figures(page) -> list[str]:
    """Charts without an accessible name and images without alt text."""
    return page.evaluate("""() => [
        ...[...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
            .filter(c => !(c.getAttribute('aria-label') || '').trim()).map(c => 'chart #' + c.id),
        ...[...document.querySelectorAll('[data-testid="stMain"] img')]
            .filter(i => !(i.getAttribute('alt') || '').trim()).map(i => 'img ' + i.src.slice(0, 60))]""")


def formulas(page) -> dict[str, int]:
    """How many KaTeX formulas the page draws, how many carry MathML, display formulas, and those with words."""
    return page.evaluate("""() => {
        const katex = [...document.querySelectorAll('[data-testid="stMain"] .katex')];
        const display = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdown"]')]
            .filter(m => m.querySelector('.katex-display'));
        const worded = display.filter(m => {
            const next = m.closest('[data-testid="stElementContainer"]').nextElementSibling;
            return next && next.querySelector('[data-testid="stCaptionContainer"]')
                && next.innerText.trim().split(/\\s+/).length >= 5; });
        return {katex: katex.length, mathml: katex.filter(k => k.querySelector('.katex-mathml math')).length,
                display: display.length, worded: worded.length}; }""")


def not_streamlit_own(found, theme_name: str):
    return [v for v in found if (v[0], None, v[1]) not in STREAMLIT_OWN and (v[0], theme_name, v[1]) not in STREAMLIT_OWN]


@pytest.fixture(scope="session")  # not "module": xdist may run other modules' tests in between, and
def audit(browser, server_url):  # pytest would then tear a module fixture down and audit all again
    """Every sidebar page opened in each theme once: its axe violations and its unnamed figures."""
    found = {}
    for theme_name in THEMES:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=theme_name)
        page = context.new_page()
        for path in ["", *(p.url_path for p in site.existing_pages())]:
            page.goto(f"{server_url}/{path}{SMALL_LINKS.get(path, '')}")
            wait_for_app(page, timeout_ms=180_000)
            assert not error_texts(page), (theme_name, path, error_texts(page))
            screenshot(page, f"a11y-{theme_name}-{path or 'home'}")
            found[theme_name, path or "home"] = (axe_violations(page), unnamed_figures(page), formulas(page))
        context.close()
    return found


@pytest.mark.browser
@pytest.mark.parametrize("theme_name", THEMES)
def test_every_page_passes_axe_wcag21_aa(audit, theme_name):
    failures = {path: not_streamlit_own(v, t) for (t, path), (v, *_) in audit.items() if t == theme_name}
    assert not any(failures.values()), {p: f for p, f in failures.items() if f}


@pytest.mark.browser
def test_every_chart_and_image_has_a_name(audit):
    charts = {key: unnamed for key, (_, unnamed, _) in audit.items() if unnamed}
    assert not charts


@pytest.mark.browser
def test_formulas_keep_their_mathml_and_words(audit):
    """KaTeX draws each formula twice: as HTML for the eye and as MathML (``<math>``) for screen readers."""
    drawn = {key: found for key, (_, _, found) in audit.items()}
    assert drawn["light", "gradients"]["display"] >= 13 and drawn["light", "bce"]["display"] >= 8, drawn
    for key, found in drawn.items():
        assert found["mathml"] == found["katex"], (key, found)  # every formula, inline ones too
        assert found["display"] == found["worded"], (key, found)  # words right under each display formula


@pytest.mark.browser
@pytest.mark.parametrize("theme_name", THEMES)
def test_projector_mode_passes_axe_wcag21_aa(browser, server_url, theme_name):
    """Projector mode (present=1: larger type, thicker chart lines, prose folded) keeps the contrast on every page.

    It changes sizes, not colours, so each page is audited in one theme, the two themes taking turns.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=theme_name)
    page = context.new_page()
    found = {}
    paths = ["", *(p.url_path for p in site.existing_pages())][THEMES.index(theme_name)::len(THEMES)]
    for path in paths:
        query = SMALL_LINKS.get(path, "?").lstrip("?")
        page.goto(f"{server_url}/{path}?present=1" + (f"&{query}" if query else ""))
        wait_for_app(page, timeout_ms=180_000)
        assert not error_texts(page), (path, error_texts(page))
        screenshot(page, f"a11y-present-{theme_name}-{path or 'home'}")
        found[path or "home"] = not_streamlit_own(axe_violations(page), theme_name) + unnamed_figures(page)
    context.close()
    assert not any(found.values()), found


@pytest.mark.browser
def test_keyboard_alone_trains_a_run_on_the_lab(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server_url)
    wait_for_app(page)
    page.goto(f"{server_url}/mnist?p=classifier-cce&n=1000&ep=1")
    wait_for_app(page)
    page.locator("body").focus()  # the top of the page, no mouse anywhere
    reached = []
    for _ in range(120):
        page.keyboard.press("Tab")
        name = page.evaluate("""() => {
            const el = document.activeElement;
            const box = el && el.closest('[data-testid="stElementContainer"]');
            const label = box && box.querySelector('[data-testid="stWidgetLabel"]');
            return ((label && label.innerText) || el.getAttribute('aria-label') || el.innerText || '').trim();
        }""")
        reached.append(name.split("\n")[-1].strip())  # a button's text follows its icon's ligature name
        if reached[-1] == "Train":
            break
    assert "Preset" in reached and "Epochs" in reached, reached
    assert reached[-1] == "Train", reached
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none" or \
        page.evaluate("() => getComputedStyle(document.activeElement).boxShadow") != "none"
    page.keyboard.press("Enter")
    deadline = time.time() + 240
    status = ""
    while time.time() < deadline and status not in ("finished", "diverged", "stopped"):
        time.sleep(1)
        status = page.evaluate("""() => {
            for (const m of document.querySelectorAll('[data-testid="stMetric"]'))
                if (m.innerText.startsWith('Status')) return m.innerText.split('\\n').pop().trim();
            return '';
        }""")
    if status != "finished":
        screenshot(page, "a11y-lab-keyboard-not-finished")
    assert status == "finished", status
    wait_for_app(page)
    screenshot(page, "a11y-lab-keyboard-finished")
    assert not unnamed_figures(page)
    assert any("step" in (c or "") for c in page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].map(c => c.getAttribute('aria-label'))"""))
    assert not not_streamlit_own(axe_violations(page), "light")  # the lab with its charts drawn
    context.close()


@pytest.mark.browser
def test_data_under_a_chart_opens_with_tab_and_enter_and_is_built_only_then(page, server_url):
    from lossviz.figures import home
    from lossviz.ui import charts

    page.goto(server_url)
    wait_for_app(page)
    data = page.locator('[data-testid="stMain"] [data-testid="stExpander"]', has_text="Data").first
    assert data.locator('[data-testid="stDataFrame"]').count() == 0  # closed, its table is not even sent
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if data.locator("summary").evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the chart's Data expander")
    page.keyboard.press("Enter")
    grid = data.locator('[data-testid="stDataFrame"] [role="grid"]')
    grid.wait_for(state="attached", timeout=20_000)
    rows = len(charts.figure_table(home.bce_minimum_figure()))
    assert grid.get_attribute("aria-rowcount") == str(rows + 1)  # the header and every number drawn
    assert data.get_by_text(charts.DOWNLOAD_LABEL).is_visible()
    assert data.locator("summary").evaluate("el => el === document.activeElement")  # the rerun keeps the place
    screenshot(page, "a11y-data-opened-by-keyboard")


LIVE_REGION = '[data-testid="stMain"] [role="status"][aria-live="polite"]'


@pytest.mark.browser
def test_lab_announces_its_progress_politely_in_one_live_region(browser, server_url):
    from lossviz.ui.words import ANNOUNCE_SECONDS

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{server_url}/mnist?p=classifier-cce&n=10000&ep=3&hidden=512,512&seed=19")  # a run no other test trains, long
    # enough on a quiet machine to say more than its last sentence
    wait_for_app(page)
    assert page.locator(LIVE_REGION).count() == 1  # there before anything is said: changes are announced
    # A full script run (each epoch's end) may put a new node in the region's place; that is heard only if
    # the node is there before its words change. A MutationObserver logs, batch by batch, each change of
    # the words and whether it came with a new node: new words must always land in a node already there.
    page.evaluate(f"""() => {{ window.__region = {{node: document.querySelector('{LIVE_REGION}'), text: '', log: []}};
        new MutationObserver(() => {{ const r = window.__region, e = document.querySelector('{LIVE_REGION}');
            const text = e ? e.innerText.trim() : '';
            if (text !== r.text) r.log.push([text, e !== r.node]);
            r.node = e; r.text = text; }}).observe(document.body, {{subtree: true, childList: true, characterData: true}});
    }}""")
    page.locator('[data-testid="stBaseButton-primary"]').filter(has_text="Train").click()
    heard = []
    deadline = time.time() + 240
    while time.time() < deadline and not (heard and heard[-1][1].startswith(("Finished", "Diverged", "Stopped"))):
        text = page.evaluate(f"() => (document.querySelector('{LIVE_REGION}') || {{innerText: ''}}).innerText.trim()")
        if text and (not heard or text != heard[-1][1]):
            heard.append((time.time(), text))
        time.sleep(0.1)
    log = page.evaluate("() => window.__region.log")
    unheard = [text for text, new_node in log if new_node and text]  # new words in a new node: not heard
    wait_for_app(page)
    assert page.locator(LIVE_REGION).count() == 1
    assert page.locator(LIVE_REGION).get_attribute("aria-atomic") == "true"
    assert unheard == [], (unheard, heard)
    texts = [text for _, text in heard]
    assert re.match(r"(Queued|Training): epoch [0-2] of 3", texts[0]), texts  # where it is when first polled
    assert re.fullmatch(r"Finished: epoch 3 of 3, loss \d\.\d+\.", texts[-1]), texts
    # Seen as they happened, give or take a poll's delivery on a busy machine: the first was set before it was
    # seen and the final comes at once, so only the changes between them are spaced.
    changes = [t for t, _ in heard[1:-1]]
    assert all(b - a >= ANNOUNCE_SECONDS - 1.0 for a, b in zip(changes, changes[1:])), heard
    context.close()
