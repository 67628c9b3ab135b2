"""The command line: ``python -m lossviz presets | train | bench | db | runs`` (``__main__`` calls :func:`main`).

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
import json
import math
import signal
import sys

from lossviz.config import ACTIVATIONS, MAX_EPOCHS, OPTIMIZERS, PIXELS, PRESET_DESCRIPTIONS, PRESETS


# --------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _epochs(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"at most {MAX_EPOCHS} epochs, got {value}")
    return value


def _seed(text: str) -> int:
    value = _whole_number(text)
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


def dumps(obj) -> str:
    """Strict JSON of ``obj``: non-finite floats as ``null``, numpy scalars as numbers."""
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
        if p.kind is engine.EventKind.EPOCH:
            entry = p.record
            if args.json:
                print(dumps(entry), flush=True)
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
        print(dumps(summary), flush=True)
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
    from lossviz import bench

    return bench.command(args)
