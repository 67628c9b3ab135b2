"""Teaching controls in chromium: an exercise link hides then reveals, projector mode, and every page on a phone.

Screenshots go to tests/screenshots/ (classroom-*, phone-*): look at them as a student would.
"""

from __future__ import annotations

import re

import pytest

from conftest import error_texts, screenshot, wait_for_app
from lossviz import site
from lossviz.figures import home

pytestmark = pytest.mark.browser

PHONE = dict(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
SMALL_LINKS = {"landscape": "?pair=classifier&res=11&images=500&view=slice"}  # its charts, on a small grid

CHARTS = '[data-testid="stMain"] [data-testid="stPlotlyChart"]'
LINE_WIDTH = """() => { const p = document.querySelector('[data-testid="stPlotlyChart"] .scatterlayer path.js-line');
                        return p ? parseFloat(getComputedStyle(p).strokeWidth) : null; }"""
ROOT_FONT = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
TICK_FILL = """() => { const t = document.querySelector('[data-testid="stPlotlyChart"] .xtick text');
                       return t ? getComputedStyle(t).fill : null; }"""


def _styles(page) -> tuple:
    """The root font size, the first chart's first line width and its tick labels' colour, once drawn."""
    page.wait_for_function(f"() => ({LINE_WIDTH})() !== null", timeout=30_000)
    return page.evaluate(ROOT_FONT), page.evaluate(LINE_WIDTH), page.evaluate(TICK_FILL)


def _open(page, url: str, charts: bool = True) -> None:
    page.goto(url)
    wait_for_app(page, timeout_ms=180_000)
    assert not error_texts(page), error_texts(page)
    page.wait_for_function(  # a busy browser may still be drawing what it was sent: some charts, all drawn
        f"""() => {{ const charts = [...document.querySelectorAll('{CHARTS}')];
                    return charts.length >= {int(charts)} && charts.every(c => c.querySelector('.main-svg')); }}""",
        timeout=60_000)


def _slider_labels(page) -> list[str]:
    return page.locator('[data-testid="stSlider"] [data-testid="stWidgetLabel"]').all_inner_texts()


def test_hide_link_hides_controls_and_a_chart_until_reveal(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _open(page, f"{server_url}/gradients?hide=curves,x&y=0.5")
    assert "input x" not in _slider_labels(page) and "target y" in _slider_labels(page)
    hidden_charts = page.locator(CHARTS).count()
    assert "Hidden for an exercise: curves, x" in page.locator('[data-testid="stAlert"]').all_inner_texts()[0]
    screenshot(page, "classroom-hidden")
    page.get_by_role("button", name="Reveal").click()
    page.wait_for_function("() => !location.search.includes('hide=')", timeout=30_000)
    wait_for_app(page)
    assert "input x" in _slider_labels(page)
    page.wait_for_function(f"() => document.querySelectorAll('{CHARTS}').length === {hidden_charts + 1}",
                           timeout=30_000)  # the revealed chart, once drawn
    assert "y=0.5" in page.url and "hide" not in page.url  # the address is the link of what is shown
    context.close()


@pytest.mark.parametrize("theme_name", ["light", "dark"])
def test_present_enlarges_type_and_lines_and_keeps_the_theme(browser, server_url, theme_name):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=theme_name)
    page = context.new_page()
    normal = (16.0, home.bce_minimum_figure().data[0].line.width or 2.0)  # the browser's root size; plotly's width
    _open(page, f"{server_url}/?present=1")
    projector = _styles(page)
    screenshot(page, f"classroom-present-{theme_name}")
    assert projector[0] >= 1.3 * normal[0], (normal, projector)
    assert projector[1] == pytest.approx(2 * normal[1]), (normal, projector)
    channels = [float(c) for c in re.findall(r"[\d.]+", projector[2])[:3]]
    assert (sum(channels) > 3 * 160) == (theme_name == "dark"), projector[2]  # light ticks on dark, dark on light
    page.get_by_role("link", name="Gradients").first.click()  # the mode follows the visitor to the next page
    page.wait_for_url("**/gradients**", timeout=30_000)
    wait_for_app(page)
    assert "present=1" in page.url and page.evaluate(ROOT_FONT) == projector[0]
    # Off again: the type, and the link, are back to normal.
    page.get_by_test_id("stCheckbox").get_by_text("Projector mode", exact=True).click()
    page.wait_for_function(f"() => ({ROOT_FONT})() === {normal[0]}", timeout=30_000)
    page.wait_for_function("() => !location.search.includes('present')", timeout=30_000)
    context.close()


def test_no_page_scrolls_sideways_on_a_phone(browser, server_url):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    widths, tables = {}, {}
    for path in ["", *(p.url_path for p in site.existing_pages())]:
        _open(page, f"{server_url}/{path}{SMALL_LINKS.get(path, '')}", charts=path != "mnist")  # no run: no chart
        widths[path or "home"] = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        # A plain table's own sideways scroll is out of the keyboard's reach: each fits its box instead.
        tables[path or "home"] = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stTable"] table')]
                                                        .map(t => [t.scrollWidth, t.parentElement.clientWidth])""")
        screenshot(page, f"phone-{path or 'home'}")
    context.close()
    assert all(scroll <= inner for scroll, inner in widths.values()), widths
    assert tables["losses"], "the loss zoo's property tables are plain tables"
    assert all(scroll <= box for found in tables.values() for scroll, box in found), tables
