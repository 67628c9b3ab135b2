"""The run store, run ids and run states: real SQLite files and a real PostgreSQL cluster, no mocks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lossviz.config import PRESETS, TrainConfig
from lossviz.runs import ids
from lossviz.runs.state import RunState

DATA = "a" * 64
SEED_AE = PRESETS["seed-autoencoder"]


# --------------------------------------------------------------------------
# States and ids
# --------------------------------------------------------------------------


def test_live_states_are_queued_and_running():
    assert {s for s in RunState if s.live} == {RunState.QUEUED, RunState.RUNNING}
    assert RunState("interrupted") is RunState.INTERRUPTED


def test_from_engine_maps_the_three_engine_statuses_and_rejects_others():
    assert [RunState.from_engine(s) for s in ("finished", "stopped", "diverged")] == [
        RunState.FINISHED, RunState.STOPPED, RunState.DIVERGED]
    assert RunState.from_engine(RunState.STOPPED) is RunState.STOPPED
    for bad in ("queued", "running", "nonsense"):
        with pytest.raises(ValueError):
            RunState.from_engine(bad)


def test_run_id_is_stable_across_key_order_and_float_spelling():
    base = ids.run_id(SEED_AE, 60000, DATA)
    shuffled = dict(reversed(list(SEED_AE.to_dict().items())))
    assert ids.run_id(shuffled, 60000, DATA) == base
    respelled = SEED_AE.to_dict() | {"learning_rate": float("0.0010"), "bias_init": 0}
    assert ids.run_id(respelled, 60000, DATA) == base
    assert ids.is_run_id(base) and len(base) == 16 and base == base.lower()


def test_run_id_differs_for_every_config_field_train_size_data_and_engine(monkeypatch):
    base = ids.run_id(SEED_AE, 60000, DATA)
    changes = {"task": "classifier", "hidden": (128, 64, 28, 64, 129), "output_activation": "sigmoid",
               "loss": "mean_squared_error", "learning_rate": 1.0000000000000002e-3, "batch_size": 101,
               "epochs": 6, "optimizer": "sgd", "hidden_activation": "tanh", "pixels": "unit",
               "bias_init": 1e-300, "seed": 1}
    assert set(changes) == {f.name for f in dataclasses.fields(TrainConfig)}, "a field is untested"
    seen = {base}
    for name, value in changes.items():
        other = ids.run_id(SEED_AE.replace(**{name: value}), 60000, DATA)
        assert other not in seen, name
        seen.add(other)
    assert ids.run_id(SEED_AE, 59999, DATA) not in seen
    assert ids.run_id(SEED_AE, 60000, "b" + DATA[1:]) not in seen
    monkeypatch.setattr(ids, "ENGINE_VERSION", ids.ENGINE_VERSION + ".1")
    assert ids.run_id(SEED_AE, 60000, DATA) not in seen


@pytest.mark.parametrize("text", ["", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF",
                                  "0123456789abcdeg", "0123456789abcde ", " 0123456789abcdef",
                                  "0123456789abcdef\n", "../../etc/passwd", None, 123])
def test_is_run_id_rejects_tampered_and_truncated_values(text):
    assert not ids.is_run_id(text)


def test_data_sha256_matches_hashlib_and_sees_one_changed_pixel():
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    y = np.array([3, 7], dtype=np.uint8)
    data = ((x, y), (x[:1], y[:1]))
    first = ids.data_sha256(data)
    assert first == ids.data_sha256(data) and len(first) == 64
    changed = x.copy()
    changed[1, 5, 5] ^= 1
    assert ids.data_sha256(((changed, y), (x[:1], y[:1]))) != first
    # Same bytes, different shape: a different data set.
    assert ids.data_sha256(((x.reshape(2, 784), y), (x[:1], y[:1]))) != first
