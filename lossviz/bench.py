"""``python -m lossviz bench`` (``make bench``): what training costs on this machine.

Steady epoch time and samples/s of two presets, compile time per preset, the
cost of a page-like callback every chunk, peak memory, the device, and the
``bench()`` dict of each module in :data:`BENCH_HOOKS`.  Speed numbers come
from here, never from timed tests.  Imports the engine (and plotly, for the
page-like callback); only the ``bench`` command imports it.
"""

from __future__ import annotations

import importlib
import math
import os
import platform
import resource
import sys
import time

from lossviz import engine
from lossviz.cli import dumps
from lossviz.config import PRESETS

BENCH_HOOKS = ("lossviz.lessons.classifier", "lossviz.lessons.landscape_bench")
"""Modules whose ``bench()`` dict is added to ``bench``'s report under the module's name."""




def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def _page_like_callback():
    """A callback doing what a live page does per chunk: keep the losses, smooth them, build a figure."""
    import numpy as np
    import plotly.graph_objects as go

    losses: list = []
    smooth: list = []
    state = {"ema": 0.0, "n": 0}

    def callback(p) -> None:
        if p.kind is not engine.EventKind.CHUNK:
            return
        for value in p.step_losses.tolist():  # debiased EMA, updated incrementally as a page would
            state["ema"] = 0.98 * state["ema"] + 0.02 * value
            state["n"] += 1
            smooth.append(state["ema"] / (1.0 - 0.98 ** state["n"]))
        losses.extend(p.step_losses.tolist())
        go.Figure([go.Scatter(y=np.asarray(losses), mode="lines"),
                   go.Scatter(y=np.asarray(smooth), mode="lines")]).to_plotly_json()

    return callback


def _matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """Sustained f32 matmul rate right now: tells how much of the machine other processes leave."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((size, size), jnp.float32) / size

    @jax.jit
    def chain(a):  # each product depends on the last, so none can be skipped or hoisted
        return jax.lax.fori_loop(0, repeats, lambda i, b: b @ a, a)

    chain(a).block_until_ready()
    started = time.perf_counter()
    chain(a).block_until_ready()
    return 2.0 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def _timed_callback(callback, spent: list):
    def timed(p) -> None:
        started = time.perf_counter()
        callback(p)
        spent.append(time.perf_counter() - started)

    return timed


def _epoch_clock(marks: list):
    """A callback recording (wall, process CPU) time at each epoch's end."""
    def clock(p) -> None:
        if p.kind is engine.EventKind.EPOCH:
            marks.append((time.perf_counter(), time.process_time()))

    return clock


def _steady(result, best: bool = False) -> tuple[float, float]:
    """Median (or, with ``best``, shortest) seconds of the epochs after the first, and samples/s.

    The first epoch includes compiling.  The shortest epoch is the least
    disturbed by other processes on a shared machine.
    """
    import numpy as np

    later = [e["seconds"] for e in result.epochs[1:]] or [e["seconds"] for e in result.epochs]
    seconds = float(np.min(later) if best else np.median(later))
    per_epoch = result.epochs[0]["samples_per_second"] * result.epochs[0]["seconds"]
    return seconds, per_epoch / seconds


