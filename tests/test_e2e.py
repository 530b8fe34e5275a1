"""End to end: the real CLI against the sandbox on 127.0.0.1, from override files to reports."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import main
from reconciler.lock import hold_lock
from reconciler.sandbox import Faults, Sandbox
from tests.conftest import Cli
from tests.factories import commit_all

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"  # shape "key"
INGAN = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"  # shape "map"
ALN = "5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b"  # shape "element"
LIST = "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b"  # shape "list"
MISSING = "00000000-0000-4000-8000-000000000000"

CLEAN_YAML = f"""\
version: 1
overrides:
  {GAN}:
    p1: Ga_417.2
    p2: N2_337.1
    p3: Ga_403.3
  {INGAN}:
    p4:
      candidate_key: Ga_417.2
      note: ruled out In by the growth log
  {ALN}:
    p2: N2_357.7
"""
CLEAN_CSV = f"data_id,peak_id,candidate_key,note\n{LIST},p2,N2_337.1,\n{LIST},p3,H_656.3,pin it\n"


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    """A folder holding a YAML and a CSV file that name every peak shape, with no errors."""
    folder = tmp_path / "overrides"
    (folder / "lab").mkdir(parents=True)
    (folder / "gan.yaml").write_text(CLEAN_YAML)
    (folder / "lab" / "list.csv").write_text(CLEAN_CSV)
    return folder


def report_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def statuses(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(item["data_id"], item["peak_id"]): item["status"] for item in document["items"]}


def test_example_plan_shows_changes_and_converges(sandbox: Sandbox, cli: Cli) -> None:
    """The shipped example (what users copy) holds no error: it plans to 6 changes and 4 in sync (exit 0),
    applies them, and then plans "No changes" with --detailed-exitcode 0."""
    ran = cli("plan", "examples/")
    assert ran.code == 0
    assert ran.out.splitlines()[-1] == "Plan: 6 to change, 4 in sync (1 by element only)."
    assert "!" not in "".join(line[:1] for line in ran.out.splitlines())
    assert sandbox.stats()["by_method"] == {"GET": 4}
    assert cli("apply", "examples/").code == 0
    again = cli("plan", "--detailed-exitcode", "examples/")
    assert again.code == 0
    assert again.out.splitlines()[-1].startswith("No changes: 10 overrides match")


def test_one_get_per_entry_one_patch_per_change_then_nothing(
    sandbox: Sandbox, cli: Cli, overrides: Path
) -> None:
    """A YAML and a CSV file: apply sends one GET per entry and one PATCH per changed peak; then in sync."""
    ran = cli("apply", str(overrides))
    assert ran.code == 0, ran.out + ran.err
    stats = sandbox.stats()
    assert stats["by_method"] == {"GET": 4, "PATCH": 6}
    gets = {path: n for path, n in stats["by_path"].items() if path.startswith("GET")}
    assert sorted(gets.values()) == [1, 1, 1, 1]
    assert stats["patches_changed"] == 6
    sandbox.reset_stats()
    again = cli("plan", "--detailed-exitcode", str(overrides))
    assert again.code == 0, again.out
    # The element-only peak was set by this apply: the record vouches for its line now.
    assert again.out == "No changes: 7 overrides match.\n"
    assert sandbox.stats()["by_method"] == {"GET": 4}


def test_every_peak_shape_converges(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """Candidate key on the peak, a mapping with `selected`, a list, and element only: all end pinned."""
    assert cli("apply", str(overrides)).code == 0
    peaks = {
        (data_id, peak["peak_id"]): peak
        for data_id in (GAN, INGAN, ALN, LIST)
        for peak in sandbox.result(data_id)["detected_peaks"]
    }
    assert peaks[GAN, "p1"]["candidate_key"] == "Ga_417.2"
    assert peaks[INGAN, "p4"]["candidates"]["Ga_417.2"]["selected"] is True
    assert peaks[ALN, "p2"]["element"] == "N2"
    selected = [c for c in peaks[LIST, "p2"]["candidates"] if c["selected"]]
    assert [c["candidate_key"] for c in selected] == ["N2_337.1"]
    assert all(
        peaks[key]["manual"] for key in [(GAN, "p1"), (GAN, "p3"), (INGAN, "p4"), (ALN, "p2"), (LIST, "p3")]
    )


def test_detailed_exitcode_is_2_with_changes_pending(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """plan --detailed-exitcode exits 2 when there is something to change and nothing failed."""
    ran = cli("plan", "--detailed-exitcode", str(overrides))
    assert ran.code == 2
    assert ran.out.splitlines()[-1] == "Plan: 6 to change, 1 in sync."


def test_plan_without_the_flag_exits_0_with_changes(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """A plain plan with changes pending and no errors exits 0."""
    assert cli("plan", str(overrides)).code == 0


def test_json_and_markdown_reports(sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path) -> None:
    """--format json on stdout equals the --report file; markdown is a table with the headline."""
    ran = cli("plan", "--format", "json", "--report", str(tmp_path / "r" / "plan.json"), str(overrides))
    stdout = json.loads(ran.out)
    assert stdout == report_of(tmp_path / "r" / "plan.json")
    assert stdout["command"] == "plan"
    assert stdout["endpoint"] == sandbox.url
    assert stdout["summary"]["change"] == 6
    assert [Path(p).name for p in stdout["sources"]] == ["gan.yaml", "list.csv"]
    keys = [(i["data_id"], i["peak_id"]) for i in stdout["items"]]
    assert keys == sorted(keys)
    note = next(i for i in stdout["items"] if i["peak_id"] == "p4")
    assert (note["note"], note["current"], note["manual"]) == (
        "ruled out In by the growth log",
        "In_451.1",
        True,
    )
    markdown = cli("plan", "--format", "markdown", str(overrides)).out
    assert "**Plan: 6 to change, 1 in sync.**" in markdown
    assert (
        "| ~ | `3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10` | `p4` | `In_451.1` | `Ga_417.2` | change |" in markdown
    )


def test_every_error_status_is_reported(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """entry_not_found, peak_not_found, invalid_candidate and failed (hidden candidates) in one apply."""
    (tmp_path / "bad.yaml").write_text(
        f"version: 1\noverrides:\n  {MISSING}:\n    p1: Ga_417.2\n"
        f"  {GAN}:\n    p1: Xx_1.0\n    p7: Ga_417.2\n  {ALN}:\n    p2: N2_999.9\n"
    )
    ran = cli("apply", "--report", str(tmp_path / "report.json"), str(tmp_path / "bad.yaml"))
    assert ran.code == 1
    found = statuses(report_of(tmp_path / "report.json"))
    assert found == {
        (MISSING, "p1"): "entry_not_found",
        (GAN, "p1"): "invalid_candidate",
        (GAN, "p7"): "peak_not_found",
        (ALN, "p2"): "failed",
    }
    failed = next(i for i in report_of(tmp_path / "report.json")["items"] if i["status"] == "failed")
    assert failed["message"].startswith("HTTP 400")
    assert failed["message"].endswith(
        "compared by element only: the server sends no candidate key for this peak"
    )
    assert sandbox.stats()["by_method"]["PATCH"] == 1


def test_fetch_failed_after_retries(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """An entry whose GET keeps failing is fetch_failed after --max-attempts; the rest still apply."""
    sandbox.set_faults(Faults(fail_first=2, fail_kind="503"))
    ran = cli("apply", "--max-attempts", "2", "--format", "json", str(overrides))
    document = json.loads(ran.out)
    assert ran.code == 1
    assert set(statuses(document).values()) == {"fetch_failed"}
    assert "HTTP 503" in document["items"][0]["message"]
    assert "gave up after 2 attempts" in document["items"][0]["message"]


def test_saved_plan_applies_and_marks_moved_peaks_stale(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path
) -> None:
    """plan --out then apply --plan: peaks changed in between are stale and untouched, the rest applied."""
    plan = tmp_path / "plan.json"
    assert cli("plan", "--out", str(plan), str(overrides)).code == 0
    saved = report_of(plan)
    assert saved["overrides_digest"].startswith("sha256:")
    # Someone else pins p1 of the GaN entry between plan and apply.
    httpx.patch(
        f"{sandbox.url}oes/{GAN}/peaks",
        json={"peak_id": "p1", "candidate_key": "In_451.1"},
        headers={"X-API-KEY": "sandbox"},
    ).raise_for_status()
    sandbox.reset_stats()
    ran = cli("apply", "--plan", str(plan), "--report", str(tmp_path / "applied.json"))
    assert ran.code == 1
    found = statuses(report_of(tmp_path / "applied.json"))
    assert found.pop((GAN, "p1")) == "stale"
    planned = statuses(saved)
    assert planned.pop((GAN, "p1")) == "change"
    assert found == {key: "applied" if status == "change" else status for key, status in planned.items()}
    assert sandbox.stats()["patches"][GAN].get("p1") is None
    assert "changed since the plan: was In_451.1 (manual: false), now In_451.1 (manual: true)" in ran.out


def test_saved_plan_needs_no_override_files_and_refuses_them(
    sandbox: Sandbox, cli: Cli, overrides: Path
) -> None:
    """apply --plan with override paths too is an input error, before anything is sent."""
    ran = cli("apply", "--plan", "plan.json", str(overrides))
    assert ran.code == 1
    assert "takes no override paths" in ran.err
    assert sandbox.stats()["requests"] == 0


def test_audit_log_has_a_line_per_patch(sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path) -> None:
    """--audit-log appends a `sending` line before each PATCH and one with its outcome: from, to, status,
    attempts and source."""
    audit = tmp_path / "audit.jsonl"
    sandbox.set_faults(Faults(fail_first=1, fail_kind="503"))
    assert cli("apply", "--audit-log", str(audit), str(overrides)).code == 0
    every = [json.loads(line) for line in audit.read_text().splitlines()]
    sending = [line for line in every if line["status"] == "sending"]
    lines = [line for line in every if line["status"] != "sending"]
    assert (len(sending), len(lines)) == (6, 6)
    for line in lines:
        peak = (line["data_id"], line["peak_id"])
        before = next(
            i
            for i, s in enumerate(every)
            if s["status"] == "sending" and (s["data_id"], s["peak_id"]) == peak
        )
        assert before < every.index(line)
    first = next(line for line in lines if line["peak_id"] == "p4")
    assert first["from"] == "In_451.1"
    assert first["to"] == "Ga_417.2"
    assert (first["status"], first["http_status"], first["attempts"]) == ("applied", 200, 2)
    assert first["source"].endswith("gan.yaml:8")
    assert first["note"] == "ruled out In by the growth log"
    assert set(first) >= {"time", "data_id", "git_commit", "git_dirty"}


def test_max_changes_refuses_with_nothing_patched(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """More changes than --max-changes: exit 1, the plan is shown, no PATCH is sent."""
    ran = cli("apply", "--max-changes", "5", str(overrides))
    assert ran.code == 1
    assert "6 changes pending, more than --max-changes 5; nothing was patched" in ran.err
    assert "PATCH" not in sandbox.stats()["by_method"]
    assert cli("apply", "--max-changes", "6", str(overrides)).code == 0


def test_held_lock_exits_3_at_once(sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path) -> None:
    """While another run holds --lock-file, apply exits 3 without sending anything."""
    lock = str(tmp_path / "apply.lock")
    with hold_lock(lock):
        ran = cli("apply", "--lock-file", lock, str(overrides))
    assert ran.code == 3
    assert "another run holds the lock" in ran.err
    assert sandbox.stats()["requests"] == 0
    assert cli("apply", "--lock-file", lock, str(overrides)).code == 0


def test_wrong_key_stops_the_run_with_exit_1(
    sandbox: Sandbox, cli: Cli, overrides: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused key ends the run: exit 1, a message about the key, no PATCH, and the report says so."""
    monkeypatch.setenv("AS_API_KEY", "wrong")
    report = overrides.parent / "report.json"
    ran = cli("apply", "--concurrency", "1", "--report", str(report), str(overrides))
    assert ran.code == 1
    assert "AuthError: the API refused the key (HTTP 401" in ran.err
    assert "AS_API_KEY" in ran.err
    assert sandbox.stats()["requests"] == 1
    messages = {item["message"] for item in report_of(report)["items"]}
    assert messages == {"not fetched: the API refused the key"}


