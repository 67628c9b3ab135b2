"""Load test: many chromium visitors across the pages while several trainings run at once.

    python benchmarks/load.py                      # long form: 10 sessions x 3 rounds, 4 trainings
    python benchmarks/load.py --rounds 1 --json    # the short form the test suite runs

It starts its own `streamlit run app.py` on a free 127.0.0.1 port, opens the
sessions concurrently in Debian's chromium, starts the trainings at the same
moment on the MNIST lab (more than the server's slots, so some queue), and
reports the median and worst page-load time and the server's peak memory.
Exit status 1 if any page failed to render, showed an error, or any training
did not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lossviz import site  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
TRAINING_LINK = "p=classifier-cce&n=1000&ep=1"
TRAIN_BUTTON = '[data-testid="stBaseButton-primary"]'  # the MNIST lab's one primary button, Train
ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"], [role="dialog"]'


@dataclass
class Report:
    page_loads: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    trainings_finished: int = 0
    trainings_queued: int = 0
    peak_rss_mb: float = 0.0

    def summary(self, sessions: int, trainings: int, slots: int) -> dict:
        loads = sorted(self.page_loads)
        return {
            "sessions": sessions, "page_loads": len(loads), "trainings": trainings, "training_slots": slots,
            "median_page_load_s": round(statistics.median(loads), 2) if loads else None,
            "worst_page_load_s": round(loads[-1], 2) if loads else None,
            "trainings_finished": self.trainings_finished, "trainings_seen_queued": self.trainings_queued,
            "server_peak_rss_mb": round(self.peak_rss_mb, 1), "errors": self.errors,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_log(port: int) -> Path:
    """Where the server on ``port`` writes its output (tracebacks land there); one file per server."""
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"lossviz-server-{port}.log"


def tracebacks(port: int) -> str:
    """The tracebacks in the log of the server on ``port`` ("" when none)."""
    try:
        text = server_log(port).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(part for part in text.split("\n20") if "Traceback" in part)


START_SECONDS = 300
"""serve.py opens every page once before it answers (20–30 s on 2 cores, more under load)."""


def start_server(port: int, env: dict[str, str], script: str | Path = site.SERVER_ENTRY) -> subprocess.Popen:
    """`streamlit run <script>` (the app's entry by default) on 127.0.0.1:port, from the repository's root;
    its output goes to :func:`server_log`."""
    log = open(server_log(port), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + START_SECONDS
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("streamlit exited during start-up")
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy within {START_SECONDS} s")


def watch_memory(pid: int, report: Report, stop: threading.Event) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            break
        report.peak_rss_mb = max(report.peak_rss_mb, rss / 2**20)
        stop.wait(0.2)


async def wait_rendered(page, timeout: float = 120.0) -> None:
    """Content in the main area and the app's script state "notRunning" for a second."""
    await page.wait_for_selector('[data-testid="stMain"] [data-testid="stElementContainer"]',
                                 timeout=timeout * 1000)
    deadline = time.time() + timeout
    quiet = None
    while time.time() < deadline:
        state = await page.get_attribute('[data-testid="stApp"]', "data-test-script-state")
        if state == "notRunning":
            quiet = quiet or time.time()
            if time.time() - quiet > 1.0:
                return
        else:
            quiet = None
        await asyncio.sleep(0.1)
    raise TimeoutError("page kept running")


async def check_errors(page, where: str, report: Report) -> None:
    boxes = page.locator(ERROR_SELECTOR)
    for i in range(await boxes.count()):
        report.errors.append(f"{where}: {(await boxes.nth(i).inner_text())[:200]}")


async def visitor(browser, base: str, index: int, rounds: int, report: Report) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    paths = [""] + [p.url_path for p in site.existing_pages()]
    for r in range(rounds):
        path = paths[(index + r) % len(paths)]
        start = time.perf_counter()
        try:
            await page.goto(f"{base}/{path}")
            await wait_rendered(page)
        except Exception as err:  # a failed load is a finding, not a crash of the whole test
            report.errors.append(f"session {index} /{path}: {type(err).__name__}: {err}"[:300])
            continue
        report.page_loads.append(time.perf_counter() - start)
        await check_errors(page, f"session {index} /{path}", report)
    await context.close()


async def trainer(browser, base: str, index: int, go: asyncio.Event, report: Report) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{base}/mnist?{TRAINING_LINK}&seed={index}")
    await wait_rendered(page)
    await go.wait()
    await page.locator(TRAIN_BUTTON).filter(has_text="Train").click()
    queued = False
    deadline = time.time() + 300
    while time.time() < deadline:
        text = await page.locator('[data-testid="stMain"]').inner_text()
        queued = queued or "queued" in text.lower()
        if "Finished." in text:
            report.trainings_finished += 1
            break
        await asyncio.sleep(0.25)
    else:
        report.errors.append(f"training {index} did not finish within 300 s")
    report.trainings_queued += queued
    await check_errors(page, f"training {index}", report)
    await context.close()


async def drive(base: str, sessions: int, rounds: int, trainings: int, report: Report) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        go = asyncio.Event()
        trainer_tasks = [asyncio.create_task(trainer(browser, base, i, go, report)) for i in range(trainings)]
        # Let the trainers' pages render, then start every run and every visitor together.
        await asyncio.sleep(1.0)
        go.set()
        visitors = [visitor(browser, base, i, rounds, report) for i in range(sessions - trainings)]
        await asyncio.gather(*visitors, *trainer_tasks)
        await browser.close()


def run(sessions: int = 10, rounds: int = 3, trainings: int = 4, slots: int | None = None) -> dict:
    slots = slots or os.cpu_count() or 1
    port = free_port()
    server = start_server(port, {"LOSSVIZ_MAX_CONCURRENT_TRAININGS": str(slots)})
    report = Report()
    stop = threading.Event()
    watcher = threading.Thread(target=watch_memory, args=(server.pid, report, stop), daemon=True)
    watcher.start()
    try:
        asyncio.run(drive(f"http://127.0.0.1:{port}", sessions, rounds, trainings, report))
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    summary = report.summary(sessions, trainings, slots)
    if summary["errors"]:
        summary["server_tracebacks"] = tracebacks(port)[-6000:]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="pages each visitor opens (default 3)")
    parser.add_argument("--trainings", type=int, default=4, help="sessions that train at once (default 4)")
    parser.add_argument("--slots", type=int, default=None, help="server training slots (default: CPU cores)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    summary = run(args.sessions, args.rounds, args.trainings, args.slots)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>24}: {value}")
    ok = (not summary["errors"] and summary["trainings_finished"] == args.trainings
          and summary["page_loads"] == (args.sessions - args.trainings) * args.rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
