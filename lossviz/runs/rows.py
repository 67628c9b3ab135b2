"""How a run is held in memory (:class:`RunRow`) and written to its columns (JSON text, little-endian blobs, npz).

Every decoder raises :class:`StoredRowError` naming the run, never a bare
``ValueError``, so the page can report one damaged run and show the others.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field

import numpy as np

from lossviz.runs.database import StoredRowError
from lossviz.runs.state import RunState

STEP_DTYPE, LOSS_DTYPE = np.dtype("<i8"), np.dtype("<f4")


@dataclass(frozen=True)
class RunRow:
    """One stored run. ``version`` increments on every write to the run."""

    run_id: str
    config: dict
    state: RunState
    message: str
    created_at: float
    updated_at: float
    version: int
    owner: str | None
    progress: dict
    receipt: dict
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    step_losses: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    epochs: list[dict] = field(default_factory=list)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value) -> str:
    # NaN/Infinity are kept (a diverged run's last loss); Python's json reads them back.
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def loads(run_id: str, column: str, text, kind: type):
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as err:
        raise StoredRowError(run_id, f"its {column} is not JSON ({err})") from None
    if not isinstance(value, kind):
        raise StoredRowError(run_id, f"its {column} is a {type(value).__name__}, not a {kind.__name__}")
    return value


def decode_blob(run_id: str, column: str, blob, dtype: np.dtype) -> np.ndarray:
    if blob is None or len(blob) % dtype.itemsize:
        raise StoredRowError(run_id, f"a history chunk's {column} is not a whole number of {dtype} values")
    return np.frombuffer(bytes(blob), dtype)


def npz_bytes(arrays: list[np.ndarray] | dict[str, np.ndarray]) -> tuple[bytes, bool]:
    buffer = io.BytesIO()
    if isinstance(arrays, dict):
        np.savez(buffer, **{str(k): np.asarray(v) for k, v in arrays.items()})
        return buffer.getvalue(), False
    np.savez(buffer, *[np.asarray(a) for a in arrays])
    return buffer.getvalue(), True


def parse_row(row, **history) -> RunRow:
    """A ``runs`` row (plus its history) as a :class:`RunRow`; :class:`StoredRowError` if it does not parse."""
    try:
        state = RunState(row.state)
    except ValueError:
        raise StoredRowError(row.id, f"its state {row.state!r} is not a run state") from None
    for name in ("created_at", "updated_at"):
        if not isinstance(getattr(row, name), (int, float)) or not math.isfinite(getattr(row, name)):
            raise StoredRowError(row.id, f"its {name} is not a time")
    return RunRow(run_id=row.id, config=loads(row.id, "configuration", row.config, dict), state=state,
                  message=row.message or "", created_at=float(row.created_at), updated_at=float(row.updated_at),
                  version=int(row.version), owner=row.owner, progress=loads(row.id, "progress", row.progress, dict),
                  receipt=loads(row.id, "receipt", row.receipt, dict), **history)
