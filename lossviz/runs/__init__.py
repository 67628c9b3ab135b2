"""Runs as server-side objects: the store, the run id, the workers.

May import the engine, lab records, sqlalchemy and ray; never streamlit.
"""

from lossviz.runs.database import StoredRowError, StoreError
from lossviz.runs.ids import ENGINE_VERSION, data_sha256, is_run_id, run_id
from lossviz.runs.state import RunState
from lossviz.runs.store import HEARTBEAT_STALE_SECONDS, INTERRUPTED_MESSAGE, RunRow, RunStore
