"""``python -m lossviz db upgrade``: bring the run store's schema to this lossviz's newest migration.

The app does the same at start-up; the command lets an operator upgrade a shared
PostgreSQL store once, before rolling out new replicas. Exit status 0 when the
schema is at head, 1 with one line on stderr when the store cannot be reached
or upgraded (the URL's password masked).
"""

from __future__ import annotations

import argparse
import sys


def add_db_parser(commands) -> None:
    """Add the ``db`` command to ``python -m lossviz``'s subparsers."""
    db = commands.add_parser("db", help="manage the run store's database (LOSSVIZ_DATABASE_URL)")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="{upgrade}")
    upgrade = actions.add_parser("upgrade", help="apply the run store's schema migrations up to the newest")
    upgrade.add_argument("--url", default=None,
                         help="database URL (default: LOSSVIZ_DATABASE_URL, else the SQLite file in the data folder)")


def run_db(args: argparse.Namespace) -> int:
    """Run a ``db`` command; returns the exit status."""
    from lossviz.runs.database import StoreError, current_revision, engine_for, head_revision, mask_password

    try:
        url, engine = engine_for(args.url)
        revision = current_revision(engine)
    except StoreError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"run store at {mask_password(url)}: schema at revision {revision} "
          f"({'newest' if revision == head_revision() else 'not the newest'})")
    return 0
