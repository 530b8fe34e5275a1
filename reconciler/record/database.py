"""The record's file: created readable by its owner only, opened in WAL mode, its schema migrated."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from reconciler.errors import ConfigError
from reconciler.record.store import Clock, Record, utc_now

SCHEMA_VERSION = 1
# Seconds a write waits for another run's write to finish (each holds the lock for one short statement).
BUSY_TIMEOUT = 10.0

T = TypeVar("T")
_NO_CTTY = getattr(os, "O_NOCTTY", 0)  # POSIX only

# MIGRATIONS[n] takes the schema from version n to n + 1, each step in one transaction. A database made
# by this version is created by running them all from 0.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE runs (
            run_id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            sources TEXT NOT NULL,
            git_commit TEXT,
            git_dirty INTEGER,
            counts TEXT,
            exit_code INTEGER
        )""",
        "CREATE INDEX runs_by_endpoint ON runs (endpoint, command, run_id)",
        """CREATE TABLE patches (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            endpoint TEXT NOT NULL,
            data_id TEXT NOT NULL,
            peak_id TEXT NOT NULL,
            from_candidate TEXT,
            element TEXT,
            manual INTEGER,
            wavelength_nm REAL,
            to_candidate TEXT NOT NULL,
            status TEXT NOT NULL,
            http_status INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            sent_at TEXT NOT NULL,
            finished_at TEXT,
            last_updated_after TEXT,
            message TEXT
        )""",
        "CREATE INDEX patches_by_peak ON patches (endpoint, data_id, peak_id)",
        "CREATE INDEX patches_by_run ON patches (run_id)",
        # What a plan looks up: the latest applied PATCH of each peak. Partial, so it stays small.
        "CREATE INDEX patches_applied ON patches (endpoint, data_id, peak_id) WHERE status = 'applied'",
    ),
]


def open_record(path: str | os.PathLike[str], *, create: bool, clock: Clock = utc_now) -> Record:
    """The record at `path`, its schema brought up to date.

    `create` (apply): make the file (mode 0600) and its folder if missing. Without it (plan, history,
    undo) nothing is created: a missing database is an empty record, and the file is opened read-only.
    Refused with a ConfigError naming the path: a folder or special file, a file that is not an SQLite
    database (or not oes-reconcile's), one made by a newer oes-reconcile.
    """
    shown = os.fspath(path)
    exists = _check_file(shown)
    if not exists and not create:
        return _empty_record(shown, clock)
    if not exists:
        _create(shown)
    connection = _opened(shown, writable=create)
    try:
        version = _guarded(shown, lambda: _version(connection, shown))
        if create:
            _guarded(shown, lambda: _use_wal(connection))
        if version == 0 and not create:  # created by an apply that stopped before it made the tables
            connection.close()
            return _empty_record(shown, clock)
        if version < SCHEMA_VERSION:
            upgrading = connection if create else _opened(shown, writable=True)
            try:
                _guarded(shown, lambda: _migrate(upgrading, shown))
            finally:
                if upgrading is not connection:
                    upgrading.close()
    except BaseException:
        connection.close()
        raise
    return Record(connection, path=shown, writable=create, clock=clock)


def _guarded(path: str, work: Callable[[], T]) -> T:
    """`work` on the database at `path`, its SQLite errors as ConfigErrors naming the path."""
    try:
        return work()
    except sqlite3.OperationalError as exc:  # locked, read-only, cannot open: the file may be fine
        raise ConfigError(f"cannot use the record {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
        raise ConfigError(
            f"{path} is not a readable oes-reconcile record (SQLite: {exc}); move it away, "
            "or name another file with --state (or pass --no-state)"
        ) from None


def _opened(path: str, *, writable: bool) -> sqlite3.Connection:
    return _guarded(path, lambda: _connect(path, writable=writable))


def _check_file(path: str) -> bool:
    """Whether a file is there; a folder or special file is refused (SQLite would hang on a FIFO)."""
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot use the record {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"the record {path} is a folder; name the database file (e.g. {path}/state.db)")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"the record {path} is not a regular file; name a database file")
    return True


def _create(path: str) -> None:
    """Make the database whole (WAL, its tables) beside `path`, readable by its owner only, then link it
    into place: a run creating it at the same moment finds nothing or all of it, never half of it (two
    runs switching one new file to WAL at once would find it locked). SQLite gives -wal and -shm the
    database's mode."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.new")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NO_CTTY, 0o600))
    except OSError as exc:
        raise ConfigError(f"cannot create the record {path}: {exc.strerror}") from None
    try:
        connection = _opened(str(partial), writable=True)
        try:
            _guarded(path, lambda: _use_wal(connection))
            _guarded(path, lambda: _migrate(connection, path))
        finally:
            connection.close()
        _link(partial, target)
    finally:
        for leftover in (partial, *(partial.with_name(partial.name + end) for end in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


def _link(partial: Path, target: Path) -> None:
    """`partial` at `target` too, unless a database is there already (another run made it first)."""
    try:
        partial.hardlink_to(target)
    except FileExistsError:
        return
    except OSError:  # a file system without hard links: a rename, which does not check as closely
        if not target.exists():
            partial.rename(target)


def _connect(path: str, *, writable: bool) -> sqlite3.Connection:
    """A connection; read-only where the folder is too (a CI cache, a shared mount): a WAL database needs
    its -shm file beside it to be read, so there it is read as immutable (no writer can be there either)."""
    connection = _sqlite(path, "rw" if writable else "ro")
    if writable:
        return connection
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        connection.close()
        connection = _sqlite(path, "ro&immutable=1")
    return connection


def _sqlite(path: str, mode: str) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri() + f"?mode={mode}"
    # Autocommit: every statement commits when it returns; migrations open their own transaction.
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
    return connection


def _use_wal(connection: sqlite3.Connection) -> None:
    """WAL: readers never block the writer, and a killed process loses nothing committed; NORMAL syncs
    at checkpoints, not at every commit (a power cut may lose the last commits, a kill not). Set only on
    a file known to be ours: switching another program's database to WAL would change it."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")


def _version(connection: sqlite3.Connection, path: str) -> int:
    """The schema version of the file; a newer one than this tool knows, or foreign tables, are refused."""
    # One statement, one snapshot: another run may commit the tables and the version in between two.
    found, tables = connection.execute(
        "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_master)"
    ).fetchone()
    version = int(found)
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"the record {path} was made by a newer oes-reconcile (schema {version}; this one knows up to "
            f"{SCHEMA_VERSION}); upgrade oes-reconcile, or name another file with --state"
        )
    if version == 0 and tables:
        raise ConfigError(
            f"{path} is an SQLite database that oes-reconcile did not make; name another file with --state"
        )
    return version


def _migrate(connection: sqlite3.Connection, path: str) -> None:
    """Bring the schema up to SCHEMA_VERSION one step at a time, each step in its own transaction (the
    version is read again under the write lock: another run may have migrated meanwhile)."""
    while True:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _version(connection, path)
            if version >= SCHEMA_VERSION:
                connection.execute("ROLLBACK")
                return
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise


def _empty_record(path: str, clock: Clock) -> Record:
    """No database yet: an empty one in memory answers every look-up with nothing."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.row_factory = sqlite3.Row
    _migrate(connection, path)
    return Record(connection, path=path, writable=False, clock=clock)
