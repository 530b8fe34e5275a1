"""The record's rows: PATCHes written before sending and with their outcome; runs; a plan's look-ups."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.errors import RecordError
from reconciler.models import EntryMemory, LastSet, PatchRecord, Status
from reconciler.record import Record, database, open_record, store
from tests.factories import ENDPOINT, ENTRY, OTHER, change, patched, start_run

ELSEWHERE = "https://staging.example.test/"


@pytest.fixture
def record(tmp_path: Path) -> Record:
    ticks = iter(f"2026-01-01T00:00:{n:02d}.000Z" for n in range(60))
    return open_record(tmp_path / "state.db", create=True, clock=lambda: next(ticks))


def test_a_patch_is_recorded_before_it_is_sent_and_again_with_its_outcome(record: Record) -> None:
    """The `sending` row holds the peak's state before and the target; the outcome adds the status,
    HTTP status, attempts and the entry's `last_updated` from the PATCH answer."""
    run_id = start_run(record)
    item = change(wavelength_nm=417.12)
    patch_id = record.sending(run_id, item)
    [row] = record.patches(ENDPOINT)
    assert (row.id, row.run_id, row.data_id, row.peak_id) == (patch_id, run_id, ENTRY, "p1")
    assert (row.from_candidate, row.element, row.manual, row.wavelength_nm) == (
        "In_451.1",
        "In",
        True,
        417.12,
    )
    assert (row.to_candidate, row.status, row.finished_at) == ("Ga_417.2", "unknown", None)
    done = replace(item, status=Status.APPLIED, last_updated="2026-02-02T00:00:00Z")
    record.outcome(patch_id, PatchRecord(done, "In_451.1", 200, 2))
    [row] = record.patches(ENDPOINT)
    assert (row.status, row.http_status, row.attempts) == ("applied", 200, 2)
    assert row.last_updated_after == "2026-02-02T00:00:00Z"
    assert (row.sent_at, row.finished_at, row.at) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:00:01.000Z",
        "2026-01-01T00:00:01.000Z",
    )


def test_a_patch_left_sending_reads_as_outcome_unknown(tmp_path: Path) -> None:
    """A run killed after `sending` leaves the row; read back (by another process) it is `unknown`."""
    path = tmp_path / "state.db"
    with open_record(path, create=True) as record:
        patched(record, start_run(record), change(), status=None)
    with open_record(path, create=False) as record:
        [row] = record.patches(ENDPOINT)
    assert (row.status, row.finished_at, row.at) == ("unknown", None, row.sent_at)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT status FROM patches").fetchall() == [("sending",)]


@pytest.mark.parametrize(
    ("status", "known", "http_status", "word"),
    [
        (Status.FAILED, True, 400, "failed"),
        (Status.CHANGE, True, None, "stopped"),
        (Status.CHANGE, False, None, "unknown"),
        (Status.FAILED, True, 200, "failed"),
    ],
)
def test_outcomes_use_the_audit_logs_words(
    record: Record, status: Status, known: bool, http_status: int | None, word: str
) -> None:
    """Failed, stopped (a retry not sent), unknown (abandoned on the wire): the audit log's words; the
    entry's `last_updated` is kept only from an answer to the PATCH (2xx), never the GET's."""
    run_id = start_run(record)
    item = change()
    patch_id = record.sending(run_id, item)
    record.outcome(
        patch_id, PatchRecord(replace(item, status=status), "In_451.1", http_status, 1, known=known)
    )
    [row] = record.patches(ENDPOINT)
    assert row.status == word
    assert row.last_updated_after == (item.last_updated if http_status == 200 else None)


def test_runs_are_recorded_with_their_end_newest_first(record: Record) -> None:
    """A run has its command, sources, commit; its end adds counts and the exit code; one not ended
    (killed) keeps none."""
    first = start_run(record, started_at="2026-01-01T00:00:00Z")
    record.end_run(first, counts={"applied": 2, "failed": 1}, exit_code=1, finished_at="2026-01-01T00:01:00Z")
    second = start_run(record, started_at="2026-01-02T00:00:00Z")
    runs = record.runs(ENDPOINT)
    assert [run.run_id for run in runs] == [second, first]
    assert (runs[0].finished_at, runs[0].exit_code, runs[0].counts) == (None, None, None)
    ended = runs[1]
    assert (ended.command, ended.endpoint, ended.sources) == ("apply", ENDPOINT, ("o.yaml",))
    assert (ended.git_commit, ended.git_dirty) == ("abc123", False)
    assert (ended.counts, ended.exit_code, ended.finished_at) == (
        {"applied": 2, "failed": 1},
        1,
        "2026-01-01T00:01:00Z",
    )
    assert record.runs(ENDPOINT, limit=1) == runs[:1]
    assert record.runs(ENDPOINT, command="plan") == []
    assert record.run(ENDPOINT, first) == ended


