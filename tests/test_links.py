"""Hostile links: every page survives random and malicious query strings with a visible notice,
and a shared link restores the same widgets in a fresh browser."""

from __future__ import annotations

import math
import os
import random
import string
import time
import urllib.parse

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, error_texts, screenshot, wait_for_app
from lossviz import site

PAGES = site.existing_pages()
# The home page runs when app.py is opened without a page; it has no controls, so every key is unknown.
HOME = site.PageInfo("app.py", site.HOME_TITLE, ":material/home:", "home", "the home page")
# At least 1000 links in all (200 for the home page and for each of the four pages);
# LOSSVIZ_FUZZ_PER_PAGE=1000 runs the long form.
FUZZ_PER_PAGE = int(os.environ.get("LOSSVIZ_FUZZ_PER_PAGE", "200"))

# Values that no control of any page accepts as they are: each must earn a notice naming its key.
ALWAYS_BAD = ["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "💥💥", "x" * 5000, "<script>alert(1)</script>",
              "%00", "\u202e\u0000", "1e9999", "--1", "0x1p3", "🙂,🙃"]
MAYBE_BAD = ["0", "1", "-1", "0.5", "3", "-5", "100", "1e-9", "2,3", "a,b", "true", "off", "", " ", "١٢٣",
             "1_000", "0.1,0.2,0.7", "softmax", "adam"]


def page_app(info: site.PageInfo, query: dict[str, list[str]] | None = None) -> AppTest:
    """The page script run on its own (as Streamlit runs a page), with the given link."""
    at = AppTest.from_file(str(ROOT / info.file), default_timeout=120)
    for key, values in (query or {}).items():
        at.query_params[key] = values
    return at.run()


def link_keys(at: AppTest, info: site.PageInfo) -> list[str]:
    """Link names of the page's link-bound widgets (their state keys are 'page:name')."""
    keys = []
    for node in _widgets(at):
        key = getattr(node, "key", None)
        if key and ":" in key and not key.startswith("_"):
            keys.append(key.split(":", 1)[1])
    return sorted(set(keys))


def _widgets(at: AppTest):
    kinds = ("slider", "select_slider", "selectbox", "radio", "toggle", "checkbox", "multiselect",
             "number_input", "text_input", "button_group")
    for kind in kinds:
        try:
            yield from at.get(kind)
        except Exception:
            continue


