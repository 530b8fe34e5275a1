"""The record end to end: a colleague's edit is a conflict, element-only lines are verified, moved peaks are
seen, a run is undone, and a killed run leaves an honest trail — the real CLI against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Faults, Sandbox
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from tests.conftest import Cli
from tests.test_e2e import ALN, GAN, INGAN, LIST
from tests.test_faults import patch_requests, write_overrides

pytestmark = pytest.mark.slow


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "state.db")


def overrides(tmp_path: Path, body: str, name: str = "o.yaml") -> str:
    path = tmp_path / name
    path.write_text(f"version: 1\noverrides:\n{body}", encoding="utf-8")
    return str(path)


def items_of(out: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["data_id"], i["peak_id"]): i for i in json.loads(out)["items"]}


def peak(sandbox: Sandbox, data_id: str, peak_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        p for p in sandbox.result(data_id)["detected_peaks"] if p["peak_id"] == peak_id
    )
    return found


def test_a_colleagues_edit_is_a_conflict_left_alone_unless_overwritten(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """We set GAN p1 to Ga_417.2; a colleague pins In_451.1 in the UI: plan and apply say `conflict` (what we
    set, in which run, what it is now), no PATCH is sent, exit 1; --overwrite-conflicts patches it."""
    wanted = overrides(tmp_path, f"  {GAN}:\n    p1: Ga_417.2\n")
    assert cli("apply", "--state", state, wanted).code == 0
    sandbox.ui_edit(GAN, "p1", "In_451.1")
    sandbox.reset_stats()
    planned = cli("plan", "--state", state, "--format", "json", wanted)
    assert planned.code == 1
    item = items_of(planned.out)[GAN, "p1"]
    assert item["status"] == "conflict"
    assert "Ga_417.2" in item["message"]
    assert "run 1" in item["message"]
    assert "In_451.1" in item["message"]
    applied = cli("apply", "--state", state, wanted)
    assert applied.code == 1
    assert "PATCH" not in sandbox.stats()["by_method"]
    assert peak(sandbox, GAN, "p1")["candidate_key"] == "In_451.1"
    forced = cli("apply", "--state", state, "--overwrite-conflicts", wanted)
    assert forced.code == 0, forced.out + forced.err
    assert sandbox.stats()["by_method"]["PATCH"] == 1
    assert peak(sandbox, GAN, "p1")["candidate_key"] == "Ga_417.2"


def test_someone_setting_the_wanted_value_is_in_sync_not_a_conflict(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """We set Ga_417.2; a colleague pins another line, then the file is changed to want that line: in sync."""
    assert cli("apply", "--state", state, overrides(tmp_path, f"  {GAN}:\n    p1: Ga_417.2\n")).code == 0
    sandbox.ui_edit(GAN, "p1", "In_451.1")
    ran = cli(
        "plan", "--state", state, "--detailed-exitcode", overrides(tmp_path, f"  {GAN}:\n    p1: In_451.1\n")
    )
    assert ran.code == 0, ran.out
    assert ran.out.startswith("No changes: 1 override matches")


def test_element_only_peaks_are_patched_once_then_verified_by_the_record(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """The documented shape: the first apply patches the element match to be sure; the next plan sends no
    PATCH and is in sync "verified by the record"; a later edit of the entry makes it a change again."""
    wanted = overrides(tmp_path, f"  {ALN}:\n    p1: Al_396.2\n    p2: N2_357.7\n")
    first = cli("apply", "--state", state, "--format", "json", wanted)
    assert first.code == 0, first.err
    assert {i["status"] for i in items_of(first.out).values()} == {"applied"}
    sandbox.reset_stats()
    again = cli("plan", "--state", state, "--format", "json", "--detailed-exitcode", wanted)
    assert again.code == 0
    assert sandbox.stats()["by_method"] == {"GET": 1}
    verified = items_of(again.out)[ALN, "p1"]
    assert verified["status"] == "in_sync"
    assert verified["message"].startswith("verified by the record (run 1)")
    text = cli("plan", "--state", state, wanted).out
    assert text.splitlines()[-1] == "No changes: 2 overrides match."  # not counted as element only
    sandbox.ui_edit(ALN, "p2", "N2_357.7")  # an edit of the entry (same line): last_updated moves on
    later = cli("plan", "--state", state, "--format", "json", wanted)
    changed = items_of(later.out)[ALN, "p1"]
    assert changed["status"] == "change"
    assert "line cannot be verified; patching to make sure" in changed["message"]


def test_without_a_record_the_first_wave_comparison_stays(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`plan` with no database yet (a pull request's CI job) and `--no-state` compare by element as before."""
    wanted = overrides(tmp_path, f"  {ALN}:\n    p1: Al_396.2\n")
    for extra in (("--state", str(tmp_path / "none-yet.db")), ("--no-state",)):
        ran = cli("plan", *extra, "--detailed-exitcode", wanted)
        assert ran.code == 0, ran.out
        assert ran.out == "No changes: 1 override matches (1 by element only: the line cannot be seen).\n"
    assert not (tmp_path / "none-yet.db").exists()


