"""A run's downloads: per-epoch CSV, per-step CSV and the whole run as JSON."""

from __future__ import annotations

import csv
import io
import json
import math

from lossviz.lab.records import EPOCH_FIELDS, RunRecord


def history_csv(record: RunRecord) -> str:
    """Per-epoch history as CSV, one row per epoch, header :data:`EPOCH_FIELDS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EPOCH_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in record.epochs:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in EPOCH_FIELDS})
    return buf.getvalue()


def steps_csv(record: RunRecord) -> str:
    """The loss of every training step as CSV (``step,loss``)."""
    lines = ["step,loss"]
    lines += [f"{s},{'' if not math.isfinite(v) else repr(v)}" for s, v in zip(record.steps, record.step_losses)]
    return "\n".join(lines) + "\n"


def history_json(record: RunRecord) -> str:
    """The whole run (configuration, status, epochs, step losses) as JSON."""
    return json.dumps(record.to_dict(), indent=1)
