"""Engines for the run store: one pooled engine per URL per process, schema upgraded once, faults in one line.

SQLite gets WAL mode (readers never wait for the writer), a busy timeout, and
``BEGIN IMMEDIATE`` for write transactions: a deferred transaction that reads
and then writes can fail at once with ``SQLITE_BUSY`` when another writer
committed in between, whatever the timeout; taking the write lock first makes
concurrent writers queue instead. PostgreSQL gets a connect timeout and
pre-ping, so a database that restarted costs one reconnect, not an error.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url

from lossviz import settings
from lossviz.runs.schema import VERSION_TABLE

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
POSTGRES_CONNECT_TIMEOUT_S = 5
_UPGRADE_LOCK_KEY = 0x6C6F7373_76697A  # "lossviz": one advisory lock id for concurrent start-ups


class StoreError(RuntimeError):
    """The run store cannot be reached, read or written; the message is one line naming the URL (password masked)."""


class StoredRowError(StoreError):
    """A stored run does not parse; the message names the run and what is wrong."""

    def __init__(self, run_id: str, problem: str):
        super().__init__(f"Stored run {run_id} cannot be read: {problem}")
        self.run_id = run_id


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also for a string SQLAlchemy cannot parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is masked by pattern instead
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _first_line(err: BaseException, secret: str | None) -> str:
    original = getattr(err, "orig", None) or err
    line = next((part.strip() for part in str(original).splitlines() if part.strip()), type(original).__name__)
    if secret:
        # Whole words only, so a short password cannot garble the rest of the line.
        line = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", line)
    return line


@contextmanager
def guard(url: str, doing: str):
    """Turn driver, SQLAlchemy and file-system errors into one-line :class:`StoreError`s."""
    try:
        yield
    except StoreError:
        raise
    except Exception as err:
        # Driver, SQLAlchemy, Alembic (e.g. a schema newer than this lossviz) and file-system faults.
        ours = isinstance(err, (exc.SQLAlchemyError, OSError, ImportError))
        if not (ours or type(err).__module__.split(".")[0] in ("alembic", "psycopg", "sqlite3")):
            raise
        try:
            secret = make_url(url).password
        except Exception:
            secret = None
        raise StoreError(f"The run store at {mask_password(url)} could not {doing}: "
                         f"{_first_line(err, secret)}") from err


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enter_wal_mode(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes, not power loss
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        write = connection.get_execution_options().get("lossviz_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _enter_wal_mode(cursor) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file.

    Switching a new file to WAL needs an exclusive lock, and SQLite may answer "database is locked" at
    once instead of calling the busy handler (three processes starting on one empty store did), so the
    busy timeout alone does not make concurrent start-ups wait.
    """
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _new_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = not parsed.database or parsed.database == ":memory:"
        if not in_memory and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database (one per connection) is only good for a quick look: SQLAlchemy's default pool.
        engine = create_engine(parsed) if in_memory else create_engine(
            parsed, pool_size=8, max_overflow=16, pool_timeout=30)
        _configure_sqlite(engine)
        return engine
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(parsed, pool_size=8, max_overflow=16, pool_timeout=30, pool_pre_ping=True,
                         connect_args=connect_args)


_ENGINES: dict[str, Engine] = {}
_UPGRADED: set[str] = set()
_LOCK = threading.Lock()


def engine_for(url: str | None, *, upgrade: bool = True) -> tuple[str, Engine]:
    """The process's engine for ``url`` (``None``: the configured URL), schema upgraded to head on first use.

    Returns:
        ``(url, engine)``; the URL is the resolved one, password included (mask it to show it).

    Raises:
        StoreError: the database cannot be reached, created or upgraded.
    """
    url = url or settings.database_url()
    with _LOCK:
        with guard(url, "be opened"):
            engine = _ENGINES.get(url)
            if engine is None:
                engine = _ENGINES[url] = _new_engine(url)
        if upgrade and url not in _UPGRADED:
            with guard(url, "be reached"):
                engine.connect().close()
            with guard(url, "be upgraded to the current schema"):
                upgrade_schema(engine)
            _UPGRADED.add(url)
    return url, engine


def write_connection(engine: Engine):
    """A connection whose transactions take SQLite's write lock at BEGIN (a no-op elsewhere)."""
    return engine.connect().execution_options(lossviz_write=True)


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` in one transaction.

    Concurrent start-ups wait for each other: SQLite's write lock (``BEGIN IMMEDIATE``)
    or a PostgreSQL transaction-scoped advisory lock is held for the whole upgrade,
    so the second process finds the schema at head and does nothing.
    """
    from alembic import command

    config = _alembic_config()
    with write_connection(engine) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision a database is at (``None``: empty)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str:
    """The newest migration shipped with this lossviz."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def forget(url: str) -> None:
    """Close and drop the process's engine for ``url`` (tests; a dropped database)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
        _UPGRADED.discard(url)
    if engine is not None:
        engine.dispose()
