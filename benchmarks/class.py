"""A class presses Train on the teacher's link: N chromium visitors open the same MNIST lab link and press
Train within one second; how long until each page says the run finished, against a lone visitor.

    python benchmarks/class.py [--visitors 10] [--link "p=seed-autoencoder&n=60000&ep=3"] [--json]

It starts its own `streamlit run app.py` on a temporary run store. On a machine with two or more cores the
server is pinned to core 0 and this script with its browsers to core 1 (``taskset``), closer to a real
class whose browsers run on their own machines (PRODUCT.md). Steps, all on the same link with a different
seed each so none attaches to an earlier one:

1. headless: ``python -m lossviz train --no-store`` on the server's core, the engine's steady samples/s;
2. warm-up: one visitor trains seed 0 (compiles the run's programs in the server);
3. lone: one visitor trains seed 1: seconds from its click until its page says "Finished.";
4. class: N visitors open seed 2 and press Train at random moments within one second: the same seconds for
   each, and how many trainings the store computed for them.

Goal (issue 13): worst ≤ 1.5 × lone, one training. The live view's cost is the share of steady training
speed (samples/s of the epochs after the first) a stored run loses to being watched, against headless.
The lone visitor's page also reports its browser's main-thread seconds from Train to "Finished." (Chrome's
``TaskDuration``): N pages whose browsers share one core need N times that of the core, which bounds the
class's worst time on this one machine however fast the server is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import load  # noqa: E402  (free ports, chromium flags, render waits)

from lossviz import site  # noqa: E402

DEFAULT_LINK = "p=seed-autoencoder&n=60000&ep=3"
FINISHED = "Finished."


def pinned(core: int) -> list[str]:
    """``taskset -c core`` when this machine has the cores and the tool, else nothing."""
    if (os.cpu_count() or 1) > core and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def start_server(port: int, store_url: str, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "LOSSVIZ_DATABASE_URL": store_url}
    proc = subprocess.Popen(
        [*pinned(0), sys.executable, "-m", "streamlit", "run", site.SERVER_ENTRY, "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 300  # serve.py opens every page once before it answers
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited during start-up; see {log_path}")
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy")


def steady_rate(epochs: list[dict]) -> float:
    """Mean samples per second of the epochs after the first (which includes compiling)."""
    rates = [float(e["samples_per_second"]) for e in epochs[1:] if e.get("samples_per_second")]
    return sum(rates) / len(rates) if rates else float("nan")


def headless_rate(link: str, seed: int) -> float:
    """The engine's steady samples/s for the link's run, trained by the command line on the server's core."""
    params = dict(part.split("=", 1) for part in link.split("&"))
    args = ["--preset", params.get("p", "seed-autoencoder"), "--seed", str(seed), "--json", "--no-store"]
    if "ep" in params:
        args += ["--epochs", params["ep"]]
    if params.get("n", "60000") != "60000":
        args += ["--limit-train", params["n"], "--limit-test", str(min(int(params["n"]), 10000))]
    out = subprocess.run([*pinned(0), sys.executable, "-m", "lossviz", "train", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=900, check=True)
    lines = [json.loads(line) for line in out.stdout.strip().splitlines()]
    return steady_rate([line for line in lines if "epoch" in line])


async def open_lab(browser, url: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(300_000)  # ten pages drawing on one shared core are slow to load
    page = await context.new_page()
    await page.goto(url)
    await load.wait_rendered(page)
    return context, page


async def main_thread_seconds(cdp) -> float:
    """The page's main-thread busy seconds so far (Chrome's ``TaskDuration``)."""
    metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


async def press_and_wait(page, delay: float, timeout: float, cdp=None) -> tuple[float, float | None]:
    """Seconds from pressing Train (after ``delay``) until the page says the run finished, and (given a
    DevTools session on the page) the browser's main-thread seconds spent on the page meanwhile."""
    await asyncio.sleep(delay)
    busy = await main_thread_seconds(cdp) if cdp is not None else None
    # force: skip Playwright's wait for the button to hold still over two animation frames, which ten pages
    # sharing one core may not give it for a long time; the click itself is the same.
    await page.locator(load.TRAIN_BUTTON).filter(has_text="Train").click(force=True)
    started = time.perf_counter()
    await page.wait_for_function(
        # textContent, not innerText: reading it forces no layout, so ten waiting pages cost the browser little.
        f"() => (document.querySelector('[data-testid=\"stMain\"]') || {{textContent: ''}}).textContent"
        f".includes({json.dumps(FINISHED)})", polling=100, timeout=timeout * 1000)
    waited = time.perf_counter() - started
    return waited, (await main_thread_seconds(cdp) - busy if cdp is not None else None)


async def visitors_train(browser, base: str, link: str, seed: int, visitors: int, spread: float,
                         timeout: float, profile: bool = False) -> list[tuple[float, float | None]]:
    """Each visitor's (seconds until finished, main-thread seconds or None); ``profile`` asks the browser
    for the latter (a lone visitor's: what one watching page costs its machine)."""
    url = f"{base}/mnist?{link}&seed={seed}"
    opened = [await open_lab(browser, url) for _ in range(visitors)]  # one after another; the presses are together
    rng = random.Random(seed)
    sessions = [None] * visitors
    if profile:
        sessions = [await context.new_cdp_session(page) for context, page in opened]
        for cdp in sessions:
            await cdp.send("Performance.enable")
    try:
        return list(await asyncio.gather(*(press_and_wait(page, rng.uniform(0, spread), timeout, cdp)
                                           for (_, page), cdp in zip(opened, sessions))))
    finally:
        for context, _ in opened:
            await context.close()


def _round(value: float, digits: int = 0):
    return None if value != value else round(value, digits)  # NaN (nothing measured) → null


def stored_runs(store_url: str) -> list:
    from lossviz.runs.store import RunStore

    return RunStore(store_url).list_runs(limit=100)


async def drive(base: str, link: str, visitors: int, timeout: float) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=load.CHROMIUM, headless=True, args=load.CHROMIUM_ARGS)
        home = await browser.new_page()  # a fresh server's first page link is served in folder mode
        await home.goto(base)
        await load.wait_rendered(home)
        await home.close()
        warm = await visitors_train(browser, base, link, 0, 1, 0.0, timeout)
        lone = await visitors_train(browser, base, link, 1, 1, 0.0, timeout, profile=True)
        crowd = await visitors_train(browser, base, link, 2, visitors, 1.0, timeout)
        await browser.close()
    return {"warm_up_s": warm[0][0], "lone_s": lone[0][0], "lone_main_thread_s": lone[0][1],
            "class_s": [seconds for seconds, _ in crowd]}


def run(link: str = DEFAULT_LINK, visitors: int = 10, timeout: float = 600) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="lossviz-class-"))
    store_url = f"sqlite:///{folder / 'runs.sqlite3'}"
    headless = headless_rate(link, 1)
    port = load.free_port()
    server = start_server(port, store_url, folder / "server.log")
    try:
        times = asyncio.run(drive(f"http://127.0.0.1:{port}", link, visitors, timeout))
        print(f"headless {headless} samples/s; seconds until finished: {times}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(10)
    from lossviz.runs.store import RunStore

    store = RunStore(store_url)  # list_runs leaves the history out: read each run whole
    runs = {int(row.config.get("seed", -1)): store.get(row.run_id) for row in stored_runs(store_url)}
    crowd = sorted(times["class_s"])
    lone = times["lone_s"]
    rate = lambda seed: steady_rate(runs[seed].epochs) if seed in runs else float("nan")
    return {
        "link": link, "visitors": visitors,
        "server_core": " ".join(pinned(0)) or "unpinned", "browser_core": " ".join(pinned(1)) or "unpinned",
        "lone_s": round(lone, 2),
        "class_median_s": round(statistics.median(crowd), 2), "class_worst_s": round(crowd[-1], 2),
        "worst_over_lone": round(crowd[-1] / lone, 2),
        # What one watching page costs its browser: N pages on one core need N times this of that core.
        "lone_browser_main_thread_s": round(times["lone_main_thread_s"], 2),
        "class_browser_main_thread_s": round(visitors * times["lone_main_thread_s"], 1),
        "trainings_computed_for_class": sum(1 for seed, row in runs.items() if seed == 2),
        "class_run_states": sorted({row.state.value for seed, row in runs.items() if seed == 2}),
        "headless_samples_per_s": _round(headless), "lone_run_samples_per_s": _round(rate(1)),
        "class_run_samples_per_s": _round(rate(2)),
        "live_view_cost_lone": _round(1 - rate(1) / headless, 3),  # share of training speed lost to watching
        "live_view_cost_class": _round(1 - rate(2) / headless, 3),
        "goal_met": crowd[-1] <= 1.5 * lone and sum(1 for seed in runs if seed == 2) == 1,
        "server_log": str(folder / "server.log"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=10, help="visitors pressing Train together (default 10)")
    parser.add_argument("--link", default=DEFAULT_LINK, help=f"the lab link's query (default {DEFAULT_LINK})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if pinned(1):  # this script and the browsers it starts run on core 1, the server on core 0
        os.sched_setaffinity(0, {1})
    summary = run(args.link, args.visitors)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>30}: {value}")
    return 0 if summary["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
