"""Server time of the BCE landscape page after a slider change, at the default resolution.

Runs the page under Streamlit's AppTest (the whole script: app.py's router, the
page, every chart serialised) and times ``at.run()`` after each slider move.
Every move goes to a value not seen before, so the per-control figure caches
miss and the affected figures are rebuilt, as for a visitor exploring.

    .venv/bin/python benchmarks/bce_page.py [--moves 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

PAGE = "pages/bce.py"
SLIDERS = {
    "y": lambda i: round(0.31 + 0.01 * i, 2),   # the slice: surface, heat map and slice figures
    "ly": lambda i: round(0.51 + 0.01 * i, 2),  # the logit view
    "raw": lambda i: 200 + i,                   # raw 0–255 targets
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20, help="slider moves per slider")
    args = parser.parse_args()

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page(PAGE)
    start = time.perf_counter()
    at.run()
    print(f"first run (MNIST floor, compiles, live fit): {1000 * (time.perf_counter() - start):.0f} ms")
    if at.exception:
        raise SystemExit(f"the page raised: {[e.value for e in at.exception]}")
    resolution = at.slider(key="bce:res").value
    print(f"default grid resolution: {resolution}×{resolution}")

    everything = []
    for key, value_of in SLIDERS.items():
        times = []
        for i in range(args.moves):
            slider = at.slider(key=f"bce:{key}").set_value(value_of(i))
            start = time.perf_counter()
            slider.run()
            times.append(1000 * (time.perf_counter() - start))
            if at.exception:
                raise SystemExit(f"the page raised: {[e.value for e in at.exception]}")
        everything += times
        print(f"slider {key:>3}: median {statistics.median(times):6.1f} ms   max {max(times):6.1f} ms   "
              f"(slowest moves {sorted(round(t) for t in times)[-3:]}, first {times[0]:.0f} ms) "
              f"({len(times)} moves)")
    print(f"all sliders: median {statistics.median(everything):6.1f} ms   max {max(everything):6.1f} ms")


if __name__ == "__main__":
    main()
