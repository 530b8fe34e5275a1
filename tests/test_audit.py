"""Audit lines: one JSON object per PATCH outcome, flushed at once, with the override's git commit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.audit import AuditLog, git_commit, git_dirty, open_audit_log
from reconciler.errors import ConfigError, RecordError
from reconciler.models import Item, PatchRecord, Status
from tests.factories import ENTRY, commit_all

ITEM = Item(ENTRY, "p1", "Ga_417.2", Status.CHANGE, "o.yaml:4", note="by XPS", current="In_451.1")


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_line_carries_everything_an_auditor_asks(tmp_path: Path) -> None:
    """Time, entry, peak, from, to, status, HTTP status, attempts, source, note, message, commit, dirty."""
    path = tmp_path / "audit.jsonl"
    item = Item(ENTRY, "p1", "Ga_417.2", Status.APPLIED, "o.yaml:4", note="by XPS", current="In_451.1")
    with open_audit_log(str(path), sources=[]) as audit:
        audit.commit, audit.dirty = "abc123", False
        audit.record(PatchRecord(item, "In_451.1", 200, 2))
    [line] = lines_of(path)
    assert str(line.pop("time")).endswith("Z")
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
        "git_dirty": False,
    }


def test_a_sending_line_comes_before_the_patch(tmp_path: Path) -> None:
    """Before a PATCH: a `sending` line with from/to and no outcome yet, so a kill -9 leaves a trace."""
    path = tmp_path / "audit.jsonl"
    with open_audit_log(str(path), sources=[]) as audit:
        audit.sending(ITEM)
    [line] = lines_of(path)
    assert (line["status"], line["from"], line["to"], line["http_status"]) == (
        "sending",
        "In_451.1",
        "Ga_417.2",
        None,
    )


def test_a_line_that_cannot_be_written_is_a_record_error() -> None:
    """A full device: RecordError naming the log, so the run sends nothing more."""
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(RecordError, match=r"cannot write --audit-log /dev/full: No space left on device"):
            AuditLog(fd, path="/dev/full", commit=None, dirty=None).sending(ITEM)
    finally:
        os.close(fd)


def test_a_fifo_as_audit_log_is_refused_without_waiting_for_a_reader(tmp_path: Path) -> None:
    """Opening a FIFO for writing blocks until a reader comes; the audit log refuses it at once."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO with no reader"), open_audit_log(str(fifo), sources=[]):
        pass


def test_a_folder_as_audit_log_is_refused(tmp_path: Path) -> None:
    """A folder cannot be appended to: a ConfigError naming it, before anything is sent."""
    with (
        pytest.raises(ConfigError, match=f"cannot open --audit-log {tmp_path}"),
        open_audit_log(str(tmp_path), sources=[]),
    ):
        pass


def test_a_fifo_with_a_reader_as_audit_log_is_refused(tmp_path: Path) -> None:
    """A FIFO that someone reads opens at once, but it is no file to append to: refused, nothing written."""
    fifo = tmp_path / "audit.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with (
            pytest.raises(ConfigError, match=f"--audit-log {fifo} is not a regular file"),
            open_audit_log(str(fifo), sources=[]),
        ):
            pass
        assert os.read(reader, 100) == b""
    finally:
        os.close(reader)


def test_no_commit_outside_a_git_work_tree(tmp_path: Path) -> None:
    """Override files outside git: the commit is null, not an error."""
    (tmp_path / "o.yaml").write_text("version: 1\noverrides: {}\n")
    assert git_commit([str(tmp_path / "o.yaml")]) is None


def test_no_commit_and_no_error_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine without git the commit and the dirty flag are null, and the run goes on."""
    (tmp_path / "o.yaml").write_text("version: 1\noverrides: {}\n")
    commit_all(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert git_commit([str(tmp_path / "o.yaml")]) is None
    assert git_dirty([str(tmp_path / "o.yaml")]) is None


def test_commit_of_the_work_tree_holding_the_files(tmp_path: Path) -> None:
    """Inside a git work tree, the commit checked out there."""
    (tmp_path / "o.yaml").write_text("version: 1\noverrides: {}\n")
    head = commit_all(tmp_path)
    assert git_commit([str(tmp_path)]) == head
    assert git_commit([str(tmp_path / "o.yaml")]) == head


def test_dirty_when_an_override_file_holds_uncommitted_edits(tmp_path: Path) -> None:
    """git_dirty: False right after a commit, True once a file is edited, None outside git."""
    override_file = tmp_path / "o.yaml"
    override_file.write_text("version: 1\noverrides: {}\n")
    assert git_dirty([str(override_file)]) is None
    commit_all(tmp_path)
    assert git_dirty([str(override_file)]) is False
    override_file.write_text("version: 1\noverrides: {}\n# edited\n")
    assert git_dirty([str(override_file)]) is True


def test_dirty_ignores_edits_to_other_files(tmp_path: Path) -> None:
    """An edit beside the override files (a README) does not make them dirty."""
    (tmp_path / "o.yaml").write_text("version: 1\noverrides: {}\n")
    commit_all(tmp_path)
    (tmp_path / "README").write_text("notes\n")
    assert git_dirty([str(tmp_path / "o.yaml")]) is False


def test_a_change_stopped_before_its_retry_is_recorded_as_stopped(tmp_path: Path) -> None:
    """A PATCH whose retry the run did not send: its outcome line says `stopped`, with the attempts made."""
    path = tmp_path / "audit.jsonl"
    with open_audit_log(str(path), sources=[]) as audit:
        undone = Item(ENTRY, "p1", "Ga_417.2", Status.CHANGE, "o.yaml:4", message="not patched: interrupted")
        audit.record(PatchRecord(undone, "In_451.1", None, 1))
    [line] = lines_of(path)
    assert (line["status"], line["attempts"], line["message"]) == ("stopped", 1, "not patched: interrupted")


def test_a_patch_abandoned_on_the_wire_is_recorded_as_unknown(tmp_path: Path) -> None:
    """A PATCH a second signal stopped waiting for: its outcome line says `unknown`."""
    path = tmp_path / "audit.jsonl"
    with open_audit_log(str(path), sources=[]) as audit:
        audit.record(PatchRecord(ITEM, "In_451.1", None, 1, known=False))
    [line] = lines_of(path)
    assert line["status"] == "unknown"


def test_a_log_left_with_a_line_cut_short_gets_whole_lines_after_it(tmp_path: Path) -> None:
    """A log an earlier run left mid-line (its disk filled): the next line starts on a line of its own, so
    the fragment stays one unreadable line and every later line parses."""
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"status": "applied"}\n{"time": "2026-11-30T0')
    with open_audit_log(str(path), sources=[]) as audit:
        audit.sending(ITEM)
        audit.sending(ITEM)
    whole, fragment, *ours = path.read_bytes().decode().splitlines()
    assert json.loads(whole) == {"status": "applied"}
    assert fragment == '{"time": "2026-11-30T0'
    assert [json.loads(line)["status"] for line in ours] == ["sending", "sending"]


def test_a_log_that_ends_its_last_line_is_appended_to_as_it_is(tmp_path: Path) -> None:
    """A whole log (or an empty one) gets no blank line before this run's lines."""
    path = tmp_path / "audit.jsonl"
    for before in (b"", b'{"status": "applied"}\n'):
        path.write_bytes(before)
        with open_audit_log(str(path), sources=[]) as audit:
            audit.sending(ITEM)
        assert path.read_bytes().startswith(before)
        assert path.read_bytes()[len(before) :].count(b"\n") == 1
