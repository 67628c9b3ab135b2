"""Alembic environment of the run store.

``lossviz.runs.migrate.upgrade`` configures Alembic in code and hands this
script an open connection (``config.attributes["connection"]``) inside a
transaction it owns, so the whole upgrade commits or rolls back as one and
concurrent start-ups are serialised by that transaction's lock.
"""

from __future__ import annotations

from alembic import context

from lossviz.runs.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations with `python -m lossviz db upgrade`, not the alembic command")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
