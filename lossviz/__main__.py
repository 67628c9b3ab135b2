"""The command line: ``python -m lossviz presets | train | bench | db upgrade``.

    python -m lossviz presets
    python -m lossviz train --preset classifier-cce --epochs 2 --json
    python -m lossviz bench --json

``train --json`` prints one JSON object per epoch (``epoch``, ``loss``,
``test_loss``, ``test_accuracy`` where it applies, ``seconds``,
``samples_per_second``; ``keras_reported_loss`` for a softmax + BCE model)
and, last, ``{"status": ..., "message": ..., "final": {...}, "config": {...}}``.
Non-finite numbers are written as ``null`` so every line is strict JSON.
Ctrl-C stops a run between chunks and still prints the summary.

Exit status: 0 when a run ends (finished, stopped or diverged: the status
says which), 1 when MNIST cannot be loaded, 2 for bad flags (with a message
saying what is wrong).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import resource
import signal
import sys
import time

from lossviz.config import ACTIVATIONS, MAX_EPOCHS, OPTIMIZERS, PIXELS, PRESET_DESCRIPTIONS, PRESETS

BENCH_HOOKS = ("lossviz.lessons.softmax_kl",)
"""Modules whose ``bench()`` dict is added to ``bench``'s report under the module's name."""


# --------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _epochs(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"at most {MAX_EPOCHS} epochs, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**31 - 1, got {value}")
    return value


def _learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _loss_name(text: str) -> str:
    from lossviz import losses

    try:
        return losses.canonical_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lossviz", description="lossviz: list the presets, train one, or benchmark this machine.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{presets,train,bench,db}")

    presets = commands.add_parser("presets", help="list the training presets")
    presets.add_argument("--json", action="store_true", help="print the presets as one JSON object")

    train = commands.add_parser("train", help="train a preset, optionally changed by flags")
    train.add_argument("--preset", required=True, choices=sorted(PRESETS), metavar="NAME",
                       help="one of: " + ", ".join(PRESETS))
    train.add_argument("--epochs", type=_epochs, help=f"1 to {MAX_EPOCHS}")
    train.add_argument("--lr", "--learning-rate", dest="learning_rate", type=_learning_rate)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--loss", type=_loss_name, help="a Keras loss name, e.g. binary_crossentropy")
    train.add_argument("--output-activation", choices=ACTIVATIONS)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--pixels", choices=PIXELS, help="raw keeps 0–255, unit scales to [0, 1]")
    train.add_argument("--seed", type=_seed)
    train.add_argument("--json", action="store_true", help="one JSON object per epoch, then a summary")
    train.add_argument("--limit-train", type=_positive_int, metavar="N",
                       help="train on the first N examples only (quick checks)")
    train.add_argument("--limit-test", type=_positive_int, metavar="N",
                       help="evaluate on the first N test examples only")
    train.add_argument("--chunk-steps", type=_positive_int, metavar="K",
                       help="steps per compiled chunk (default: about 0.25 s of work)")
    from lossviz.runs.commands import add_runs_parser, add_store_arguments

    add_store_arguments(train)

    bench = commands.add_parser("bench", help="measure training speed on this machine")
    bench.add_argument("--json", action="store_true", help="print the measurements as one JSON object")
    bench.add_argument("--epochs", type=_positive_int, default=4,
                       help="epochs per timed run; the first is compile and warm-up (default 4)")
    from lossviz.runs.cli import add_db_parser

    add_db_parser(commands)
    add_runs_parser(commands)
    return parser


# --------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------


def cmd_presets(args) -> int:
    if args.json:
        print(json.dumps({name: {"description": PRESET_DESCRIPTIONS.get(name, ""), **cfg.to_dict()}
                          for name, cfg in PRESETS.items()}))
        return 0
    width = max(map(len, PRESETS))
    for name, cfg in PRESETS.items():
        print(f"{name:<{width}}  {PRESET_DESCRIPTIONS.get(name, '')}")
        print(f"{'':<{width}}  task={cfg.task} hidden={list(cfg.hidden)} output={cfg.output_activation} "
              f"loss={cfg.loss} {cfg.optimizer} lr={cfg.learning_rate:g} batch={cfg.batch_size} "
              f"epochs={cfg.epochs} pixels={cfg.pixels}")
    return 0


# --------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------


def _strict(value):
    """JSON-safe: non-finite floats become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dumps(obj) -> str:
    return json.dumps(_strict(obj), allow_nan=False)