def bench_report(epochs: int = 3, log=lambda msg: None) -> dict:
    """Measurements of this machine (see :func:`command`)."""
    import jax

    from lossviz import data

    mnist = data.load_mnist()
    device = jax.devices()[0]
    report: dict = {
        "device": {"platform": device.platform, "kind": getattr(device, "device_kind", str(device)),
                   "count": jax.device_count(), "cpu_count": os.cpu_count(),
                   "machine": platform.machine(), "jax": jax.__version__},
        "load": {"loadavg_1min_before": round(os.getloadavg()[0], 2),
                 "matmul_gflops_before": round(_matmul_gflops(), 1)},
        "compile_seconds": {},
        "training": {},
    }
    jax.jit(lambda a: a + 1).lower(1.0).compile()  # the process's one-off compiler start-up, not a preset's
    datasets = {}
    for name, config in PRESETS.items():
        key = (config.task, config.pixels if config.task != "blobs" else "unit")
        if key not in datasets:
            datasets[key] = engine.prepare(config, mnist)
        jax.clear_caches()
        log(f"compiling {name}")
        parts = engine.compile_seconds(config, datasets[key])
        report["compile_seconds"][name] = {
            "before_first_step": round(parts["init"] + parts["chunk"], 3),
            "evaluate": round(parts["evaluate"], 3)}

    for name in ("autoencoder-sigmoid-bce", "classifier-cce"):
        config = PRESETS[name].replace(epochs=epochs)
        dataset = datasets[(config.task, config.pixels)]
        jax.clear_caches()
        log(f"training {name} for {epochs} epochs")
        marks: list = []
        result = engine.run(config, dataset, on_progress=_epoch_clock(marks))
        seconds, sps = _steady(result)
        cpu = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
        report["training"][name] = {
            "steady_epoch_seconds": round(seconds, 4), "samples_per_second": round(sps),
            "best_epoch_seconds": round(_steady(result, best=True)[0], 4),
            "steady_epoch_cpu_seconds": round(sorted(cpu)[len(cpu) // 2], 4) if cpu else None,
            "first_epoch_seconds": round(result.epochs[0]["seconds"], 3),
            "first_progress_seconds": round(result.first_progress_seconds, 3),
            "chunk_steps": result.chunk_steps, "final_loss": result.epochs[-1]["loss"],
        }

    name = "autoencoder-sigmoid-bce"
    config = PRESETS[name].replace(epochs=3)
    dataset = datasets[(config.task, config.pixels)]
    best = {"none": math.inf, "every_chunk": math.inf}
    share = []
    for _ in range(2):  # interleaved, best epoch of each: other processes' load hits both alike
        for mode in best:
            log(f"callback overhead: {name}, callback {mode}")
            spent: list = []
            callback = _timed_callback(_page_like_callback(), spent) if mode == "every_chunk" else None
            result = engine.run(config, dataset, on_progress=callback)
            best[mode] = min(best[mode], _steady(result, best=True)[0])
            if spent:
                share.append(sum(spent) / result.seconds)
    report["callback_overhead"] = {
        "preset": name, "callback": "keep losses, debiased EMA, build a plotly figure of all steps",
        "epoch_seconds_without": round(best["none"], 4), "epoch_seconds_with": round(best["every_chunk"], 4),
        "throughput_ratio": round(best["none"] / best["every_chunk"], 4),
        "callback_time_share": round(min(share), 4),
    }
    report["load"]["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    report["load"]["matmul_gflops_after"] = round(_matmul_gflops(), 1)
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    report["peak_memory"] = {"process_rss_mb": round(_peak_rss_mb(), 1)}
    if stats and "peak_bytes_in_use" in stats:
        report["peak_memory"]["device_mb"] = round(stats["peak_bytes_in_use"] / 2**20, 1)
    report.update(bench_hooks(BENCH_HOOKS, log))
    return report


def bench_hooks(module_names=BENCH_HOOKS, log=lambda msg: None) -> dict:
    """``{module name: module.bench()}`` for each importable module that has a ``bench()``.

    A hook that raises is reported as ``{"error": ...}`` rather than hiding
    the engine's own numbers.
    """
    found = {}
    for module_name in module_names:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if callable(getattr(module, "bench", None)):
            log(f"{module_name}.bench()")
            try:
                found[module_name] = module.bench()
            except Exception as err:
                found[module_name] = {"error": f"{type(err).__name__}: {err}"}
    return found


def command(args) -> int:
    """Steady epoch time and samples/s, compile time per preset, callback cost, peak memory, device."""
    log = (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    started = time.perf_counter()
    report = bench_report(args.epochs, log)
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(dumps(report))
        return 0
    dev = report["device"]
    print(f"device: {dev['platform']} ({dev['kind']}), {dev['cpu_count']} CPU cores, jax {dev['jax']}")
    load = report["load"]
    print(f"machine load: 1-min load average {load['loadavg_1min_before']} → {load['loadavg_1min_after']}, "
          f"f32 matmul {load['matmul_gflops_before']} → {load['matmul_gflops_after']} GFLOP/s")
    for name, t in report["training"].items():
        print(f"{name}: steady epoch {t['steady_epoch_seconds']:.3f} s (best {t['best_epoch_seconds']:.3f} s; "
              f"{t['steady_epoch_cpu_seconds']} s CPU), "
              f"{t['samples_per_second']:,} samples/s "
              f"(first epoch {t['first_epoch_seconds']:.2f} s, first progress after "
              f"{t['first_progress_seconds']:.2f} s, {t['chunk_steps']} steps per chunk)")
    print("compile seconds before the first step (+ the end-of-epoch evaluation): " + ", ".join(
        f"{k} {v['before_first_step']:.2f} (+{v['evaluate']:.2f})" for k, v in report["compile_seconds"].items()))
    c = report["callback_overhead"]
    print(f"callback every chunk ({c['callback']}): epoch {c['epoch_seconds_with']:.3f} s vs "
          f"{c['epoch_seconds_without']:.3f} s without; throughput ratio {c['throughput_ratio']:.3f}; "
          f"the callback itself takes {c['callback_time_share']:.1%} of the run")
    print("peak memory: " + ", ".join(f"{k} {v}" for k, v in report["peak_memory"].items()))
    for module_name in BENCH_HOOKS:
        if module_name in report:
            print(f"{module_name}: {dumps(report[module_name])}")
    print(f"bench took {report['bench_seconds']} s")
    return 0
