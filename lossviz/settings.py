"""Server limits, read from environment variables (one documented place).

| variable                          | default           | bounds          |
|-----------------------------------|-------------------|-----------------|
| ``LOSSVIZ_MAX_EPOCHS``            | 50                | epochs of one MNIST run |
| ``LOSSVIZ_MAX_BLOBS_EPOCHS``      | 1000              | epochs of the 2-D classifier |
| ``LOSSVIZ_MAX_CONCURRENT_TRAININGS`` | number of CPU cores | trainings running at once per server |
| ``LOSSVIZ_MAX_GRID``              | 301               | points per axis of a plotted grid |

A malformed or non-positive value falls back to the default, so a typo in a
deployment cannot take the app down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


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


def limits() -> Limits:
    """The limits in force now (read on every call, so tests can set them)."""
    return Limits(
        max_epochs=_positive_int("LOSSVIZ_MAX_EPOCHS", 50),
        max_blobs_epochs=_positive_int("LOSSVIZ_MAX_BLOBS_EPOCHS", 1000),
        max_concurrent_trainings=_positive_int("LOSSVIZ_MAX_CONCURRENT_TRAININGS", os.cpu_count() or 1),
        max_grid=_positive_int("LOSSVIZ_MAX_GRID", 301),
    )
