"""history: what the record holds for the endpoint in use, newest first, in text and JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from reconciler.history import History, history_json, read_history, write_history_text
from reconciler.models import Status
from reconciler.record import open_record
from tests.conftest import Cli
from tests.factories import ENDPOINT, ENTRY, OTHER, change, patched, start_run

ELSEWHERE = "https://staging.example.test/"
EXAMPLES = str(Path(__file__).resolve().parents[1] / "examples")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A record of three runs at ENDPOINT (the last killed mid-PATCH) and one elsewhere."""
    state = tmp_path / "state.db"
    with open_record(state, create=True) as record:
        one = start_run(record, started_at="2026-01-01T07:00:00Z")
        patched(record, one, change("p1"))
        patched(record, one, change("p2", current=None, element="N2", desired="N2_337.1"))
        record.end_run(one, counts={"applied": 2}, exit_code=0, finished_at="2026-01-01T07:00:05Z")
        two = start_run(record, started_at="2026-01-02T07:00:00Z")
        patched(record, two, change("p1", data_id=OTHER), status=Status.FAILED, http_status=400)
        record.end_run(two, counts={"failed": 1}, exit_code=1, finished_at="2026-01-02T07:00:05Z")
        three = start_run(record, started_at="2026-01-03T07:00:00Z")
        patched(record, three, change("p1", "Ga_403.3"), status=None)
        patched(record, start_run(record, endpoint=ELSEWHERE), change("p9"))
    return state


def read(path: Path, **options: object) -> History:
    with open_record(path, create=False) as record:
        return read_history(record, [ENDPOINT], **options)  # type: ignore[arg-type]


def test_runs_and_patches_newest_first(path: Path) -> None:
    """Every run and PATCH of the endpoint, the newest first; other endpoints' are not shown."""
    found = read(path)
    assert [run.run_id for run in found.runs] == [3, 2, 1]
    assert found.patches is not None
    assert [(p.run_id, p.data_id, p.peak_id) for p in found.patches] == [
        (3, ENTRY, "p1"),
        (2, OTHER, "p1"),
        (1, ENTRY, "p2"),
        (1, ENTRY, "p1"),
    ]


def test_one_entry_or_one_peak_and_the_runs_that_touched_it(path: Path) -> None:
    """DATA_ID shows that entry's PATCHes and only the runs that made them; PEAK_ID narrows to a peak."""
    found = read(path, data_id=ENTRY, peak_id="p1")
    assert [run.run_id for run in found.runs] == [3, 1]
    assert found.patches is not None
    assert [(p.run_id, p.to_candidate) for p in found.patches] == [(3, "Ga_403.3"), (1, "Ga_417.2")]


def test_runs_only_and_a_limit(path: Path) -> None:
    """--runs leaves the PATCHes out; --limit keeps the newest N of each."""
    found = read(path, runs_only=True, limit=2)
    assert ([run.run_id for run in found.runs], found.patches) == ([3, 2], None)
    assert [p.run_id for p in read(path, limit=1).patches or []] == [3]


def test_json_has_the_spec_shape_and_unknown_outcomes(path: Path) -> None:
    """`{"runs": [...], "patches": [...]}` with the spec's keys; a PATCH left `sending` by a killed run
    says `"status": "unknown"`, and its run has no end."""
    document = history_json(read(path))
    assert set(document) == {"runs", "patches"}
    killed = document["runs"][0]
    assert {"run_id", "command", "started_at", "finished_at", "exit_code"} <= set(killed)
    assert (killed["run_id"], killed["finished_at"], killed["exit_code"]) == (3, None, None)
    assert document["runs"][2]["counts"] == {"applied": 2}
    unknown = document["patches"][0]
    assert {"run_id", "data_id", "peak_id", "from", "to", "status", "at"} <= set(unknown)
    assert (unknown["from"], unknown["to"], unknown["status"]) == ("In_451.1", "Ga_403.3", "unknown")
    assert unknown["at"] == unknown["sent_at"]
    assert history_json(read(path, runs_only=True)).keys() == {"runs"}


