"""A heartbeat per run, so a replica starting up interrupts only runs nobody is training; an index for the queue.

``heartbeat_at`` is NULL for rows written before this revision; readers fall
back to ``updated_at`` for them. ``ix_runs_state_created_at`` serves the queue
position and the newest-first listing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.Float, nullable=True))
        batch.create_index("ix_runs_state_created_at", ["state", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_state_created_at")
        batch.drop_column("heartbeat_at")
