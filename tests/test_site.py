"""Every page runs under AppTest, and a real browser shows the human page titles."""

from __future__ import annotations

import pytest

from conftest import app_test, error_texts, screenshot, wait_for_app
from lossviz import site

PAGES = site.existing_pages()


def test_home_runs_and_links_every_page():
    at = app_test()
    assert not at.exception
    assert at.title[0].value == "lossviz"
    assert len(at.get("plotly_chart")) == 1
    links = [link.proto.label for link in at.get("page_link")]
    assert len(links) == len(PAGES)
    for info in PAGES:
        assert any(info.title in label for label in links), info.title


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path for p in PAGES])
def test_page_runs_without_exception(info):
    at = app_test(info.file)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.browser
def test_browser_sidebar_titles_and_pages(server_url, page):
    page.goto(server_url + "/")
    wait_for_app(page)
    nav = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    titles = [nav.nth(i).inner_text().strip() for i in range(nav.count())]
    # Icons render as ligature text before the title; compare on the title's words.
    cleaned = [t.splitlines()[-1].strip() for t in titles]
    assert cleaned == [site.HOME_TITLE] + [p.title for p in PAGES], titles
    assert not error_texts(page)
    screenshot(page, "home")
    # Every page opened by its address, in both themes, is the accessibility audit's job
    # (tests/test_accessibility.py fails on any error box); here the sidebar itself navigates.
    target = PAGES[-1]
    nav.nth(len(PAGES)).click()
    page.wait_for_url(f"**/{target.url_path}*")
    wait_for_app(page)
    assert not error_texts(page), (target.title, error_texts(page))
    assert page.locator("h1").first.inner_text().strip() == target.title


@pytest.mark.parametrize("info", PAGES, ids=[p.url_path for p in PAGES])
def test_link_paths_match_the_names_streamlit_derives_from_files(info):
    # A fresh server resolves its first direct link by these file-derived names.
    from pathlib import Path

    from streamlit.source_util import page_icon_and_name

    assert page_icon_and_name(Path(info.file))[1] == info.url_path


@pytest.mark.browser
def test_a_direct_link_is_the_first_request_of_a_fresh_server(browser):
    """Streamlit's legacy pages/ mode handles a server's first run: the link must still just work."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import load

    info = next(p for p in PAGES if p.url_path == "gradients")
    port = load.free_port()
    server = load.start_server(port, {"LOSSVIZ_WARMUP": "0"})  # tests/test_warmup.py checks the warm-up
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/{info.url_path}?x=2")
        wait_for_app(page)
        assert not error_texts(page), error_texts(page)
        assert page.locator("h1").first.inner_text().strip() == info.title
        nav = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        titles = [nav.nth(i).inner_text().strip().splitlines()[-1] for i in range(nav.count())]
        assert titles == [site.HOME_TITLE] + [p.title for p in PAGES]
        assert page.url.endswith(f"/{info.url_path}?x=2")
        screenshot(page, "cold-direct-link")
        context.close()
    finally:
        server.terminate()
        server.wait(10)


def test_the_one_private_streamlit_touch_still_matches_upstream():
    """lossviz.ui.navigation clears PagesManager.uses_pages_directory: if Streamlit renames or stops reading it,
    direct links on a fresh server break (legacy pages/ mode), so this must fail on the upgrade, loudly."""
    import inspect

    from streamlit.commands import navigation as st_navigation
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    assert "uses_pages_directory" in vars(PagesManager), "Streamlit moved the legacy pages/ flag"
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner), \
        "Streamlit's script runner no longer reads the legacy pages/ flag: revisit lossviz.ui.navigation"
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(st_navigation), \
        "st.navigation no longer clears the legacy flag: revisit lossviz.ui.navigation"


def test_no_private_streamlit_name_outside_the_navigation_function():
    import re

    from conftest import ROOT

    private = re.compile(r"^\s*(from|import)\s+streamlit\.(?!components\.v1\b|testing\.v1\b)|\bst\._[a-z]|"
                         r"\bst\.runtime\b", re.M)
    allowed = ROOT / "lossviz" / "ui" / "navigation.py"
    files = [*(ROOT / "lossviz").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py", ROOT / "serve.py"]
    offenders = [str(f.relative_to(ROOT)) for f in files if f != allowed and private.search(f.read_text())]
    assert offenders == []
    assert private.search(allowed.read_text()), "the one touch moved: update this test and the docstrings"


def test_pages_stop_through_their_url_state_so_link_notices_show():
    from conftest import ROOT

    for page in (ROOT / "pages").glob("*.py"):
        assert "st.stop()" not in page.read_text(), f"{page.name}: use url.stop() (it shows the link notices)"


def test_the_served_entry_warms_the_process_before_its_first_visitor(monkeypatch):
    """``streamlit run serve.py`` (make run, the image, the test servers) serves app.py as an ``st.App``, whose
    lifespan opens every page (unless LOSSVIZ_WARMUP=0) and starts the warm-up before the server answers anyone."""
    import asyncio
    import concurrent.futures
    import importlib
    from pathlib import Path

    import streamlit as st

    from lossviz import site, ui

    serve = importlib.import_module(Path(site.SERVER_ENTRY).stem)
    assert isinstance(serve.app, st.App) and serve.app.script_path == Path("app.py")
    done = []

    async def visit_pages(paths, seconds_each):
        done.append(("visited", tuple(paths)))
        return {path: "drawn in 0.1 s" for path in paths}

    monkeypatch.setattr(ui.navigation, "visit_pages", visit_pages)  # tests/test_warmup.py visits for real
    monkeypatch.setattr(ui.data, "start_warm_up", lambda: done.append(("warm-up started",)))

    async def start_and_stop():
        async with serve.warmed(serve.app):
            return list(done)

    every_page = ("", *(page.url_path for page in site.existing_pages()))
    for warm_up, expected in (("1", [("visited", every_page), ("warm-up started",)]), ("0", [("warm-up started",)])):
        monkeypatch.setenv("LOSSVIZ_WARMUP", warm_up)
        done.clear()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own: pytest's may be running here
            assert pool.submit(asyncio.run, start_and_stop()).result(timeout=60) == expected

    async def broken(paths, seconds_each):
        raise RuntimeError("no runtime")

    monkeypatch.setattr(ui.navigation, "visit_pages", broken)  # a failed visit costs the speed-up, not the server
    monkeypatch.setenv("LOSSVIZ_WARMUP", "1")
    done.clear()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, start_and_stop()).result(timeout=60) == [("warm-up started",)]
