"""The record's file: created 0600 in WAL mode, versioned and migrated, and refused when it is not one."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from reconciler.errors import ConfigError, RecordError
from reconciler.record import SCHEMA_VERSION, database, open_record
from tests.factories import ENDPOINT, change, patched, start_run


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_apply_creates_the_file_for_its_owner_only(tmp_path: Path) -> None:
    """The database, its -wal and -shm are 0600 and its new folder 0700, whatever the umask allows."""
    path = tmp_path / "new" / "state.db"
    old = os.umask(0o022)
    try:
        with open_record(path, create=True) as record:
            patched(record, start_run(record), change(), status=None)
            companions = [path.with_name("state.db-wal"), path.with_name("state.db-shm")]
            assert all(companion.exists() for companion in companions)
            assert [mode(p) for p in (path, *companions)] == [0o600, 0o600, 0o600]
    finally:
        os.umask(old)
    assert mode(path.parent) == 0o700


def test_the_file_is_in_wal_mode_at_the_current_schema(tmp_path: Path) -> None:
    """WAL (two runs can share the file) and the schema version in `user_version`."""
    path = tmp_path / "state.db"
    open_record(path, create=True).close()
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "integrity_check") == "ok"


def test_writes_sync_at_checkpoints_not_every_commit(tmp_path: Path) -> None:
    """synchronous=NORMAL: a killed process loses nothing committed, without an fsync per PATCH."""
    with open_record(tmp_path / "state.db", create=True) as record:
        assert record._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_reading_a_missing_record_creates_nothing(tmp_path: Path) -> None:
    """plan, history and undo find no database: an empty record, and no file or folder made."""
    path = tmp_path / "absent" / "state.db"
    with open_record(path, create=False) as record:
        assert record.runs(ENDPOINT) == []
        assert record.memory(ENDPOINT, ["x"]) == {}
        assert not record.writable
    assert not path.parent.exists()


def test_a_record_opened_for_reading_is_not_written(tmp_path: Path) -> None:
    """Reading opens the file read-only: what was recorded is there, and nothing can be added."""
    path = tmp_path / "state.db"
    with open_record(path, create=True) as record:
        start_run(record)
    with open_record(path, create=False) as record:
        assert [run.run_id for run in record.runs(ENDPOINT)] == [1]
        with pytest.raises(RecordError, match="opened for reading only"):
            start_run(record)


def test_a_file_created_but_never_given_its_tables_reads_as_empty(tmp_path: Path) -> None:
    """An apply killed between creating the file and its schema leaves an empty file: plan reads it as
    an empty record, the next apply gives it its tables."""
    path = tmp_path / "state.db"
    path.touch()
    with open_record(path, create=False) as record:
        assert record.runs(ENDPOINT) == []
    with open_record(path, create=True) as record:
        assert start_run(record) == 1


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database made by a newer oes-reconcile is never read or written by this one."""
    path = tmp_path / "state.db"
    open_record(path, create=True).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for create in (True, False):
        with pytest.raises(ConfigError, match="made by a newer oes-reconcile") as caught:
            open_record(path, create=create)
        assert str(path) in str(caught.value)


def test_an_older_schema_is_migrated_step_by_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at version 1 opened by a tool that knows version 3 runs steps 1->2 and 2->3, in order,
    and keeps what it held; reading (plan) upgrades it too."""
    for create in (True, False):
        path = tmp_path / f"state-{create}.db"
        with open_record(path, create=True) as record:
            start_run(record)
        steps = [
            ("CREATE TABLE step2 (x)", "INSERT INTO step2 VALUES (2)"),
            ("CREATE TABLE step3 AS SELECT x + 1 AS x FROM step2",),
        ]
        monkeypatch.setattr(database, "MIGRATIONS", [*database.MIGRATIONS, *steps])
        monkeypatch.setattr(database, "SCHEMA_VERSION", 3)
        with open_record(path, create=create) as record:
            assert [run.run_id for run in record.runs(ENDPOINT)] == [1]
        assert pragma(path, "user_version") == 3
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT x FROM step3").fetchall() == [(3,)]
        monkeypatch.undo()


def test_a_failed_migration_step_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that fails is rolled back whole: the file stays at the version before it, with a message."""
    path = tmp_path / "state.db"
    open_record(path, create=True).close()
    monkeypatch.setattr(database, "MIGRATIONS", [*database.MIGRATIONS, ("CREATE TABLE t (x)", "BROKEN SQL")])
    monkeypatch.setattr(database, "SCHEMA_VERSION", 2)
    with pytest.raises(ConfigError, match=str(path)):
        open_record(path, create=True)
    assert pragma(path, "user_version") == 1
    with sqlite3.connect(path) as db:
        assert not db.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall()


def test_a_file_that_is_not_a_database_is_refused_by_name(tmp_path: Path) -> None:
    """Garbage (or a damaged file) at the path: a clear message naming it, never a traceback."""
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database, just text\n" * 100)
    for create in (True, False):
        with pytest.raises(ConfigError, match="is not a readable oes-reconcile record") as caught:
            open_record(path, create=create)
        assert str(path) in str(caught.value)
    assert path.read_bytes().startswith(b"not a database")


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    """An SQLite file oes-reconcile did not make (tables, no version) is left alone."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text)")
    with pytest.raises(ConfigError, match="oes-reconcile did not make"):
        open_record(path, create=True)


def test_a_folder_or_fifo_is_refused(tmp_path: Path) -> None:
    """A folder at the path, or a FIFO (which would block SQLite's read), is refused at once."""
    with pytest.raises(ConfigError, match="is a folder"):
        open_record(tmp_path, create=True)
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        open_record(fifo, create=False)


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    """The record's folder cannot be created (a file is in the way): a message naming the path."""
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "state.db"
    with pytest.raises(ConfigError, match=f"the record {path}: Not a directory"):
        open_record(path, create=True)


def test_another_programs_database_is_refused_unchanged(tmp_path: Path) -> None:
    """An SQLite file oes-reconcile did not make: refused by apply, and left byte for byte as it was (not
    switched to WAL before the check)."""
    other = tmp_path / "other.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE foo (a)")
    connection.commit()
    connection.close()
    before = other.read_bytes()
    with pytest.raises(ConfigError, match="an SQLite database that oes-reconcile did not make"):
        open_record(other, create=True)
    assert other.read_bytes() == before
    assert pragma(other, "journal_mode") == "delete"


def test_a_record_in_a_read_only_folder_can_be_read(tmp_path: Path) -> None:
    """A WAL record copied into a folder nobody may write (a CI cache, a shared mount): plan, history
    and undo still read it (as immutable: no writer can be there either)."""
    kept = tmp_path / "kept.db"
    with open_record(kept, create=True) as record:
        start_run(record)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "state.db").write_bytes(kept.read_bytes())
    # As root, permissions do not stop writing: the immutable attribute does (where the file system has it).
    frozen = subprocess.run(["chattr", "+i", str(shelf)], capture_output=True, check=False).returncode == 0
    if not frozen:
        shelf.chmod(0o555)
    if os.access(shelf, os.W_OK) and not frozen:
        pytest.skip("no way to make a read-only folder here (root, and no chattr on this file system)")
    try:
        with open_record(shelf / "state.db", create=False) as record:
            assert len(record.runs(ENDPOINT)) == 1
    finally:
        if frozen:
            subprocess.run(["chattr", "-i", str(shelf)], check=False)
        shelf.chmod(0o755)
