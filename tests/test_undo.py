"""undo: an override file, built from the record, that sets back every peak a run applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.models import Status
from reconciler.overrides import load_overrides
from reconciler.record import Record, open_record
from reconciler.sandbox import Sandbox
from reconciler.undo import find_run, plan_undo, render_undo
from tests.conftest import Cli
from tests.factories import ENDPOINT, ENTRY, OTHER, change, patched, start_run

EXAMPLES = str(Path(__file__).resolve().parents[1] / "examples")


@pytest.fixture
def record(tmp_path: Path) -> Record:
    return open_record(tmp_path / "state.db", create=True)


def test_every_applied_peak_goes_back_with_a_note_naming_the_run(record: Record, tmp_path: Path) -> None:
    """Pinned before: back to its candidate. Not pinned before: back to its candidate, and the note says
    it stays pinned (the API cannot unpin). Each carries the peak's wavelength when it was patched (a
    peak renumbered since is `peak_moved`). Failed PATCHes changed nothing and are left out."""
    run_id = start_run(record)
    patched(record, run_id, change("p1", current="In_451.1", manual=True))
    patched(record, run_id, change("p2", current="N2_391.4", desired="N2_337.1", manual=False))
    patched(record, run_id, change("p3"), status=Status.FAILED, http_status=400)
    undo = plan_undo(record, find_run(record, [ENDPOINT], run_id=run_id))
    assert {peak: assigned.candidate_key for peak, assigned in undo.restore[ENTRY].items()} == {
        "p1": "In_451.1",
        "p2": "N2_391.4",
    }
    assert undo.restore[ENTRY]["p1"].note == f"undo of run {run_id}, which set Ga_417.2"
    assert undo.restore[ENTRY]["p2"].note == (
        f"undo of run {run_id}, which set N2_337.1; was not pinned before; the API cannot unpin: "
        "it stays pinned to N2_391.4"
    )
    written = tmp_path / "undo.yaml"
    written.write_text(render_undo(undo, format="yaml"))
    loaded = {
        (o.peak_id, o.candidate_key, o.wavelength_nm, o.note) for o in load_overrides([written]).overrides
    }
    assert loaded == {(peak, a.candidate_key, 417.1, a.note) for peak, a in undo.restore[ENTRY].items()}


def test_unknown_earlier_candidates_are_listed_with_the_reason(record: Record) -> None:
    """An element-only peak, or one with no candidate, cannot be set back: a comment says which and why;
    a PATCH of unknown outcome (the run was killed) is set back too, in case it was made."""
    run_id = start_run(record)
    patched(record, run_id, change("p1", current=None, element="Ga"))
    patched(record, run_id, change("p2", current=None, element=None))
    patched(record, run_id, change("p3"), status=None)
    undo = plan_undo(record, find_run(record, [ENDPOINT], run_id=run_id))
    assert [(u.peak_id, u.reason) for u in undo.unrestorable] == [
        (
            "p1",
            "its candidate before run 1 is unknown: the server showed only the element Ga, "
            "no candidate key (run 1 set Ga_417.2)",
        ),
        ("p2", "it had no candidate before run 1 (run 1 set Ga_417.2)"),
    ]
    note = undo.restore[ENTRY]["p3"].note
    assert note is not None
    assert "stopped before this PATCH's outcome was known" in note
    text = render_undo(undo, format="yaml")
    assert f"#   {ENTRY} p1: its candidate before run 1 is unknown" in text
    assert f"#   {ENTRY} p2: it had no candidate before run 1" in text


def test_a_peak_changed_again_later_is_named(record: Record) -> None:
    """A later run patched the peak again: the file still sets it back to before this run, and says so."""
    first = start_run(record)
    patched(record, first, change("p1"))
    patched(record, start_run(record), change("p1", current="Ga_417.2", desired="Ga_403.3"))
    undo = plan_undo(record, find_run(record, [ENDPOINT], run_id=first))
    assert undo.changed_later == {(ENTRY, "p1"): 2}
    assert undo.restore[ENTRY]["p1"].note == "undo of run 1, which set Ga_417.2; run 2 changed it again since"
    assert f"#   {ENTRY} p1: run 2" in render_undo(undo, format="yaml")


def test_last_is_the_last_apply_run_of_the_endpoint(record: Record) -> None:
    """--last: the newest apply run at this endpoint, not another endpoint's."""
    start_run(record)
    second = start_run(record)
    start_run(record, endpoint="https://staging.example.test/")
    assert find_run(record, [ENDPOINT], run_id=None).run_id == second