def test_memory_holds_the_latest_applied_patch_per_peak_and_entry(record: Record) -> None:
    """Per peak the latest *applied* PATCH (failed and unknown ones are not what the peak holds); per
    entry the `last_updated` after its latest applied PATCH, whichever peak it was."""
    one = start_run(record)
    patched(record, one, change("p1", "Ga_417.2", wavelength_nm=417.0), last_updated="T1")
    patched(record, one, change("p2", "N2_337.1", wavelength_nm=337.0), last_updated="T2")
    two = start_run(record)
    patched(record, two, change("p1", "Ga_403.3"), status=Status.FAILED, http_status=400)
    patched(record, two, change("p2", "N2_357.7"), status=None)
    patched(record, two, change("p1", "Ga_417.2", data_id=OTHER), last_updated="T9")
    memory = record.memory(ENDPOINT, [ENTRY, OTHER, "never-patched"])
    assert memory[ENTRY] == EntryMemory(
        last_updated_after="T2",
        peaks={
            "p1": LastSet("Ga_417.2", run_id=one, at="2026-01-01T00:00:01.000Z", wavelength_nm=417.0),
            "p2": LastSet("N2_337.1", run_id=one, at="2026-01-01T00:00:03.000Z", wavelength_nm=337.0),
        },
    )
    assert memory[OTHER].last_updated_after == "T9"
    assert "never-patched" not in memory


def test_memory_takes_the_later_of_two_applied_patches(record: Record) -> None:
    """A peak patched in two runs: the second one's candidate, run and wavelength; the entry's
    `last_updated` after that second PATCH."""
    patched(record, start_run(record), change("p1", "Ga_417.2", wavelength_nm=417.0), last_updated="T1")
    later = start_run(record)
    patched(record, later, change("p1", "Ga_403.3", wavelength_nm=403.0), last_updated="T2")
    [(_data_id, memory)] = record.memory(ENDPOINT, [ENTRY]).items()
    assert (memory.last_updated_after, memory.peaks["p1"].candidate_key) == ("T2", "Ga_403.3")
    assert (memory.peaks["p1"].run_id, memory.peaks["p1"].wavelength_nm) == (later, 403.0)


def test_memory_looks_entries_up_in_chunks(record: Record, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many entries are looked up a chunk of ids at a time, and none is lost between chunks."""
    monkeypatch.setattr(store, "CHUNK", 3)
    run_id = start_run(record)
    entries = [f"entry-{n:02d}" for n in range(10)]
    for n, data_id in enumerate(entries):
        patched(record, run_id, change(data_id=data_id), last_updated=f"T{n}")
    memory = record.memory(ENDPOINT, [*entries, *entries])
    assert {data_id: m.last_updated_after for data_id, m in memory.items()} == {
        data_id: f"T{n}" for n, data_id in enumerate(entries)
    }


def test_each_endpoint_has_its_own_record(record: Record) -> None:
    """One database, two endpoints: runs, PATCHes and look-ups never mix."""
    patched(record, start_run(record), change())
    here = start_run(record, endpoint=ELSEWHERE)
    patched(record, here, change(desired="Ga_403.3"), status=None)
    assert [run.run_id for run in record.runs(ELSEWHERE)] == [here]
    assert [row.to_candidate for row in record.patches(ELSEWHERE)] == ["Ga_403.3"]
    assert record.memory(ELSEWHERE, [ENTRY]) == {}
    assert record.memory(ENDPOINT, [ENTRY])[ENTRY].peaks["p1"].candidate_key == "Ga_417.2"
    assert record.run(ELSEWHERE, 1) is None
    assert record.endpoints() == [ENDPOINT, ELSEWHERE]  # sorted


def test_patches_filter_by_entry_peak_and_run(record: Record) -> None:
    """history's look-ups: one entry, one peak of it, one run; newest first."""
    one = start_run(record)
    patched(record, one, change("p1"))
    patched(record, one, change("p2"))
    two = start_run(record)
    patched(record, two, change("p1", data_id=OTHER))
    patched(record, two, change("p1", desired="Ga_403.3"))
    assert [(r.run_id, r.peak_id) for r in record.patches(ENDPOINT, data_id=ENTRY)] == [
        (two, "p1"),
        (one, "p2"),
        (one, "p1"),
    ]
    assert [r.run_id for r in record.patches(ENDPOINT, data_id=ENTRY, peak_id="p1")] == [two, one]
    assert [r.data_id for r in record.patches(ENDPOINT, run_id=two)] == [ENTRY, OTHER]
    assert len(record.patches(ENDPOINT, limit=3)) == 3


def test_applied_later_names_the_last_run_that_changed_a_peak_again(record: Record) -> None:
    """For undo: the peaks of a run that a later run applied a PATCH to again (failed ones do not count)."""
    one = start_run(record)
    patched(record, one, change("p1"))
    patched(record, one, change("p2"))
    two = start_run(record)
    patched(record, two, change("p1", desired="Ga_403.3"))
    patched(record, two, change("p2", desired="Ga_403.3"), status=Status.FAILED, http_status=400)
    assert record.applied_later(ENDPOINT, one) == {(ENTRY, "p1"): two}
    assert record.applied_later(ENDPOINT, two) == {}


def test_a_record_that_cannot_be_written_raises_record_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock past the wait: the write is a RecordError naming the file
    (the run then sends nothing more), and the failed write leaves nothing behind."""
    monkeypatch.setattr(database, "BUSY_TIMEOUT", 0.0)
    path = tmp_path / "state.db"
    record = open_record(path, create=True)
    run_id = start_run(record)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(RecordError, match=f"cannot write the record {path}: database is locked") as caught:
        record.sending(run_id, change())
    assert caught.value.reason == "the record could not be written"
    holder.execute("ROLLBACK")
    holder.close()
    assert record.patches(ENDPOINT) == []
    record.close()


def test_sending_for_a_run_that_does_not_exist_is_refused(record: Record) -> None:
    """A PATCH row always belongs to a run of the record."""
    with pytest.raises(RecordError, match="no run 7"):
        record.sending(7, change())
