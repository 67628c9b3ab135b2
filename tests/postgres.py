"""A throwaway PostgreSQL cluster for the store's tests (a pytest plugin, registered in conftest.py).

``postgres_url``: session-scoped; initdb into a temporary folder, ``postgres``
on a free 127.0.0.1 port (as the ``postgres`` user when we are root: PostgreSQL
refuses to run as root), one database; yields its SQLAlchemy URL and stops the
server at the end. ``fresh_postgres_url``: a new empty database on that
cluster per test. Without PostgreSQL's binaries: skipped locally, a failure
under ``CI=true``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import skip_or_fail

SUPERUSER = "lossviz"
_DATABASES = itertools.count()


def _binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _run_as() -> dict:
    """``Popen`` keywords that drop root to the ``postgres`` user (created if missing); nothing when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                       check=True)
    return {"user": "postgres", "group": pwd.getpwnam("postgres").pw_gid}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_connect(port: int, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname=dbname, autocommit=True,
                           connect_timeout=2)


@pytest.fixture(scope="session")
def postgres_cluster():
    """``(port, stop)`` of a running throwaway cluster."""
    bindir = _binaries()
    if bindir is None:
        skip_or_fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; apt-get install postgresql)")
    as_user = _run_as()
    root = tempfile.mkdtemp(prefix="lossviz-pg-")
    if as_user:
        shutil.chown(root, user="postgres", group=as_user["group"])
    data, log_path = os.path.join(root, "data"), os.path.join(root, "server.log")
    subprocess.run([f"{bindir}/initdb", "-D", data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C",
                    "--no-sync"], check=True, capture_output=True, cwd=root, **as_user)
    port = _free_port()
    log = open(log_path, "w")
    # Durability is pointless for a throwaway cluster; without fsync each test's CREATE DATABASE is quick.
    server = subprocess.Popen(
        [f"{bindir}/postgres", "-D", data, "-p", str(port), "-k", root, "-h", "127.0.0.1",
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, **as_user)
    deadline = time.time() + 60
    while True:
        if server.poll() is not None:
            log.close()
            pytest.fail(f"postgres exited at start-up: {open(log_path).read()[-2000:]}")
        try:
            _admin_connect(port).close()
            break
        except Exception:
            if time.time() > deadline:
                server.kill()
                pytest.fail("postgres did not accept connections within 60 s")
            time.sleep(0.2)
    yield port
    server.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()
    shutil.rmtree(root, ignore_errors=True)


def new_database(port: int) -> str:
    """Create an empty database on the cluster; returns its SQLAlchemy URL."""
    name = f"lossviz_{os.getpid()}_{next(_DATABASES)}"
    with _admin_connect(port) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{name}"


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster) -> str:
    """``postgresql+psycopg://lossviz@127.0.0.1:<port>/<db>``: one database for the session."""
    return new_database(postgres_cluster)


@pytest.fixture()
def fresh_postgres_url(postgres_cluster) -> str:
    """A new empty database for one test."""
    return new_database(postgres_cluster)
