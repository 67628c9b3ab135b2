"""Accessibility (WCAG 2.1 AA): charts that speak, contrast in both themes, the keyboard, colour-blind-safe series.

The browser tests run axe-core (shipped inside ``axe-playwright-python``: nothing is downloaded) with the
WCAG 2.1 A and AA rule tags on every sidebar page, in the light theme and in the dark one (chromium told
that the system prefers dark; ``.streamlit/config.toml`` defines both themes and the app follows it).
"""

from __future__ import annotations

import itertools
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
    # A display formula wider than its column scrolls inside KaTeX's span, which cannot take focus;
    # so does st.code's <pre> (the lab's Keras snippet; st.code(..., wrap_lines=True) would avoid it).
    ("scrollable-region-focusable", None, "KaTeX display formula"),
    ("scrollable-region-focusable", None, "code block"),
}
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


def not_streamlit_own(found, theme_name: str):
    return [v for v in found if (v[0], None, v[1]) not in STREAMLIT_OWN and (v[0], theme_name, v[1]) not in STREAMLIT_OWN]


@pytest.fixture(scope="module")
def audit(browser, server_url):
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
            found[theme_name, path or "home"] = (axe_violations(page), unnamed_figures(page))
        context.close()
    return found


@pytest.mark.browser
@pytest.mark.parametrize("theme_name", THEMES)
def test_every_page_passes_axe_wcag21_aa(audit, theme_name):
    failures = {path: not_streamlit_own(v, t) for (t, path), (v, _) in audit.items() if t == theme_name}
    assert not any(failures.values()), {p: f for p, f in failures.items() if f}


@pytest.mark.browser
def test_every_chart_and_image_has_a_name(audit):
    charts = {key: unnamed for key, (_, unnamed) in audit.items() if unnamed}
    assert not charts


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