def test_text_says_outcome_unknown_and_not_finished(path: Path) -> None:
    """The text tables name a killed run and its PATCH in words, and show element-only peaks as such."""
    out = io.StringIO()
    write_history_text(read(path), out, where=f"{ENDPOINT} in {path}")
    text = out.getvalue()
    assert text.startswith(f"Runs at {ENDPOINT} in {path}, newest first:")
    lines = text.splitlines()
    killed = next(line for line in lines if line.strip().startswith("3  apply"))
    assert "not finished" in killed
    assert any("outcome unknown" in line and "In_451.1 -> Ga_403.3" in line for line in lines)
    assert any("N2 (element) -> N2_337.1" in line for line in lines)
    assert "2 applied" in text


def test_text_of_an_empty_record_says_so() -> None:
    """Nothing recorded: one line, no empty tables."""
    out = io.StringIO()
    write_history_text(History(runs=[], patches=[]), out, where="X")
    assert out.getvalue() == "Nothing recorded for X.\n"


# --- The command ---


def test_history_command_text_and_json(path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint in use is AS_API_ENDPOINT's (no key needed); JSON to stdout parses."""
    monkeypatch.setenv("AS_API_ENDPOINT", ENDPOINT)
    monkeypatch.delenv("AS_API_KEY", raising=False)
    ran = cli("history", "--state", str(path))
    assert ran.code == 0
    assert "outcome unknown" in ran.out
    ran = cli("history", "--state", str(path), "--format", "json", ENTRY.upper(), "p1")
    assert ran.code == 0
    assert [p["run_id"] for p in json.loads(ran.out)["patches"]] == [3, 1]


def test_history_of_another_endpoint(path: Path, cli: Cli) -> None:
    """--endpoint picks whose record is shown; a trailing slash or not, it is the same endpoint."""
    ran = cli("history", "--state", str(path), "--endpoint", ELSEWHERE.rstrip("/"), "--format", "json")
    assert [p["peak_id"] for p in json.loads(ran.out)["patches"]] == ["p9"]


def test_history_from_the_default_place(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without --state the record comes from OES_RECONCILE_STATE (or XDG); none there yet is no error."""
    monkeypatch.setenv("OES_RECONCILE_STATE", str(tmp_path / "none.db"))
    ran = cli("history", "--endpoint", ENDPOINT)
    assert ran.code == 0
    where = f"{ENDPOINT} in {tmp_path / 'none.db'}"
    assert ran.out == f"Nothing recorded for {where} (no record there yet: apply creates it).\n"
    assert not (tmp_path / "none.db").exists()


def test_history_of_sandbox_runs(cli: Cli, tmp_path: Path) -> None:
    """--sandbox with the --state its runs used shows those runs (each on its own loopback port);
    without --state it is refused: that record was temporary."""
    state = str(tmp_path / "s.db")
    assert cli("apply", "--sandbox", "--state", state, EXAMPLES).code == 0
    ran = cli("history", "--sandbox", "--state", state, "--runs", "--format", "json")
    assert [run["command"] for run in json.loads(ran.out)["runs"]] == ["apply"]
    ran = cli("history", "--sandbox")
    assert ran.code == 1
    assert "temporary file" in ran.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--no-state"], "--no-state leaves none to read"),
        (["not-a-uuid"], "data_id 'not-a-uuid' is not a UUID"),
        (["--sandbox", "--state", "s.db", "--endpoint", ENDPOINT], "--sandbox and --endpoint"),
    ],
)
def test_history_refuses_what_cannot_be_shown(cli: Cli, argv: list[str], message: str) -> None:
    """Clear messages, exit 1."""
    ran = cli("history", *argv)
    assert ran.code == 1
    assert message in ran.err


def test_history_of_a_record_that_is_not_one(cli: Cli, tmp_path: Path) -> None:
    """A corrupt database: a message naming it, exit 1, no traceback."""
    bad = tmp_path / "bad.db"
    bad.write_text("nope\n" * 200)
    ran = cli("history", "--state", str(bad))
    assert ran.code == 1
    assert str(bad) in ran.err
    assert "Traceback" not in ran.err


def test_a_record_opened_elsewhere_is_unchanged_by_history(path: Path, cli: Cli) -> None:
    """history only reads: the runs and PATCHes are the same after it."""
    with open_record(path, create=False) as record:
        before = (record.runs(ENDPOINT), record.patches(ENDPOINT))
    cli("history", "--state", str(path), "--endpoint", ENDPOINT)
    with open_record(path, create=False) as record:
        assert (record.runs(ENDPOINT), record.patches(ENDPOINT)) == before
