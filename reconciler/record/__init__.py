"""The record: a SQLite database of the runs and PATCHes oes-reconcile made, per endpoint (`--state`).

`place` says where it lives, `database` opens it (created 0600, its schema migrated step by step), and
`store` reads and writes it.
"""

from __future__ import annotations

from reconciler.record.database import BUSY_TIMEOUT, MIGRATIONS, SCHEMA_VERSION, open_record
from reconciler.record.place import STATE_VARIABLE, state_path
from reconciler.record.store import APPLIED, CHUNK, Clock, PatchRow, Record, RunRow, utc_now

__all__ = [
    "APPLIED",
    "BUSY_TIMEOUT",
    "CHUNK",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATE_VARIABLE",
    "Clock",
    "PatchRow",
    "Record",
    "RunRow",
    "open_record",
    "state_path",
    "utc_now",
]
