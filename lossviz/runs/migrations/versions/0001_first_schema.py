"""The first run store: runs, their history chunks and their arrays.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("progress", sa.Text, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
    )
    op.create_table(
        "run_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(16), nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("losses", sa.LargeBinary, nullable=False),
        sa.Column("epochs", sa.Text, nullable=False),
    )
    op.create_index("ix_run_chunks_run_id", "run_chunks", ["run_id", "id"])
    op.create_table(
        "run_arrays",
        sa.Column("run_id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("is_list", sa.Boolean, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_arrays")
    op.drop_index("ix_run_chunks_run_id", table_name="run_chunks")
    op.drop_table("run_chunks")
    op.drop_table("runs")
