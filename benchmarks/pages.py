"""How fast each page is drawn in chromium: cold, warm, control → chart, and Train → first live point.

    .venv/bin/python benchmarks/pages.py [--warm 3] [--pages bce,gradients] [--no-cold] [--json]

Drives Debian's chromium (Playwright, headless) against ``streamlit run app.py`` on a free
127.0.0.1 port with a run store and a JAX compilation cache of its own (temporary folders).

*Drawn* means: Streamlit's script state is ``notRunning``, every visible ``stPlotlyChart`` holds
its drawn plot (``.main-svg``), and nothing in the document has changed for ``QUIET_MS``. The time
reported is that of the last DOM change before the quiet window (``performance.now()`` of the
page, which counts from the navigation's start), so the window itself is not counted.

- **cold**: the first visitor of a freshly started server (one fresh server per page, opened as
  soon as the server answers its health check). Every server of one benchmark run shares the
  same on-disk JAX cache, which a first pass over all pages fills, so *cold* is "the first visitor
  after a restart" of a deployment that keeps its cache folder.
- **warm**: the median of ``--warm`` later visits (each a new tab, so a new Streamlit session, in one
  browser context whose HTTP cache already holds the app's scripts) on one server that has already
  drawn every page once.
- **control → chart**: each of a page's sliders in ``CONTROLS`` moved by one keyboard step; the time from the
  key press until the last change inside any chart (of the quiet, fully drawn page). The median of three.
- **floor**: the same warm visits of two bare Streamlit pages (a title, a line and a slider; and the same
  with one small plotly chart), served like the app: what Streamlit and plotly cost before any of lossviz.
- **Train → first point**: on the MNIST lab (warm server, seed-autoencoder preset, 60,000 images,
  a new seed each time so no stored run is reused), from the click on Train until the step-loss
  chart draws its first line; the run is then stopped. The median of ``--trains``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the load benchmark's server helpers
import load  # noqa: E402

from lossviz import site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
QUIET_MS = 300
TIMEOUT_MS = 180_000

# Sliders per page (their labels, as shown) whose step changes a chart: the first feeds the most charts, the
# others rerun a section of their own (UrlState.fragment). None: the page has none.
CONTROLS = {
    "": None,
    "bce": ("Target y for the slice", "Raw target value y (a pixel in 0–255)", "Target y for the logit view"),
    "gradients": ("input x", "logit of the dominant wrong class"),
    "mnist": ("Smoothing (debiased EMA β)",),  # measured after the Train run, which gives it a chart to change
    "landscape": None,  # every control recomputes a loss line or surface: not a redraw
    "softmax-kl": ("z1",),
    "losses": ("Huber δ",),
}

# The floor under every page: bare Streamlit pages served the same way, without and with one small plotly chart.
FLOOR_APPS = {
    "Streamlit alone: a title, a line, a slider": (
        "import streamlit as st\nst.title('A bare page')\nst.write('One line of text.')\nst.slider('x', 0, 10, 5)\n"),
    "Streamlit alone, with one small plotly chart": (
        "import plotly.graph_objects as go\nimport streamlit as st\nst.title('A bare page')\n"
        "st.write('One line of text.')\nst.slider('x', 0, 10, 5)\n"
        "st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 0, 1])), key='chart')\n"),
}

# Installed before any page script: the time of the last DOM change anywhere, and inside a chart.
OBSERVE = """
(() => {
  window.__lastMutation = performance.now();
  window.__lastChartMutation = 0;
  window.__scriptDone = 0;
  new MutationObserver(records => {
    const now = performance.now();
    window.__lastMutation = now;
    for (const r of records) {
      if (r.attributeName === 'data-test-script-state' && r.target.getAttribute(r.attributeName) === 'notRunning')
        window.__scriptDone = now;
      const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (node && node.closest && node.closest('[data-testid="stPlotlyChart"]')) {
        window.__lastChartMutation = now;
        break;
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
"""

# Truthy (the time of the last change) once the page is fully drawn and has been quiet for QUIET_MS.
DRAWN = """
(quietMs) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (!document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(c => c.offsetParent !== null);
  if (!charts.every(c => c.querySelector('.main-svg'))) return false;
  if (performance.now() - window.__lastMutation < quietMs) return false;
  return window.__lastMutation;
}
"""

FIRST_POINT = """
() => {
  const lines = document.querySelectorAll('[class*="st-key-steps-"] .scatterlayer path.js-line');
  return [...lines].some(p => (p.getAttribute('d') || '').length > 10) && performance.now();
}
"""


def path_of(url_path: str) -> str:
    return "/" + url_path


def title_of(url_path: str) -> str:
    return {p.url_path: p.title for p in site.PAGES}.get(url_path, site.HOME_TITLE)


def new_context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(OBSERVE)
    return context


def new_page(browser):
    context = new_context(browser)
    return context, context.new_page()


def wait_drawn(page) -> float:
    """Milliseconds (page clock) of the last DOM change of the fully drawn page."""
    handle = page.wait_for_function(DRAWN, arg=QUIET_MS, polling=50, timeout=TIMEOUT_MS)
    return float(handle.json_value())


def visit(browser, base: str, url_path: str, context=None) -> tuple[float, int, float]:
    """Seconds until ``url_path`` is drawn in a new tab (of ``context``, else of a new browser context),
    its number of charts, and the seconds until its script run ended (the rest is the browser drawing)."""
    own = context is None
    context = context or new_context(browser)
    page = context.new_page()
    try:
        page.goto(base + path_of(url_path), wait_until="commit", timeout=TIMEOUT_MS)
        drawn_ms = wait_drawn(page)
        charts = page.locator('[data-testid="stPlotlyChart"]').count()
        script_done = page.evaluate("() => window.__scriptDone") / 1000
        return drawn_ms / 1000, charts, script_done or None  # None: the run ended before the observer saw it
    finally:
        page.close()
        if own:
            context.close()


def control_latency(page, label: str) -> float | None:
    """Seconds from one keyboard step of the slider labelled ``label`` to the last change in a chart."""
    thumb = page.locator(f'input[type="range"][aria-label="{label}"]').first
    thumb.focus()
    wait_drawn(page)
    at_top = thumb.evaluate("el => Number(el.getAttribute('aria-valuenow') ?? el.value) >= "
                            "Number(el.getAttribute('aria-valuemax') ?? el.max)")
    started = page.evaluate("() => (window.__lastChartMutation = 0, performance.now())")
    page.keyboard.press("ArrowLeft" if at_top else "ArrowRight")
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           ".getAttribute('data-test-script-state') === 'running' || window.__lastChartMutation > 0",
                           polling=20, timeout=10_000)
    wait_drawn(page)
    changed = page.evaluate("() => window.__lastChartMutation")
    return (changed - started) / 1000 if changed > started else None


def latencies(browser, base: str, url_path: str, label: str, repeats: int = 3) -> float | None:
    context, page = new_page(browser)
    try:
        page.goto(base + path_of(url_path), wait_until="commit", timeout=TIMEOUT_MS)
        wait_drawn(page)
        found = [control_latency(page, label) for _ in range(repeats)]
        found = [f for f in found if f is not None]
        return statistics.median(found) if found else None
    finally:
        context.close()


def train_to_first_point(browser, base: str, seed: int, then_control: str | None = None) -> tuple[float, float | None]:
    """Seconds from the click on Train to the first drawn step-loss line; then the lab's control latency."""
    context, page = new_page(browser)
    try:
        page.goto(f"{base}/mnist?seed={seed}", wait_until="commit", timeout=TIMEOUT_MS)
        wait_drawn(page)
        button = page.get_by_role("button", name="Train", exact=False).filter(has_text="Train").first
        started = page.evaluate("() => performance.now()")
        button.click()
        drawn = page.wait_for_function(FIRST_POINT, polling="raf", timeout=TIMEOUT_MS).json_value()
        page.get_by_role("button", name="Stop").first.click()
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
                               ".some(m => /stopped|finished/i.test(m.textContent))", polling=200, timeout=60_000)
        latency = None
        if then_control:
            found = [control_latency(page, then_control) for _ in range(3)]
            found = [f for f in found if f is not None]
            latency = statistics.median(found) if found else None
        return (drawn - started) / 1000, latency
    finally:
        context.close()


def server(env: dict[str, str]):
    port = load.free_port()
    return load.start_server(port, env), f"http://127.0.0.1:{port}"


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except Exception:  # noqa: BLE001
        proc.kill()


def measure(pages: list[str], warm: int, trains: int, cold: bool, floor_too: bool = True) -> dict:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="lossviz-pages-bench-"))
    env = {"LOSSVIZ_JAX_CACHE_DIR": str(folder / "jax")}
    results = {p: {"page": title_of(p)} for p in pages}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            # One server for everything warm (it also fills the shared JAX cache for the cold servers).
            proc, base = server({**env, "LOSSVIZ_DATABASE_URL": f"sqlite:///{folder / 'warm.sqlite3'}"})
            try:
                for p in pages:
                    results[p]["first_visit_s"], results[p]["charts"], _ = visit(browser, base, p)
                    print(f"  first visit {title_of(p)}: {results[p]['first_visit_s']:.2f} s", file=sys.stderr)
                time.sleep(15)  # let the background warm-up (after its grace) end
                returning = new_context(browser)  # a returning visitor: the app's scripts are in its cache
                visit(browser, base, "", returning)
                for p in pages:
                    visits = [visit(browser, base, p, returning) for _ in range(warm)]
                    times = [v[0] for v in visits]
                    results[p]["warm_s"] = statistics.median(times)
                    done = [v[2] for v in visits if v[2] is not None]
                    results[p]["warm_script_done_s"] = statistics.median(done) if done else None
                    results[p]["warm_all_s"] = times
                    if CONTROLS.get(p) and p != "mnist":
                        results[p]["controls"] = {label: latencies(browser, base, p, label) for label in CONTROLS[p]}
                    print(f"  warm {title_of(p)}: {times}", file=sys.stderr)
                if "mnist" in pages and trains:
                    firsts, lab_latency = [], None
                    for i in range(trains):
                        first, lab_latency = train_to_first_point(browser, base, 1000 + i, CONTROLS["mnist"][0])
                        firsts.append(first)
                        print(f"  train → first point: {first:.2f} s", file=sys.stderr)
                    results["mnist"]["train_first_point_s"] = statistics.median(firsts)
                    results["mnist"]["train_first_point_all_s"] = firsts
                    results["mnist"]["controls"] = {CONTROLS["mnist"][0]: lab_latency}
            finally:
                stop(proc)
            for number, p in enumerate(pages if cold else []):
                proc, base = server({**env, "LOSSVIZ_DATABASE_URL": f"sqlite:///{folder / f'cold{number}.sqlite3'}"})
                try:
                    results[p]["cold_s"] = visit(browser, base, p)[0]
                    print(f"  cold {title_of(p)}: {results[p]['cold_s']:.2f} s", file=sys.stderr)
                finally:
                    stop(proc)
            floors = [floor(browser, folder, name, source, warm)
                      for name, source in (FLOOR_APPS.items() if floor_too else ())]
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"pages": list(results.values()) + floors, "quiet_ms": QUIET_MS, "warm_visits": warm}


def floor(browser, folder: Path, name: str, source: str, warm: int) -> dict:
    """Warm visits of a bare Streamlit page (``source``) served like the app: what no page can beat."""
    app = folder / f"floor{len(source)}.py"
    app.write_text(source)
    port = load.free_port()
    proc = load.start_server(port, {}, script=app)
    try:
        base = f"http://127.0.0.1:{port}"
        returning = new_context(browser)
        cold = visit(browser, base, "", returning)[0]  # a fresh server's first visitor, with an empty cache
        visits = [visit(browser, base, "", returning) for _ in range(warm)]
        returning.close()
        print(f"  warm {name}: {[v[0] for v in visits]}", file=sys.stderr)
        done = [v[2] for v in visits if v[2] is not None]
        return {"page": name, "charts": visits[0][1], "cold_s": cold, "warm_s": statistics.median(v[0] for v in visits),
                "warm_script_done_s": statistics.median(done) if done else None, "warm_all_s": [v[0] for v in visits]}
    finally:
        stop(proc)


def table(report: dict) -> str:
    def s(value) -> str:
        return "–" if value is None else f"{value:.2f}"

    lines = ["| page | charts | cold s | warm s (script done) | control → chart s (control) | Train → first point s |",
             "|---|---:|---:|---:|---|---:|"]
    for row in report["pages"]:
        control = "; ".join(f"{s(seconds)} ({label})" for label, seconds in row.get("controls", {}).items()) or "–"
        lines.append(f"| {row['page']} | {row.get('charts', '–')} | {s(row.get('cold_s'))} | {s(row.get('warm_s'))} ({s(row.get('warm_script_done_s'))}) "
                     f"| {control} | {s(row.get('train_first_point_s'))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join([""] + [p.url_path for p in site.existing_pages()]),
                        help="comma-separated link paths ('' is home); default: home and every page")
    parser.add_argument("--warm", type=int, default=3, help="warm visits per page (their median is reported)")
    parser.add_argument("--trains", type=int, default=3, help="Train presses on the MNIST lab (0: none)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold visits (one fresh server per page)")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare Streamlit pages (the floor)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    report = measure(args.pages.split(","), args.warm, args.trains, not args.no_cold, not args.no_floor)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
