"""A stored run as the lab's :class:`lossviz.lab.RunRecord`, so charts, comparison rows and downloads
treat a stored run, a live one and one kept in memory alike; and its JSON download with the receipt.

Streamlit-free.
"""

from __future__ import annotations

import json

import numpy as np

from lossviz import lab
from lossviz.runs.state import RunState
from lossviz.runs.workers import split_config


def record_of(row, arrays=None) -> lab.RunRecord:
    """The lab record of stored run ``row``; ``arrays(name)`` reads its payloads (``None``: history only).

    Args:
        row: a ``RunRow`` (or the in-memory row of a run whose store failed).
        arrays: ``arrays(name) -> payload | None`` for ``payload/reconstructions``, ``payload/confusion``
            and ``payload/misclassified``.

    Returns:
        A ``RunRecord`` labelled ``run <id> · <description>``; its ``status`` is the state's value.
    """
    config, train_size = split_config(row.config)
    progress = row.progress or {}
    record = lab.RunRecord(run_id=row.run_id, config=config, train_size=train_size or 60000,
                           label=f"{row.run_id[:8]} · {lab.describe(config)}")
    record.status = RunState(row.state).value
    record.message = row.message
    record.steps = np.asarray(row.steps, np.int64).tolist()
    record.step_losses = np.asarray(row.step_losses, np.float64).tolist()
    record.epochs = [dict(e) for e in row.epochs]
    record.total_steps = int(progress.get("total_steps") or 0)
    record.samples_per_second = _number(progress.get("samples_per_second"))
    record.eta_seconds = _number(progress.get("eta_seconds"))
    record.seconds = float(progress.get("seconds") or progress.get("elapsed_seconds") or 0.0)
    record.started_at = float(row.created_at)
    record.common_bce = progress.get("common_bce")
    if arrays is not None:
        recon = arrays("payload/reconstructions")
        if recon:
            record.originals = np.asarray(recon["originals"])
            record.reconstructions = np.asarray(recon["reconstructions"])
        confusion = arrays("payload/confusion")
        if confusion is not None and len(confusion):
            record.confusion = np.asarray(confusion[0] if isinstance(confusion, (list, tuple)) else
                                          next(iter(confusion.values())))
        wrong = arrays("payload/misclassified")
        if wrong:
            record.misclassified = [{k: np.asarray(v) for k, v in wrong.items()}]
    return record


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def run_json(record: lab.RunRecord, receipt: dict) -> str:
    """The run's whole-run JSON download (:func:`lossviz.lab.history_json`) with its receipt added."""
    whole = json.loads(lab.history_json(record))
    whole["receipt"] = dict(receipt or {})
    return json.dumps(whole, indent=1)
