"""Audit lines: one JSON object per PATCH outcome, flushed at once, with the override's git commit."""

from __future__ import annotations

import io
import json
from pathlib import Path

from reconciler.apply import PatchRecord
from reconciler.audit import AuditLog, git_commit
from reconciler.models import Item, Status
from tests.factories import ENTRY, commit_all


def test_a_line_carries_everything_an_auditor_asks() -> None:
    """Time, entry, peak, from, to, status, HTTP status, attempts, source, note, message and commit."""
    out = io.StringIO()
    item = Item(ENTRY, "p1", "Ga_417.2", Status.APPLIED, "o.yaml:4", note="by XPS", current="In_451.1")
    AuditLog(out, commit="abc123").record(PatchRecord(item, "In_451.1", 200, 2))
    line = json.loads(out.getvalue())
    assert line.pop("time").endswith("Z")
    assert line == {
        "data_id": ENTRY,
        "peak_id": "p1",
        "from": "In_451.1",
        "to": "Ga_417.2",
        "status": "applied",
        "http_status": 200,
        "attempts": 2,
        "source": "o.yaml:4",
        "note": "by XPS",
        "message": None,
        "git_commit": "abc123",
    }
    assert out.getvalue().count("\n") == 1


def test_no_commit_outside_a_git_work_tree(tmp_path: Path) -> None:
    """Override files outside git: the commit is null, not an error."""
    (tmp_path / "o.yaml").write_text("version: 1\noverrides: {}\n")
    assert git_commit([str(tmp_path / "o.yaml")]) is None


def test_commit_of_the_work_tree_holding_the_files(tmp_path: Path) -> None:
    """Inside a git work tree, the commit checked out there."""
    (tmp_path / "o.yaml").write_text("version: 1\noverrides: {}\n")
    head = commit_all(tmp_path)
    assert git_commit([str(tmp_path)]) == head
    assert git_commit([str(tmp_path / "o.yaml")]) == head