def test_a_renumbered_peak_is_peak_moved_by_the_files_wavelength(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """Reprocessing finds a peak at 400.0 nm and renumbers: GAN p3 is now another peak. With the file's
    wavelength_nm the plan says `peak_moved`, names the peak now near 403.1 nm, and nothing is patched."""
    sandbox.reprocess(GAN, wavelength_nm=400.0, element="Ga")
    wanted = overrides(tmp_path, f"  {GAN}:\n    p3: {{candidate_key: Ga_403.3, wavelength_nm: 403.1}}\n")
    ran = cli("apply", "--state", state, "--format", "json", wanted)
    assert ran.code == 1
    item = items_of(ran.out)[GAN, "p3"]
    assert item["status"] == "peak_moved"
    assert "p4" in item["message"]
    assert "PATCH" not in sandbox.stats()["by_method"]


def test_a_renumbered_peak_is_peak_moved_by_the_recorded_wavelength(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """Without wavelength_nm in the file, the record remembers where the peak was when we patched it."""
    wanted = overrides(tmp_path, f"  {GAN}:\n    p3: Ga_403.3\n")
    assert cli("apply", "--state", state, wanted).code == 0
    sandbox.reprocess(GAN, wavelength_nm=400.0, element="Ga")
    ran = cli("plan", "--state", state, "--format", "json", wanted)
    assert ran.code == 1
    assert items_of(ran.out)[GAN, "p3"]["status"] == "peak_moved"
    assert cli("plan", "--no-state", wanted).code == 0  # without the record, the move cannot be seen


def applied_candidates(sandbox: Sandbox) -> dict[tuple[str, str], Any]:
    """What each peak of the keyed shapes holds (key shape: candidate_key; lists and maps: the selected)."""
    held: dict[tuple[str, str], Any] = {}
    for data_id in (GAN, INGAN, LIST):
        for p in sandbox.result(data_id)["detected_peaks"]:
            candidates = p.get("candidates")
            if isinstance(candidates, dict):
                chosen = [key for key, body in candidates.items() if body.get("selected")]
            elif isinstance(candidates, list):
                chosen = [c.get("candidate_key", c.get("key")) for c in candidates if c.get("selected")]
            else:
                chosen = [p.get("candidate_key")]
            held[data_id, p["peak_id"]] = chosen
    return held


def test_undo_last_then_apply_restores_the_server(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """Apply the examples, `undo --last` writes a reviewable file, applying it sets every peak back to the
    candidate it had; the element-only peaks are listed in a comment (their earlier line is unknown)."""
    before = applied_candidates(sandbox)
    assert cli("apply", "--state", state, "examples/").code == 0
    assert applied_candidates(sandbox) != before
    undo_file = tmp_path / "undo.yaml"
    undone = cli("undo", "--last", "--state", state, "-o", str(undo_file))
    assert undone.code == 0, undone.err
    text = undo_file.read_text(encoding="utf-8")
    assert "run 1" in text
    assert ALN in text  # named in a comment: its earlier line cannot be known
    assert cli("validate", str(undo_file)).code == 0
    restored = cli("apply", "--state", state, str(undo_file))
    assert restored.code == 0, restored.out + restored.err
    assert applied_candidates(sandbox) == before


def test_history_shows_runs_and_patches(sandbox: Sandbox, cli: Cli, state: str) -> None:
    """After an apply, `history --format json` lists the run and each PATCH with from, to and status."""
    assert cli("apply", "--state", state, "examples/").code == 0
    document = json.loads(cli("history", "--state", state, "--format", "json").out)
    [run] = document["runs"]
    assert (run["run_id"], run["command"], run["exit_code"]) == (1, "apply", 0)
    gan_p1 = next(p for p in document["patches"] if (p["data_id"], p["peak_id"]) == (GAN, "p1"))
    assert (gan_p1["from"], gan_p1["to"], gan_p1["status"]) == ("In_451.1", "Ga_417.2", "applied")
    runs_only = json.loads(cli("history", "--state", state, "--runs", "--format", "json").out)
    assert set(runs_only) == {"runs"}


def test_kill_9_mid_apply_leaves_rows_that_history_shows_as_outcome_unknown(tmp_path: Path) -> None:
    """`kill -9` with PATCHes in flight: each PATCH the server received has its row, those cut off read
    "unknown" in `history`, and the database is sound."""
    entries = synthetic_entries(30, peaks=2, points=16, differing=1)
    wanted = write_overrides(tmp_path / "o.csv", synthetic_overrides(30, peaks=2, differing=1))
    state = tmp_path / "state.db"
    with Sandbox(entries=entries, faults=Faults(latency=0.3)) as server:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env |= {"AS_API_ENDPOINT": server.url, "AS_API_KEY": "sandbox"}
        argv = [sys.executable, "-m", "reconciler", "apply", "--concurrency", "4", "--state", str(state)]
        child = subprocess.Popen(
            [*argv, str(wanted)], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while server.stats()["by_method"].get("PATCH", 0) < 6 and time.monotonic() < deadline:
                time.sleep(0.005)
            child.kill()
            child.wait(timeout=20)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        time.sleep(0.5)
        patched = set(patch_requests(server))
        history = subprocess.run(
            [sys.executable, "-m", "reconciler", "history", "--state", str(state), "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert history.returncode == 0, history.stderr
    rows = json.loads(history.stdout)["patches"]
    recorded = {(row["data_id"], row["peak_id"]) for row in rows}
    assert patched <= recorded
    assert "unknown" in {row["status"] for row in rows}
    [run] = json.loads(history.stdout)["runs"]
    assert run["finished_at"] is None


def test_another_spelling_of_the_endpoint_sees_the_same_record(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, state: str
) -> None:
    """Apply at `http://127.0.0.1:P/`, a colleague's edit, then a run that spells the endpoint
    `HTTP://127.0.0.1:0P//`: still a conflict (the record is kept per API, not per spelling), no PATCH."""
    wanted = overrides(tmp_path, f"  {GAN}:\n    p1: Ga_417.2\n")
    assert cli("apply", "--state", state, wanted).code == 0
    sandbox.ui_edit(GAN, "p1", "In_451.1")
    sandbox.reset_stats()
    host, port = sandbox.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    spelt = f"HTTP://{host}:0{port}//"
    ran = cli("apply", "--state", state, "--endpoint", spelt, "--format", "json", wanted)
    assert ran.code == 1
    assert items_of(ran.out)[GAN, "p1"]["status"] == "conflict"
    assert "PATCH" not in sandbox.stats()["by_method"]