def _config_from_args(args):
    changes = {
        "epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
        "loss": args.loss, "output_activation": args.output_activation, "optimizer": args.optimizer,
        "pixels": args.pixels, "seed": args.seed,
    }
    return PRESETS[args.preset].replace(**{k: v for k, v in changes.items() if v is not None})


def _bar(fraction: float, width: int = 30) -> str:
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def cmd_train(args, parser) -> int:
    from lossviz import data
    from lossviz import engine

    config = _config_from_args(args)
    try:
        engine.check_config(config)
    except ValueError as err:
        parser.error(str(err))
    try:
        dataset = engine.prepare(config, limit_train=args.limit_train, limit_test=args.limit_test)
    except data.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    from lossviz.runs.commands import open_stored_run

    stored = open_stored_run(args, config)  # the run store records it too, unless --no-store
    if stored is not None:
        stored.start(dataset)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    is_tty = sys.stderr.isatty()

    def on_progress(p: engine.Progress) -> None:
        if p.kind == "epoch":
            entry = p.record
            if args.json:
                print(_dumps(entry), flush=True)
            else:
                if is_tty:
                    print("\r" + " " * 100 + "\r", end="", file=sys.stderr)
                print(_epoch_line(entry, config.epochs), flush=True)
        elif not args.json:
            line = (f"{_bar(p.fraction)} epoch {p.epoch:5.2f}/{config.epochs} loss {p.chunk_loss:.4g} "
                    f"{p.samples_per_second:,.0f} samples/s ETA {_format_seconds(p.eta_seconds)}")
            print(("\r" + line) if is_tty else line, end="" if is_tty else "\n", file=sys.stderr, flush=True)

    try:
        result = engine.run(config, dataset, on_progress=on_progress if stored is None else stored.wrap(on_progress),
                            should_stop=lambda: bool(interrupted) or (stored is not None and stored.should_stop()),
                            chunk_steps=args.chunk_steps)
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = {"status": result.status, "message": result.message, "final": result.final,
               "seconds": result.seconds, "config": config.to_dict()}
    if args.json:
        print(_dumps(summary), flush=True)
    else:
        if is_tty:
            print(file=sys.stderr)
        print(f"{result.status}: {result.message}")
        final = result.final
        if "loss" in final:
            print(f"final train loss {final['loss']:.5g}, test loss {_num(final.get('test_loss'))}"
                  + (f", test accuracy {final['test_accuracy']:.2%}" if "test_accuracy" in final else "")
                  + f"; {result.seconds:.1f} s in all")
    if stored is not None:
        stored.finish(result, dataset)
    return 0


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.5g}"


def _epoch_line(entry: dict, epochs: int) -> str:
    parts = [f"epoch {entry['epoch']}/{epochs}", f"loss {entry['loss']:.5g}",
             f"test loss {_num(entry.get('test_loss'))}"]
    if "test_accuracy" in entry:
        parts.append(f"test accuracy {entry['test_accuracy']:.2%}")
    if "keras_reported_loss" in entry:
        parts.append(f"(Keras 3 would report {entry['keras_reported_loss']:.5g})")
    parts.append(f"{entry['seconds']:.2f} s, {entry['samples_per_second']:,.0f} samples/s")
    return ", ".join(parts)


# --------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------


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
        if p.kind != "chunk":
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
        if p.kind == "epoch":
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
    """Measurements of this machine (see ``cmd_bench``)."""
    import jax

    from lossviz import data
    from lossviz import engine

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


def cmd_bench(args) -> int:
    """Steady epoch time and samples/s, compile time per preset, callback cost, peak memory, device."""
    log = (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True))
    started = time.perf_counter()
    report = bench_report(args.epochs, log)
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(_dumps(report))
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
            print(f"{module_name}: {_dumps(report[module_name])}")
    print(f"bench took {report['bench_seconds']} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "presets":
        return cmd_presets(args)
    if args.command == "train":
        return cmd_train(args, parser)
    if args.command == "runs":
        from lossviz.runs.commands import run_runs

        return run_runs(args)
    if args.command == "db":
        from lossviz.runs.cli import run_db

        return run_db(args)
    return cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
