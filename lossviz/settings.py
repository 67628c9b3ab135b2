"""Server limits, read from environment variables (one documented place).

| variable                          | default           | bounds          |
|-----------------------------------|-------------------|-----------------|
| ``LOSSVIZ_MAX_EPOCHS``            | 50                | epochs of one MNIST run |
| ``LOSSVIZ_MAX_BLOBS_EPOCHS``      | 1000              | epochs of the 2-D classifier |
| ``LOSSVIZ_MAX_CONCURRENT_TRAININGS`` | number of CPU cores | trainings running at once per server |
| ``LOSSVIZ_MAX_GRID``              | 301               | points per axis of a plotted grid |
| ``LOSSVIZ_MAX_STORED_RUNS``       | 200               | runs kept in the run store; the oldest ended ones are evicted beyond it (a 3-epoch seed-autoencoder run is about 1.9 MB, 4.5 MB with per-epoch parameters) |
| ``LOSSVIZ_MAX_QUEUED_PER_SESSION`` | 3               | runs one visitor may have waiting in the queue |
| ``LOSSVIZ_MAX_UPLOAD_ROWS``       | 5000              | rows of a CSV uploaded to the loss zoo |
| ``LOSSVIZ_MAX_UPLOAD_CLASSES``    | 10                | classes in a CSV uploaded to the loss zoo |

Where things are stored (strings, not limits):

| variable                | default                              | meaning |
|-------------------------|--------------------------------------|---------|
| ``LOSSVIZ_DATA_DIR``    | ``$XDG_DATA_HOME/lossviz`` (``~/.local/share/lossviz``) | folder of the default SQLite run store, created on first use |
| ``LOSSVIZ_DATABASE_URL``| ``sqlite:///<data dir>/runs.sqlite3`` | the run store's SQLAlchemy URL, e.g. ``postgresql+psycopg://user:pass@host/db`` |
| ``LOSSVIZ_RAY_ADDRESS`` | unset (in-process workers)           | ``local`` starts Ray on this machine; ``auto`` joins this machine's cluster; ``ray://host:10001`` a remote one |
| ``LOSSVIZ_JAX_CACHE_DIR``| ``$XDG_CACHE_HOME/lossviz/jax`` (``~/.cache/lossviz/jax``) | JAX's persistent compilation cache, shared by the app and its workers |
| ``LOSSVIZ_WARMUP``      | ``1``                                | ``0`` skips the warm-up: ``serve.py`` opening every page before it answers, the lab's presets compiled ahead |

A malformed or non-positive value falls back to the default, so a typo in a
deployment cannot take the app down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _positive_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class Limits:
    max_epochs: int
    max_blobs_epochs: int
    max_concurrent_trainings: int
    max_grid: int
    max_stored_runs: int = 200
    max_queued_per_session: int = 3
    max_upload_rows: int = 5000
    max_upload_classes: int = 10


def limits() -> Limits:
    """The limits in force now (read on every call, so tests can set them)."""
    return Limits(
        max_epochs=_positive_int("LOSSVIZ_MAX_EPOCHS", 50),
        max_blobs_epochs=_positive_int("LOSSVIZ_MAX_BLOBS_EPOCHS", 1000),
        max_concurrent_trainings=_positive_int("LOSSVIZ_MAX_CONCURRENT_TRAININGS", os.cpu_count() or 1),
        max_grid=_positive_int("LOSSVIZ_MAX_GRID", 301),
        max_stored_runs=_positive_int("LOSSVIZ_MAX_STORED_RUNS", 200),
        max_queued_per_session=_positive_int("LOSSVIZ_MAX_QUEUED_PER_SESSION", 3),
        max_upload_rows=_positive_int("LOSSVIZ_MAX_UPLOAD_ROWS", 5000),
        max_upload_classes=_positive_int("LOSSVIZ_MAX_UPLOAD_CLASSES", 10),
    )


def data_dir() -> Path:
    """The folder for lossviz's own data (the default run store); not created here.

    ``LOSSVIZ_DATA_DIR`` if set, else ``$XDG_DATA_HOME/lossviz``, else
    ``~/.local/share/lossviz`` (the XDG base-directory default).
    """
    explicit = os.environ.get("LOSSVIZ_DATA_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "lossviz"


def database_url() -> str:
    """The run store's SQLAlchemy URL: ``LOSSVIZ_DATABASE_URL``, or one SQLite file in :func:`data_dir`."""
    explicit = os.environ.get("LOSSVIZ_DATABASE_URL", "").strip()
    if explicit:
        return explicit
    return f"sqlite:///{data_dir() / 'runs.sqlite3'}"


def ray_address() -> str | None:
    """``LOSSVIZ_RAY_ADDRESS``, or ``None`` for the in-process workers (the default)."""
    return os.environ.get("LOSSVIZ_RAY_ADDRESS", "").strip() or None


def jax_cache_dir() -> Path:
    """JAX's persistent compilation cache: ``LOSSVIZ_JAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/lossviz/jax``."""
    explicit = os.environ.get("LOSSVIZ_JAX_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "lossviz" / "jax"


def warmup() -> bool:
    """``LOSSVIZ_WARMUP``: whether a server warms up (anything but ``0``/``false``/``no``/``off``)."""
    return os.environ.get("LOSSVIZ_WARMUP", "").strip().lower() not in ("0", "false", "no", "off")
