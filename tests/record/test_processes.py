"""Two runs sharing one record: two real processes writing at once never corrupt it or lose a row."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.factories import ENDPOINT

PATCHES = 500

WRITER = textwrap.dedent(
    f"""
    import sys
    from reconciler.record import open_record
    from tests.factories import change, patched, start_run

    sys.stdin.readline()  # both start together: creating the file, migrating, writing
    with open_record(sys.argv[1], create=True) as record:
        run_id = start_run(record)
        for n in range({PATCHES}):
            patched(record, run_id, change(f"p{{n}}", data_id=sys.argv[2]), last_updated=f"T{{n}}")
        record.end_run(run_id, counts={{"applied": {PATCHES}}}, exit_code=0, finished_at="end")
    print(run_id)
    """
)


@pytest.mark.slow
def test_two_processes_write_one_record_at_once(tmp_path: Path) -> None:
    """Each child creates (or finds) the database and records 500 PATCHes, both at the same time: every
    row is there, each with its outcome, and SQLite finds the file sound."""
    path = tmp_path / "state.db"
    root = Path(__file__).resolve().parents[2]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"entry-{n}"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err for _out, err in results]
    assert sorted(int(out) for out, _err in results) == [1, 2]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = db.execute(
            "SELECT data_id, status, count(*) FROM patches GROUP BY 1, 2 ORDER BY 1"
        ).fetchall()
        assert counts == [("entry-0", "applied", PATCHES), ("entry-1", "applied", PATCHES)]
        ended = db.execute("SELECT count(*) FROM runs WHERE endpoint = ? AND exit_code = 0", (ENDPOINT,))
        assert ended.fetchone()[0] == 2
