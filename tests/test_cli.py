"""The command line: presets, train's JSON lines and summary, bad flags, the bench hook."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from conftest import ROOT
from lossviz import bench, cli
from lossviz.config import PRESETS


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lossviz", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_presets_lists_every_preset(capsys):
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert cli.main(["presets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(listed) == set(PRESETS)
    assert listed["seed-autoencoder"]["pixels"] == "raw" and listed["seed-autoencoder"]["output_activation"] == "softmax"


def test_train_json_prints_one_object_per_epoch_then_the_summary(mnist):
    proc = run_cli("train", "--preset", "classifier-cce", "--epochs", "2", "--json",
                   "--limit-train", "640", "--limit-test", "200")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert len(lines) == 3
    for number, epoch in enumerate(lines[:2], start=1):
        assert set(epoch) == {"epoch", "loss", "test_loss", "test_accuracy", "seconds", "samples_per_second"}
        assert epoch["epoch"] == number and 0.0 <= epoch["test_accuracy"] <= 1.0
        assert epoch["seconds"] > 0 and epoch["samples_per_second"] > 0
    assert lines[1]["loss"] < lines[0]["loss"]
    summary = lines[-1]
    assert summary["status"] == "finished"
    assert summary["final"]["epoch"] == 2 and summary["final"]["loss"] == lines[1]["loss"]
    assert summary["final"]["steps"] == 2 * 20  # 640 / 32
    assert summary["config"]["loss"] == "categorical_crossentropy" and summary["config"]["epochs"] == 2


def test_train_json_of_the_seed_autoencoder_has_the_keras_number_and_no_accuracy(mnist, capsys):
    code = cli.main(["train", "--preset", "seed-autoencoder", "--epochs", "1", "--json",
                     "--limit-train", "300", "--limit-test", "100"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    epoch, summary = lines
    assert "test_accuracy" not in epoch
    assert epoch["keras_reported_loss"] != pytest.approx(epoch["loss"], rel=0.1)
    assert summary["status"] == "finished" and summary["config"]["pixels"] == "raw"


def test_flags_change_the_preset(mnist, capsys):
    code = cli.main(["train", "--preset", "classifier-mse", "--epochs", "1", "--json", "--lr", "0.05",
                     "--batch-size", "50", "--loss", "mse", "--optimizer", "adam", "--seed", "4",
                     "--limit-train", "200", "--limit-test", "50"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    config = summary["config"]
    assert (config["learning_rate"], config["batch_size"], config["loss"], config["optimizer"], config["seed"]) == (
        0.05, 50, "mean_squared_error", "adam", 4)
    assert summary["final"]["steps"] == 4  # 200 / 50


def test_train_without_json_prints_a_readable_summary(mnist, capsys):
    code = cli.main(["train", "--preset", "classifier-cce", "--epochs", "1", "--limit-train", "320",
                     "--limit-test", "100"])
    assert code == 0
    captured = capsys.readouterr()
    assert "finished: Finished 1 epoch (10 steps)." in captured.out
    assert "test accuracy" in captured.out and "samples/s" in captured.out
    assert "epoch" in captured.err  # the progress lines


@pytest.mark.parametrize("flags, message", [
    (["--preset", "nope"], "invalid choice: 'nope'"),
    (["--preset", "classifier-cce", "--epochs", "0"], "must be at least 1"),
    (["--preset", "classifier-cce", "--epochs", "100000"], "at most"),
    (["--preset", "classifier-cce", "--lr", "abc"], "expected a number"),
    (["--preset", "classifier-cce", "--lr", "nan"], "positive finite"),
    (["--preset", "classifier-cce", "--pixels", "grey"], "invalid choice: 'grey'"),
    (["--preset", "classifier-cce", "--loss", "hinge_of_doom"], "unknown loss"),
    (["--preset", "classifier-cce", "--batch-size", "-3"], "must be at least 1"),
    (["--epochs", "2"], "required: --preset"),
])
def test_bad_flags_exit_2_with_a_clear_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_flags_exit_2_from_the_shell():
    proc = run_cli("train", "--preset", "classifier-cce", "--seed", "minus-one")
    assert proc.returncode == 2
    assert "--seed: expected a whole number" in proc.stderr and "Traceback" not in proc.stderr
    assert run_cli("fly").returncode == 2


def test_json_output_is_strict_even_with_non_finite_numbers():
    line = cli.dumps({"loss": float("nan"), "x": [float("inf"), 1.5]})
    assert json.loads(line) == {"loss": None, "x": [None, 1.5]}


def test_bench_hook_modules_are_discovered_by_name(monkeypatch):
    fake = types.ModuleType("lossviz_fake_bench_hook")
    fake.bench = lambda: {"vmapped_ratio": 3.5}
    monkeypatch.setitem(sys.modules, "lossviz_fake_bench_hook", fake)
    broken = types.ModuleType("lossviz_broken_bench_hook")
    broken.bench = lambda: 1 / 0
    monkeypatch.setitem(sys.modules, "lossviz_broken_bench_hook", broken)
    hooks = bench.bench_hooks(("lossviz_fake_bench_hook", "lossviz_broken_bench_hook", "lossviz_not_there"))
    assert hooks["lossviz_fake_bench_hook"] == {"vmapped_ratio": 3.5}
    assert "ZeroDivisionError" in hooks["lossviz_broken_bench_hook"]["error"]
    assert "lossviz_not_there" not in hooks


def test_a_diverging_run_ends_with_a_clear_status_line(mnist, capsys):
    code = cli.main(["train", "--preset", "autoencoder-sigmoid-mse", "--output-activation", "linear",
                     "--pixels", "raw", "--optimizer", "sgd", "--lr", "10", "--limit-train", "200",
                     "--limit-test", "50", "--json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    summary = lines[-1]
    assert summary["status"] == "diverged"
    assert "diverged" in summary["message"] and "step" in summary["message"]
    assert summary["final"]["steps"] < 2 * 5  # stopped inside the first epoch (2 steps per epoch)


def test_psutil_is_a_benchmark_dependency_that_the_app_never_imports():
    runtime = (ROOT / "requirements.txt").read_text()
    assert "psutil" not in runtime and "psutil" in (ROOT / "requirements-dev.txt").read_text()
    code = ("import sys, lossviz.cli, lossviz.bench, lossviz.engine, lossviz.lab, lossviz.figures.lab, lossviz.runs;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psutil'))")
    shown = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"


def test_python_dash_m_lossviz_is_the_cli_entry():
    shown = run_cli("presets", "--json")
    assert shown.returncode == 0, shown.stderr
    assert set(json.loads(shown.stdout)) == set(PRESETS)