def test_a_run_that_applied_nothing_or_does_not_exist(record: Record) -> None:
    """Nothing to undo, or no such run (here, at this endpoint): an InputError that says so."""
    run_id = start_run(record)
    patched(record, run_id, change(), status=Status.FAILED, http_status=400)
    with pytest.raises(InputError, match=r"run 1 applied nothing \(1 PATCH, none applied\)"):
        plan_undo(record, find_run(record, [ENDPOINT], run_id=run_id))
    with pytest.raises(InputError, match="no run 1 in the record"):
        find_run(record, ["https://staging.example.test/"], run_id=1)
    with pytest.raises(InputError, match="no apply run in the record"):
        find_run(record, ["https://staging.example.test/"], run_id=None)


def test_a_run_whose_every_peak_is_unknown_cannot_be_undone(record: Record) -> None:
    """Only element-only peaks: no file, and the reasons."""
    run_id = start_run(record)
    patched(record, run_id, change(current=None, element="Ga"))
    with pytest.raises(InputError, match="cannot be undone: no earlier candidate is known"):
        plan_undo(record, find_run(record, [ENDPOINT], run_id=run_id))


def test_csv_carries_the_notes(record: Record) -> None:
    """--format csv: one row per peak with its wavelength and note (CSV has no comments: the reasons go
    to stderr)."""
    run_id = start_run(record)
    patched(record, run_id, change("p1", data_id=OTHER))
    text = render_undo(plan_undo(record, find_run(record, [ENDPOINT], run_id=run_id)), format="csv")
    assert text == (
        "data_id,peak_id,candidate_key,wavelength_nm,note\n"
        f'{OTHER},p1,In_451.1,417.1,"undo of run 1, which set Ga_417.2"\n'
    )


# --- The command ---


def test_undo_then_apply_restores_the_server(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """apply, `undo --last -o FILE`, apply FILE: a plan of the undo file finds nothing left to change,
    and the element-only peak the run patched is named on stderr as not restored."""
    state = ["--state", str(tmp_path / "s.db")]
    assert cli("apply", *state, EXAMPLES).code == 0
    undo_file = tmp_path / "undo.yaml"
    ran = cli("undo", "--last", *state, "-o", str(undo_file))
    assert ran.code == 0
    assert "not restored: 5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b p2" in ran.err
    assert cli("apply", *state, str(undo_file)).code == 0
    assert "No changes" in cli("plan", *state, str(undo_file)).out
    ran = cli("history", *state, "--runs", "--format", "json")
    assert ran.code == 0


def test_undo_writes_to_stdout_and_refuses_to_overwrite(cli: Cli, tmp_path: Path, record: Record) -> None:
    """stdout by default; an existing -o file needs --force; -o naming the record itself is refused."""
    patched(record, start_run(record), change())
    state = ["--state", str(tmp_path / "state.db"), "--endpoint", ENDPOINT]
    ran = cli("undo", "1", *state)
    assert (ran.code, ran.out.count("undo of run 1")) == (0, 1)
    existing = tmp_path / "undo.yaml"
    existing.write_text("keep me")
    ran = cli("undo", "1", *state, "-o", str(existing))
    assert ran.code == 1
    assert "already exists" in ran.err
    assert existing.read_text() == "keep me"
    assert cli("undo", "1", *state, "-o", str(existing), "--force").code == 0
    assert existing.read_text().startswith("# Undo of run 1")  # YAML, as the name says
    ran = cli("undo", "1", *state, "-o", str(tmp_path / "state.db"), "--force")
    assert ran.code == 1
    assert "is also the --state" in ran.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "name a RUN_ID, or pass --last"),
        (["1", "--last"], "name a RUN_ID, or pass --last"),
        (["7"], "no run 7 in the record"),
        (["--last", "--no-state"], "--no-state leaves none to read"),
        (["--last", "--sandbox"], "temporary file"),
    ],
)
def test_undo_refuses_clearly(cli: Cli, argv: list[str], message: str) -> None:
    """Clear messages, exit 1, nothing written."""
    ran = cli("undo", *argv)
    assert ran.code == 1
    assert message in ran.err
    assert ran.out == ""