def test_validate_is_offline(cli: Cli, overrides: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """validate needs no key and no server."""
    monkeypatch.delenv("AS_API_KEY", raising=False)
    monkeypatch.setenv("AS_API_ENDPOINT", "http://127.0.0.1:9/")
    ran = cli("validate", str(overrides))
    assert (ran.code, ran.out) == (0, "Valid: 7 overrides for 4 data entries in 2 files.\n")


def test_an_override_declared_twice_alike_is_a_warning_for_validate_plan_and_apply(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """The same override in a YAML and a CSV file: every command warns, naming both places, and goes on."""
    (tmp_path / "a.yaml").write_text(f"version: 1\noverrides:\n  {GAN}:\n    p1: Ga_417.2\n")
    (tmp_path / "b.csv").write_text(f"data_id,peak_id,candidate_key\n{GAN},p1,Ga_417.2\n")
    warning = f"{tmp_path}/b.csv:2: {GAN}/p1 is declared again with the same candidate_key (first at "
    for command in ("validate", "plan", "apply"):
        ran = cli(command, str(tmp_path / "a.yaml"), str(tmp_path / "b.csv"))
        assert ran.code == 0, ran.err
        assert warning in ran.err
    assert sandbox.stats()["by_method"]["PATCH"] == 1


def test_invalid_file_sends_nothing(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """One invalid file among valid ones: exit 1, path:line listed, not one request."""
    (overrides / "broken.yaml").write_text("version: 1\noverrides:\n  not-a-uuid:\n    p1: Ga_417.2\n")
    ran = cli("apply", str(overrides))
    assert ran.code == 1
    assert "broken.yaml:3: " in ran.err
    assert sandbox.stats()["requests"] == 0


def test_sandbox_flag_runs_in_process(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """--sandbox needs no key or endpoint: it plans the example against an in-process sandbox."""
    monkeypatch.delenv("AS_API_KEY", raising=False)
    ran = cli("plan", "--sandbox", "examples/")
    assert ran.code == 0
    assert ran.out.splitlines()[-1] == "Plan: 6 to change, 4 in sync (1 by element only)."


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("plan", "--concurrency", "0", "examples/"), "must be at least 1"),
        (("plan", "--rate-limit", "0", "examples/"), "must be at least 0.01"),
        (("plan", "--format", "xml", "examples/"), "invalid choice: 'xml'"),
        (("sandbox", "--port", "99999"), "must be a port number from 0 to 65535"),
        (("plan",), "name at least one override file or directory"),
    ],
)
def test_usage_errors_exit_1(cli: Cli, argv: tuple[str, ...], expected: str) -> None:
    """A wrong option is invalid input (exit 1, not the 2 that means changes pending), never a traceback."""
    ran = cli(*argv)
    assert ran.code == 1
    assert expected in ran.err
    assert "Traceback" not in ran.err


def test_plain_http_elsewhere_is_refused_before_sending(
    cli: Cli, overrides: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An http:// endpoint that is not loopback is refused, naming --allow-insecure-http."""
    monkeypatch.setenv("AS_API_KEY", "k")
    ran = cli("plan", "--endpoint", "http://api.example.test/", str(overrides))
    assert ran.code == 1
    assert "--allow-insecure-http" in ran.err


def test_saved_plan_obeys_max_changes(sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path) -> None:
    """apply --plan with more changes than --max-changes sends nothing and exits 1."""
    plan = tmp_path / "plan.json"
    assert cli("plan", "--out", str(plan), str(overrides)).code == 0
    sandbox.reset_stats()
    ran = cli("apply", "--plan", str(plan), "--max-changes", "2")
    assert ran.code == 1
    assert "6 changes pending in the saved plan, more than --max-changes 2; nothing was patched" in ran.err
    assert sandbox.stats()["requests"] == 0


def test_rate_limit_holds(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """--rate-limit R spaces requests: 10 requests at 20 per second take at least 0.45 s."""
    started = time.monotonic()
    assert cli("apply", "--rate-limit", "20", "--concurrency", "8", str(overrides)).code == 0
    elapsed = time.monotonic() - started
    stats = sandbox.stats()
    assert stats["requests"] == 10
    assert stats["busiest_second"] <= 20
    assert elapsed >= 9 / 20


def test_audit_lines_name_the_git_commit_of_the_overrides(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path
) -> None:
    """When the override files are in a git work tree, each audit line carries its HEAD commit."""
    head = commit_all(overrides)
    audit = tmp_path / "audit.jsonl"
    assert cli("apply", "--audit-log", str(audit), str(overrides)).code == 0
    commits = {json.loads(line)["git_commit"] for line in audit.read_text().splitlines()}
    assert commits == {head}


def test_closed_stdout_is_one_line_not_a_traceback(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan | head -1`: the reader leaves early; the CLI says so in one line and exits 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as closed:
        monkeypatch.setattr("sys.stdout", closed)
        code = main(["plan", "examples/"])
        monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert "could not write the report to stdout (Broken pipe)" in err


def test_audit_lines_of_a_saved_plan_name_the_git_commit_too(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path
) -> None:
    """apply --plan reads no override files, yet its audit lines carry the commit where they live."""
    head = commit_all(overrides)
    plan, audit = tmp_path / "plan.json", tmp_path / "audit.jsonl"
    assert cli("plan", "--out", str(plan), str(overrides)).code == 0
    assert cli("apply", "--plan", str(plan), "--audit-log", str(audit)).code == 0
    commits = {json.loads(line)["git_commit"] for line in audit.read_text().splitlines()}
    assert commits == {head}
