"""Content-addressed run ids: identical runs share one id, so they share one training.

``run_id = sha256(canonical config JSON, training-set size, data SHA-256, ENGINE_VERSION)``
cut to 16 lowercase hex characters (64 bits: a collision among a million stored
runs has odds of about 3e-8).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import typing

import numpy as np

from lossviz.config import TrainConfig

ENGINE_VERSION = "1"
"""Bump when training semantics change (same config, different numbers): old ids then stop matching."""

RUN_ID_LENGTH = 16
_RUN_ID = re.compile(rf"[0-9a-f]{{{RUN_ID_LENGTH}}}")
_FIELD_TYPES = typing.get_type_hints(TrainConfig)


def canonical_config(config: TrainConfig | dict) -> dict:
    """The configuration as plain JSON values with each field coerced to its declared type.

    ``learning_rate=1`` and ``learning_rate=1.0`` (or ``1e-3`` and ``0.001``) are
    the same run, so they must give the same id.

    Args:
        config: a :class:`TrainConfig` or its ``to_dict()`` form (keys in any order).

    Returns:
        A dict ready for ``json.dumps(..., sort_keys=True)``.
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        kind = _FIELD_TYPES[field.name]
        if kind is float:
            value = float(value)
        elif kind is int:
            value = int(value)
        elif isinstance(value, tuple):
            value = [int(v) for v in value]
        out[field.name] = value
    return out


def run_id(config: TrainConfig | dict, train_size: int, data_sha256: str) -> str:
    """The id of the run that trains ``config`` on the first ``train_size`` examples of data ``data_sha256``.

    Args:
        config: the configuration (:class:`TrainConfig` or its dict).
        train_size: number of training examples used.
        data_sha256: :func:`data_sha256` of the data set.

    Returns:
        16 lowercase hex characters.
    """
    # json.dumps writes floats with repr(), the shortest text that round-trips.
    text = json.dumps(
        {"config": canonical_config(config), "train_size": int(train_size),
         "data_sha256": str(data_sha256), "engine_version": ENGINE_VERSION},
        sort_keys=True, separators=(",", ":"), allow_nan=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:RUN_ID_LENGTH]


def is_run_id(text) -> bool:
    """True when ``text`` has the form of a run id (a link value is checked before any lookup)."""
    return isinstance(text, str) and _RUN_ID.fullmatch(text) is not None


_HASHES: dict[int, tuple[object, str]] = {}
_HASHES_LOCK = threading.Lock()


def data_sha256(mnist) -> str:
    """SHA-256 of a data set's arrays (dtype, shape and bytes of each, in order), cached per object.

    Args:
        mnist: ``((x_train, y_train), (x_test, y_test))`` or any nesting of tuples/lists of arrays.

    Returns:
        64 lowercase hex characters.
    """
    key = id(mnist)
    with _HASHES_LOCK:
        hit = _HASHES.get(key)
        if hit is not None and hit[0] is mnist:
            return hit[1]
    digest = hashlib.sha256()

    def feed(item) -> None:
        if isinstance(item, (tuple, list)):
            digest.update(b"(%d" % len(item))
            for part in item:
                feed(part)
            digest.update(b")")
            return
        array = np.ascontiguousarray(item)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))

    feed(mnist)
    value = digest.hexdigest()
    with _HASHES_LOCK:
        # Keep the object alive with its hash so its id cannot be reused by another data set.
        if len(_HASHES) > 8:
            _HASHES.clear()
        _HASHES[key] = (mnist, value)
    return value
