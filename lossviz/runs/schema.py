"""The run store's tables at the newest migration (SQLAlchemy Core; the same for SQLite and PostgreSQL).

Migrations under ``lossviz/runs/migrations/versions`` create these tables; they
never import this module (a migration is frozen at the schema it was written
for), and ``tests/test_migrations.py`` checks that upgrading to head yields
exactly this schema.

- ``runs``: one row per run. JSON lives in ``Text`` columns that the store parses
  itself, so a row that does not parse is reported with its run id.
  ``version`` increments on every write, ``heartbeat_at`` is touched by whoever
  is training or queueing the run (see ``RunStore.mark_interrupted``).
- ``run_chunks``: history appended once per jitted chunk: the chunk's steps
  (``<i8`` bytes) and per-step losses (``<f4`` bytes), and the epoch records it
  completed (a JSON list). Rows are ordered by their autoincrement ``id``.
- ``run_arrays``: named arrays of a run (parameters, payloads) as ``.npz`` bytes.
"""

from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table,
                        Text)

VERSION_TABLE = "lossviz_alembic_version"
"""Alembic's bookkeeping table, prefixed so the store can share a database with other apps."""

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", String(16), primary_key=True),
    Column("config", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("owner", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("version", Integer, nullable=False),
    Column("progress", Text, nullable=False),
    Column("receipt", Text, nullable=False),
    Column("heartbeat_at", Float, nullable=True),
    Index("ix_runs_state_created_at", "state", "created_at"),
)

run_chunks = Table(
    "run_chunks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(16), nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("losses", LargeBinary, nullable=False),
    Column("epochs", Text, nullable=False),
    Index("ix_run_chunks_run_id", "run_id", "id"),
)

run_arrays = Table(
    "run_arrays", metadata,
    Column("run_id", String(16), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("is_list", Boolean, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
