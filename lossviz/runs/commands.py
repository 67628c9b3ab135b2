"""The command line's side of the run store: ``python -m lossviz train`` records into it and prints the
run's link (a teacher can train before class), ``python -m lossviz runs`` lists what it holds.

``lossviz.__main__`` adds the arguments and calls these; nothing here imports streamlit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from lossviz.runs.state import RunState

DEFAULT_LINK_BASE = "http://localhost:8501"
"""Where ``make run`` serves the app; ``--link-base`` names a deployed server instead."""


def link(run_id: str, base: str = DEFAULT_LINK_BASE) -> str:
    """The lab's link to ``run_id`` on the server at ``base``."""
    return f"{base.rstrip('/')}/mnist?run={run_id}"


def add_store_arguments(train: argparse.ArgumentParser) -> None:
    """``--no-store`` and ``--link-base`` for ``train``."""
    train.add_argument("--no-store", action="store_true",
                       help="train in memory only (by default the run goes into the run store, LOSSVIZ_DATABASE_URL)")
    train.add_argument("--link-base", default=DEFAULT_LINK_BASE, metavar="URL",
                       help=f"the app's address for the printed link (default {DEFAULT_LINK_BASE})")


class StoredCliRun:
    """A ``train`` command's run in the store: records while the engine trains, then says where to see it."""

    def __init__(self, store, run_id: str, config, stored_config: dict, link_base: str, json_output: bool):
        from lossviz.runs.workers import Recorder

        self.store, self.run_id, self.config = store, run_id, config
        self.recorder = Recorder(store, run_id, stored_config)
        self.link = link(run_id, link_base)
        self.json_output = json_output

    def wrap(self, on_progress):
        """The engine's ``on_progress``: the store's recorder, then the command's own printing."""
        def both(event) -> None:
            self.recorder(event)
            on_progress(event)
        return both

    def should_stop(self) -> bool:
        """A Stop pressed in the lab by... nobody owns a command-line run, so only a state set by hand counts."""
        return self.recorder.should_stop()

    def start(self, dataset) -> None:
        self.recorder.start(dataset)

    def finish(self, result, dataset) -> None:
        """Store the result and print the run's link (stdout, or stderr under ``--json``)."""
        state = self.recorder.finish(self.config, dataset, result)
        lost = self.recorder.writer.lost
        say = sys.stderr if self.json_output else sys.stdout
        if lost is not None:
            print(f"warning: the run could not be stored ({lost}); its numbers above are all there is.", file=say)
        else:
            print(f"stored as run {self.run_id} ({state.value}): {self.link}", file=say, flush=True)


def open_stored_run(args, config, mnist=None) -> StoredCliRun | None:
    """Queue ``config`` in the store for this command, or say (stderr) why it is trained unstored.

    Returns ``None`` when ``--no-store`` is given, when ``--limit-test`` makes the run differ from the lab's,
    or when the store cannot be opened; a run already stored and not retrainable is reported with its link
    and also gives ``None`` (the command trains in memory anyway, as asked).
    """
    from lossviz import data
    from lossviz.lab import test_size
    from lossviz.runs.ids import data_sha256, run_id
    from lossviz.runs.service import RETRAINABLE
    from lossviz.runs.store import RunStore, StoreError
    from lossviz.runs.workers import stored_config

    if args.no_store:
        return None
    mnist = mnist if mnist is not None else data.load_mnist()
    n = min(args.limit_train or len(mnist[0][0]), len(mnist[0][0]))
    if args.limit_test is not None and args.limit_test != test_size(n):
        print(f"note: not stored: --limit-test {args.limit_test} differs from the lab's {test_size(n)} test images.",
              file=sys.stderr)
        return None
    try:
        store = RunStore(None)
        rid = run_id(config, n, data_sha256(mnist))
        row = store.get(rid)
        fresh = stored_config(config, n)
        if row is None:
            queued = store.insert_queued(rid, fresh, None)
        elif row.state in RETRAINABLE:
            queued = store.requeue(rid, None)
        else:
            queued = False
        if not queued:
            state = store.state(rid)
            print(f"note: run {rid} is already stored ({state.value if state else 'gone'}): {link(rid, args.link_base)}",
                  file=sys.stderr)
            return None
    except StoreError as err:
        print(f"warning: the run store cannot be used ({err}); training in memory only.", file=sys.stderr)
        return None
    return StoredCliRun(store, rid, config, fresh, args.link_base, args.json)


# ---------------------------------------------------------------- `python -m lossviz runs`
def add_runs_parser(commands) -> None:
    """The ``runs`` command: list stored runs, newest first."""
    runs = commands.add_parser("runs", help="list the runs in the run store (LOSSVIZ_DATABASE_URL)")
    runs.add_argument("--limit", type=int, default=20, help="how many of the newest runs (default 20)")
    runs.add_argument("--state", choices=[s.value for s in RunState], action="append",
                      help="only runs in this state (repeatable)")
    runs.add_argument("--json", action="store_true", help="one JSON object per run")
    runs.add_argument("--link-base", default=DEFAULT_LINK_BASE, metavar="URL",
                      help=f"the app's address for the links (default {DEFAULT_LINK_BASE})")


def run_runs(args) -> int:
    """List stored runs; exit status 1 with one line on stderr when the store cannot be read."""
    from lossviz.lab import describe
    from lossviz.runs.store import RunStore, StoreError
    from lossviz.runs.workers import split_config

    try:
        store = RunStore(None)
        rows = store.list_runs(limit=max(1, args.limit), states=args.state)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for row in rows:
        try:
            config, n = split_config(row.config)
            what = f"{describe(config)} on {n or 60000:,} images"
        except (KeyError, TypeError, ValueError) as err:  # a configuration that does not parse is said, not raised
            what = f"(configuration unreadable: {err})"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
        if args.json:
            print(json.dumps({"run_id": row.run_id, "state": row.state.value, "created_at": row.created_at,
                              "message": row.message, "config": row.config, "link": link(row.run_id, args.link_base)}))
        else:
            print(f"{row.run_id}  {row.state.value:<11} {when}  {what}\n{'':18}{link(row.run_id, args.link_base)}")
    if not rows and not args.json:
        print(f"no stored runs in {store.url_for_humans}")
    return 0