def random_query(rng: random.Random, keys: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    """A random link: a few known or unknown keys with hostile values; returns it and its surely-bad keys."""
    query: dict[str, list[str]] = {}
    bad: set[str] = set()
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.15 or not keys:
            key = rng.choice(["zz", "__proto__", "ÿ💥", "a" * 300, "x[]", "page", "run", ""]) or "empty"
            query.setdefault(key, []).append(rng.choice(ALWAYS_BAD + MAYBE_BAD))
            bad.add(key)
            continue
        key = rng.choice(keys)
        if roll < 0.6:
            value = rng.choice(ALWAYS_BAD)
            bad.add(key)
        elif roll < 0.8:
            value = rng.choice(MAYBE_BAD)
        else:
            value = "".join(rng.choice(string.printable + "äß∞≠😀") for _ in range(rng.randint(1, 30)))
        repeats = 2 if rng.random() < 0.1 else 1
        query.setdefault(key, []).extend([value] * repeats)
    return query, bad


def notice_text(at: AppTest) -> str:
    return " ".join(str(w.value) for w in at.warning)


@pytest.mark.parametrize("info", [HOME, *PAGES], ids=["home", *(p.url_path for p in PAGES)])
def test_fuzzed_links_never_raise_and_each_rejection_is_shown(info):
    default = page_app(info)
    assert not default.exception
    keys = link_keys(default, info)
    assert keys or info is HOME, f"{info.file} has no link-bound controls"
    rng = random.Random(f"lossviz-{info.url_path}")
    for i in range(FUZZ_PER_PAGE):
        query, bad = random_query(rng, keys)
        at = page_app(info, query)
        assert not at.exception, (query, [e.value for e in at.exception])
        notices = notice_text(at)
        for key in bad:
            shown_key = key if len(key) <= 39 else key[:38]
            assert shown_key.replace("`", "'") in notices, (i, query, key, notices)


def test_home_reports_unknown_link_parameters():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["bogus"] = "1"
    at.run()
    assert not at.exception
    assert "bogus" in notice_text(at)


# ---------------------------------------------------------------------------
# Round trip through a real browser
# ---------------------------------------------------------------------------

SNAPSHOT_JS = """
() => {
  const main = document.querySelector('[data-testid="stAppViewContainer"]') || document;
  const out = [];
  main.querySelectorAll('[data-testid="stSlider"], [data-testid="stSelectSlider"]').forEach(
      e => out.push('slider:' + [...e.querySelectorAll('[data-testid="stSliderThumbValue"]')]
                                   .map(v => v.innerText).join('|')));
  main.querySelectorAll('input[type="checkbox"]').forEach(e => out.push('check:' + e.checked));
  main.querySelectorAll('input[type="radio"]').forEach(e => out.push('radio:' + e.checked));
  main.querySelectorAll('[data-testid="stSelectbox"]').forEach(e => out.push('select:' + e.innerText));
  main.querySelectorAll('[data-testid="stMultiSelect"]').forEach(e => out.push('multi:' + e.innerText));
  main.querySelectorAll('[data-testid="stTextInput"] input, [data-testid="stNumberInput"] input')
      .forEach(e => out.push('input:' + e.value));
  main.querySelectorAll('[data-testid="stButtonGroup"] button').forEach(
      e => out.push('seg:' + e.getAttribute('aria-checked') + e.getAttribute('kind')));
  return out;
}
"""


def settled_snapshot(page, timeout: float = 90.0) -> list[str]:
    """The widgets' values once the app is idle and they have stopped changing for 2 s."""
    wait_for_app(page)
    deadline = time.time() + timeout
    last, same_since = None, time.time()
    while time.time() < deadline:
        state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state")
        snapshot = page.evaluate(SNAPSHOT_JS)
        if snapshot != last or state != "notRunning" or not snapshot:
            last, same_since = snapshot, time.time()
        elif time.time() - same_since >= 2.0:
            return snapshot
        time.sleep(0.25)
    raise AssertionError(f"the page's widgets kept changing: {last}")


def non_default_link(info: site.PageInfo) -> dict[str, str]:
    """Change a few controls through AppTest and read back the link the page wrote."""
    at = page_app(info)
    changed = 0
    for slider in at.get("slider"):
        if changed >= 3 or ":" not in (slider.key or "") or slider.disabled:
            continue
        lo, hi = slider.min, slider.max
        if isinstance(slider.value, (tuple, list)):
            continue
        target = lo + (hi - lo) * 0.37
        step = slider.step or 1
        target = round(lo + round((target - lo) / step) * step, 6)
        if isinstance(slider.value, int):
            target = int(target)
        if not math.isclose(target, slider.value):
            slider.set_value(target)
            changed += 1
    for toggle in list(at.get("toggle"))[:1]:
        if ":" in (toggle.key or "") and not toggle.disabled:
            toggle.set_value(not toggle.value)
            changed += 1
    at.run()
    assert not at.exception
    link = {k: at.query_params[k] for k in at.query_params}
    assert link, f"changing controls of {info.file} left its link empty"
    return {k: v[-1] if isinstance(v, list) else v for k, v in link.items()}


@pytest.mark.browser
@pytest.mark.parametrize("info", PAGES, ids=[p.url_path for p in PAGES])
def test_link_round_trip_in_a_fresh_browser(info, server_url, browser):
    link = non_default_link(info)
    first = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = first.new_page()
    page.goto(f"{server_url}/{info.url_path}?{urllib.parse.urlencode(link)}")
    state = settled_snapshot(page)
    assert not error_texts(page), error_texts(page)
    url_back = page.url
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url_back).query))
    assert back == link, (link, url_back)
    screenshot(page, f"link-{info.url_path}")
    first.close()

    second = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = second.new_page()
    page.goto(url_back)
    again = settled_snapshot(page)
    assert not error_texts(page)
    assert again == state, (link, url_back)
    second.close()

    plain = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = plain.new_page()
    page.goto(f"{server_url}/{info.url_path}")
    assert settled_snapshot(page) != state, "the link changed nothing visible"
    plain.close()
