"""Hostile links: every page survives random and malicious query strings with a visible notice,
and a shared link restores the same widgets in a fresh browser."""

from __future__ import annotations

import functools
import math
import os
import random
import string
import time
import urllib.parse

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, drawn_and_idle, error_texts, screenshot, wait_for_app
from lossviz import site
from lossviz.ui import links

PAGES = site.existing_pages()
# The home page runs when app.py is opened without a page; it has no controls, so every key is unknown.
HOME = site.PageInfo("app.py", site.HOME_TITLE, ":material/home:", "home", "the home page")
# At least 1000 links in all (200 for the home page and for each page) through the link checks, and a sample
# of them through the pages themselves (a page run costs 0.2-3 s); LOSSVIZ_FUZZ_PER_PAGE=1000 and
# LOSSVIZ_FUZZ_END_TO_END_PER_PAGE=200 run the long form.
FUZZ_PER_PAGE = int(os.environ.get("LOSSVIZ_FUZZ_PER_PAGE", "200"))
FUZZ_END_TO_END_PER_PAGE = int(os.environ.get("LOSSVIZ_FUZZ_END_TO_END_PER_PAGE", "10"))

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


@functools.cache
def default_run(info: site.PageInfo) -> AppTest:
    """The page run once with no link, shared by the tests that only read it."""
    return page_app(info)


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


def page_fields(info: site.PageInfo) -> dict[str, links.LinkField]:
    """The page's link fields by name, as its default run bound them (none for the home page)."""
    at = default_run(info)
    assert not at.exception
    by_page = at.session_state[links.FIELDS_STATE_KEY] if links.FIELDS_STATE_KEY in at.session_state else {}
    assert len(by_page) <= 1, by_page.keys()
    fields = next(iter(by_page.values()), {})
    assert set(link_keys(at, info)) <= set(fields), "a link-bound widget bypassed UrlState"
    return fields


def assert_each_bad_key_named(bad: set[str], notices: str, context) -> None:
    for key in bad:
        shown_key = key if len(key) <= 39 else key[:38]
        assert shown_key.replace("`", "'") in notices, (context, key, notices)


@pytest.mark.parametrize("info", [HOME, *PAGES], ids=["home", *(p.url_path for p in PAGES)])
def test_fuzzed_links_parse_safely_and_each_rejection_is_named(info):
    """The full count (FUZZ_PER_PAGE links a page) through the checks UrlState applies, without a session."""
    fields = page_fields(info)
    assert fields or info is HOME, f"{info.file} has no link-bound controls"
    rng = random.Random(f"lossviz-{info.url_path}")
    for i in range(FUZZ_PER_PAGE):
        query, bad = random_query(rng, sorted(fields))
        values, notices = links.read_query(fields, query)
        claimed = {key for key in bad if fields.get(key) is links.CLAIMED}  # the page checks those itself
        assert_each_bad_key_named(bad - claimed, " ".join(notices), (i, query))
        for key, value in values.items():  # what the page then writes to its link reads back the same, quietly
            again: list[str] = []
            assert links.read_link(key, [fields[key].serialize(value)], fields[key], again) == value, (query, key)
            assert again == [], (query, key, again)


@pytest.mark.parametrize("info", [HOME, *PAGES], ids=["home", *(p.url_path for p in PAGES)])
def test_sampled_fuzzed_links_run_end_to_end_with_a_visible_notice(info):
    """A sample of the fuzzed links through the real page: no exception, every rejection on screen."""
    default = default_run(info)
    assert not default.exception
    keys = link_keys(default, info)
    rng = random.Random(f"lossviz-end-to-end-{info.url_path}")
    for i in range(FUZZ_END_TO_END_PER_PAGE):
        query, bad = random_query(rng, keys)
        at = page_app(info, query)
        assert not at.exception, (query, [e.value for e in at.exception])
        assert_each_bad_key_named(bad, notice_text(at), (i, query))


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
  main.querySelectorAll('[data-testid="stSelectbox"]').forEach(e => out.push('select:' + e.innerText + '|' + Array.from(e.querySelectorAll('input, [value], [aria-selected="true"], [title]')).map(x => x.value || x.title || x.textContent).join(',')));
  main.querySelectorAll('[data-testid="stMultiSelect"]').forEach(e => out.push('multi:' + e.innerText));
  main.querySelectorAll('[data-testid="stTextInput"] input, [data-testid="stNumberInput"] input')
      .forEach(e => out.push('input:' + e.value));
  main.querySelectorAll('[data-testid="stButtonGroup"] button').forEach(
      e => out.push('seg:' + e.getAttribute('aria-checked') + e.getAttribute('kind')));
  return out;
}
"""


def settled_snapshot(page, timeout: float = 90.0) -> list[str]:
    """The widgets' values once the app is idle and they have stopped changing for 1 s."""
    wait_for_app(page)
    deadline = time.time() + timeout
    last, same_since = None, time.time()
    while time.time() < deadline:
        idle = drawn_and_idle(page)
        snapshot = page.evaluate(SNAPSHOT_JS)
        if snapshot != last or not idle or not snapshot:
            last, same_since = snapshot, time.time()
        elif time.time() - same_since >= 1.0:
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
    if not changed:  # a view whose sliders and toggles are all disabled (the landscape's line): pick another option
        for select in at.get("selectbox"):
            if ":" in (select.key or "") and not select.disabled and len(select.options) > 1:
                select.set_value(next(o for o in select.options if str(o) != str(select.value)))
                break
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


BOUND = """
import streamlit as st
y = st.slider("y", 0.0, 1.0, 0.5, step=0.01, key="y", bind="query-params")
clip = st.toggle("clip", True, key="clip", bind="query-params")
losses = st.multiselect("losses", ["cce", "kl"], default=["cce"], key="losses", bind="query-params")
st.markdown(f"y={y} clip={clip} losses={losses}")
"""


def test_streamlit_bind_still_lacks_what_urlstate_does():
    """Why lossviz.ui.links keeps its own binding (its docstring): if this fails after an upgrade, Streamlit's
    bind="query-params" may now do the job, so revisit UrlState."""

    def bound(query: dict[str, str]) -> AppTest:
        at = AppTest.from_string(BOUND, default_timeout=30)
        for key, value in query.items():
            at.query_params[key] = value
        return at.run()

    assert bound({"y": "0.7"}).markdown[0].value.startswith("y=0.7")  # the mechanism itself works here
    for query in ({"y": "5"}, {"clip": "0"}, {"losses": "kl,cce"}):  # UrlState: y=1.0 + notice, clip off, both
        at = bound(query)
        assert at.markdown[0].value == "y=0.5 clip=True losses=['cce']", (query, at.markdown[0].value)
        assert not at.warning  # and not a word to the visitor
    at = bound({})
    at.slider(key="y").set_value(0.8).run()
    assert dict(at.query_params) == {}, "the script run now writes bound values: AppTest could check links"
