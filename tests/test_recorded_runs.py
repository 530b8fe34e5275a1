"""plan and apply with the record: apply records its run and every PATCH before sending it; plan only
reads; --no-state and the in-process sandbox leave the default record alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.errors import RecordError
from reconciler.models import Item
from reconciler.record import Record, open_record, state_path
from reconciler.sandbox import Sandbox
from tests.conftest import Cli

EXAMPLES = str(Path(__file__).resolve().parents[1] / "examples")


def default_record() -> Path:
    path = state_path(given=None, no_state=False, env=os.environ)
    assert path is not None
    return path


def test_apply_records_its_run_and_each_patch(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """In the default place: one ended run (counts, exit 0) and one applied row per PATCH sent, each
    with the entry's `last_updated` from the PATCH answer, as the report shows it."""
    ran = cli("apply", "--report", str(tmp_path / "r.json"), EXAMPLES)
    assert ran.code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    applied = {(i["data_id"], i["peak_id"]): i for i in report["items"] if i["status"] == "applied"}
    with open_record(default_record(), create=False) as record:
        [run] = record.runs(sandbox.url)
        rows = record.patches(sandbox.url)
    assert (run.command, run.exit_code, run.counts) == ("apply", 0, report["summary"])
    assert run.finished_at is not None
    assert len(rows) == len(applied) == sandbox.stats()["by_method"]["PATCH"]
    for row in rows:
        item = applied[(row.data_id, row.peak_id)]
        assert (row.status, row.to_candidate, row.from_candidate) == (
            "applied",
            item["desired"],
            item["current"],
        )
        assert row.last_updated_after == item["last_updated"]


def test_each_patch_is_committed_before_it_is_sent(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a PATCH's row is written, the server has received only the PATCHes before it."""
    seen: list[int] = []
    sending = Record.sending

    def counting(record: Record, run_id: int, item: Item) -> int:
        seen.append(sandbox.stats()["by_method"].get("PATCH", 0))
        return sending(record, run_id, item)

    monkeypatch.setattr(Record, "sending", counting)
    assert cli("apply", "--concurrency", "1", "--state", str(tmp_path / "s.db"), EXAMPLES).code == 0
    assert seen == list(range(sandbox.stats()["by_method"]["PATCH"]))


def test_a_record_that_cannot_be_written_stops_the_run(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record refuses the second PATCH's row: that PATCH and all later ones are not sent, the
    report says why, exit 1; the audit log closes its `sending` line for it as `stopped`."""
    sending = Record.sending

    def failing_second(record: Record, run_id: int, item: Item) -> int:
        if len(record.patches(sandbox.url)) == 1:
            raise RecordError("cannot write the record: disk full", reason="the record could not be written")
        return sending(record, run_id, item)

    monkeypatch.setattr(Record, "sending", failing_second)
    audit, report = tmp_path / "a.jsonl", tmp_path / "r.json"
    argv = ["--concurrency", "1", "--audit-log", str(audit), "--report", str(report)]
    ran = cli("apply", *argv, "--state", str(tmp_path / "s.db"), EXAMPLES)
    assert ran.code == 1
    assert "cannot write the record: disk full" in ran.err
    assert sandbox.stats()["by_method"]["PATCH"] == 1
    messages = {i["message"] for i in json.loads(report.read_text())["items"] if i["status"] == "change"}
    assert messages == {"not patched: the record could not be written"}
    statuses = [json.loads(line)["status"] for line in audit.read_text().splitlines()]
    assert statuses == ["sending", "applied", "sending", "stopped"]
    with open_record(tmp_path / "s.db", create=False) as record:
        [run] = record.runs(sandbox.url)
    assert run.exit_code == 1


def test_plan_reads_the_record_and_creates_nothing(sandbox: Sandbox, cli: Cli) -> None:
    """A plan with no record yet (a CI job) writes no database."""
    assert cli("plan", EXAMPLES).code == 0
    assert not default_record().parent.exists()


def test_no_state_records_nothing(sandbox: Sandbox, cli: Cli) -> None:
    """--no-state: no database, even for an apply."""
    assert cli("apply", "--no-state", EXAMPLES).code == 0
    assert not default_record().parent.exists()


def test_the_in_process_sandbox_keeps_its_record_apart(cli: Cli, tmp_path: Path) -> None:
    """apply --sandbox records in a temporary file (the default record is untouched), or in --state."""
    assert cli("apply", "--sandbox", EXAMPLES).code == 0
    assert not default_record().parent.exists()
    assert cli("apply", "--sandbox", "--state", str(tmp_path / "s.db"), EXAMPLES).code == 0
    with open_record(tmp_path / "s.db", create=False) as record:
        [endpoint] = record.endpoints()
        assert [run.exit_code for run in record.runs(endpoint)] == [0]


def test_a_record_that_is_not_one_stops_the_run_before_anything_is_sent(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """A --state file that is not a database: a message naming it, no request, exit 1."""
    path = tmp_path / "s.db"
    path.write_text("not a database\n" * 100)
    ran = cli("apply", "--state", str(path), EXAMPLES)
    assert ran.code == 1
    assert f"ConfigError: {path} is not a readable oes-reconcile record" in ran.err
    assert sandbox.stats()["requests"] == 0


def test_the_record_cannot_be_another_file_of_the_run(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """--state naming the --report (or the lock file) is refused before anything is sent."""
    path = str(tmp_path / "same")
    ran = cli("apply", "--state", path, "--report", path, EXAMPLES)
    assert ran.code == 1
    assert "is also the" in ran.err
    assert sandbox.stats()["requests"] == 0


def test_state_and_no_state_together_are_a_usage_error(cli: Cli) -> None:
    """The two options exclude each other."""
    ran = cli("plan", "--state", "s.db", "--no-state", EXAMPLES)
    assert ran.code == 1
    assert "not allowed with argument" in ran.err
