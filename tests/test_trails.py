"""The trails of a run's PATCHes: the audit log and the record each get every event, whatever fails."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.errors import RecordError
from reconciler.models import Item, PatchRecord, Status
from reconciler.record import open_record
from reconciler.trails import NOT_SENT, RunRecorder, Trails
from tests.factories import ENDPOINT, change, start_run


class Fake:
    """A trail that notes its events, and fails where told to."""

    def __init__(self, *, fail_sending: bool = False, fail_record: bool = False) -> None:
        self.events: list[tuple[str, str]] = []
        self.fail_sending = fail_sending
        self.fail_record = fail_record

    def sending(self, item: Item) -> None:
        if self.fail_sending:
            raise RecordError("cannot write", reason="the record could not be written")
        self.events.append(("sending", item.peak_id))

    def record(self, record: PatchRecord) -> None:
        if self.fail_record:
            raise RecordError("cannot write")
        self.events.append((record.item.status.value, record.item.message or ""))


def outcome(item: Item, status: Status = Status.APPLIED) -> PatchRecord:
    return PatchRecord(replace(item, status=status), item.current, 200, 1)


def test_every_trail_gets_every_event_in_order() -> None:
    """Audit log and record both see `sending`, then the outcome."""
    audit, record = Fake(), Fake()
    trails = Trails([audit, record])
    trails.sending(change())
    trails.record(outcome(change()))
    assert audit.events == record.events == [("sending", "p1"), ("applied", "")]


def test_a_sending_that_fails_closes_the_lines_already_written() -> None:
    """The record cannot take `sending`: the PATCH is not sent, and the audit log, which already wrote
    its `sending` line, gets a `stopped` outcome for it; the record's error is raised."""
    audit, record = Fake(), Fake(fail_sending=True)
    with pytest.raises(RecordError) as caught:
        Trails([audit, record]).sending(change())
    assert caught.value.reason == "the record could not be written"
    assert audit.events == [("sending", "p1"), ("change", NOT_SENT)]
    assert record.events == []


def test_an_outcome_reaches_every_trail_even_when_one_fails() -> None:
    """The audit log cannot write the outcome: the record still gets it, then the error is raised."""
    audit, record = Fake(fail_record=True), Fake()
    with pytest.raises(RecordError):
        Trails([audit, record]).record(outcome(change()))
    assert record.events == [("applied", "")]


def test_the_run_recorder_completes_the_row_it_began(tmp_path: Path) -> None:
    """Each outcome updates the row of its own peak's `sending`; the second peak's row stays open until
    its own outcome comes."""
    with open_record(tmp_path / "state.db", create=True) as record:
        recorder = RunRecorder(record, start_run(record))
        first, second = change("p1"), change("p2")
        recorder.sending(first)
        recorder.sending(second)
        recorder.record(outcome(first, Status.FAILED))
        assert {row.peak_id: row.status for row in record.patches(ENDPOINT)} == {
            "p1": "failed",
            "p2": "unknown",
        }
        recorder.record(outcome(second))
        assert {row.peak_id: row.status for row in record.patches(ENDPOINT)} == {
            "p1": "failed",
            "p2": "applied",
        }


def test_an_outcome_without_a_sending_row_is_ignored(tmp_path: Path) -> None:
    """Nothing was sent for it, so the record has no row to complete and makes none."""
    with open_record(tmp_path / "state.db", create=True) as record:
        RunRecorder(record, start_run(record)).record(outcome(change()))
        assert record.patches(ENDPOINT) == []
