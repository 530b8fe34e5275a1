"""Once a PATCH is sent nothing is lost: files before stdout, stops that keep the report, nothing hung."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from reconciler import document, engine, output, run
from reconciler.diff import verify
from reconciler.errors import ConfigError
from reconciler.sandbox import Faults, Sandbox
from reconciler.sandbox.data import example_entries
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from tests.conftest import Cli
from tests.test_e2e import ALN, GAN, INGAN, LIST
from tests.test_faults import patch_requests, write_overrides

pytestmark = pytest.mark.slow

WAIT = 20.0  # the longest a child may take before the test fails instead of hanging

# Every peak shape, and a note no ASCII terminal can show.
OVERRIDES = f"""\
version: 1
overrides:
  {GAN}:
    p1: Ga_417.2
    p2: N2_337.1
  {INGAN}:
    p4:
      candidate_key: Ga_417.2
      note: "Ångström-level check, 確認済み"
  {ALN}:
    p2: N2_357.7
  {LIST}:
    p3: H_656.3
"""
CHANGES = 4  # GAN p1, INGAN p4, ALN p2 (element only: patched once to be sure), LIST p3


@pytest.fixture
def lab(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A folder with one override file wanting 4 changes from the sandbox's example data."""
    (tmp_path / "overrides.yaml").write_text(OVERRIDES, encoding="utf-8")
    return tmp_path


def report_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return env | extra


def run_child(
    lab: Path, *args: str, stdout: Any = subprocess.PIPE, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler ARGS…` in its own process, as cron would run it."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=lab,
        env=env or child_env(),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=WAIT,
        check=False,
        **popen,
    )


def assert_full_report(path: Path) -> None:
    """The report file holds every item and the applied PATCHes, whatever happened to stdout."""
    summary = report_of(path)["summary"]
    assert summary["applied"] == CHANGES
    assert summary["overrides"] == 5


def test_report_file_survives_a_full_stdout(sandbox: Sandbox, lab: Path) -> None:
    """stdout on a full device (/dev/full): one line on stderr, no traceback, report file whole, exit 1."""
    with open("/dev/full", "w") as full:  # noqa: PTH123 (a device, not a path to manipulate)
        ran = run_child(lab, "apply", "--report", "r.json", "overrides.yaml", stdout=full)
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert (
        "could not write the report to stdout (No space left on device); the report is in r.json"
        in ran.stderr
    )
    assert len(ran.stderr.strip().splitlines()) == 1
    assert_full_report(lab / "r.json")
    assert sandbox.stats()["by_method"]["PATCH"] == CHANGES


def test_report_file_survives_a_closed_stdout(sandbox: Sandbox, lab: Path) -> None:
    """Started with stdout closed (`>&-`): the report file is whole, one line on stderr, exit 1."""
    ran = run_child(
        lab, "apply", "--report", "r.json", "overrides.yaml", stdout=None, preexec_fn=lambda: os.close(1)
    )
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert "stdout is closed" in ran.stderr
    assert_full_report(lab / "r.json")


def test_report_file_survives_a_reader_that_left(sandbox: Sandbox, lab: Path) -> None:
    """`apply … | head -0`: a broken pipe is one line on stderr; the report file is whole; exit 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        ran = run_child(lab, "apply", "--report", "r.json", "overrides.yaml", stdout=write_end)
    finally:
        os.close(write_end)
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert "could not write the report to stdout (Broken pipe)" in ran.stderr
    assert_full_report(lab / "r.json")


def test_a_terminal_that_cannot_show_a_note_gets_escapes(sandbox: Sandbox, lab: Path) -> None:
    """An ASCII-only stdout and a note in Japanese: the report is shown with escapes, one line on
    stderr says so, the report file keeps the note exactly, and a run that was fine exits 1."""
    env = child_env(PYTHONIOENCODING="ascii", LC_ALL="C", PYTHONUTF8="0")
    ran = run_child(
        lab, "apply", "--report", "r.json", "-v", "--format", "markdown", "overrides.yaml", env=env
    )
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert "stdout's encoding (ascii) cannot show some characters" in ran.stderr
    assert "\\u78ba\\u8a8d" in ran.stdout  # 確認, escaped
    notes = {item["note"] for item in report_of(lab / "r.json")["items"]}
    assert "Ångström-level check, 確認済み" in notes
    assert_full_report(lab / "r.json")


def test_an_audit_log_that_cannot_be_written_stops_every_patch(sandbox: Sandbox, cli: Cli, lab: Path) -> None:
    """--audit-log on a full device: no PATCH is sent (none could be recorded), report written, exit 1."""
    ran = cli(
        "apply", "--audit-log", "/dev/full", "--report", str(lab / "r.json"), str(lab / "overrides.yaml")
    )
    assert ran.code == 1
    assert "cannot write --audit-log /dev/full: No space left on device" in ran.err
    assert "PATCH" not in sandbox.stats()["by_method"]
    report = report_of(lab / "r.json")
    assert report["summary"]["change"] == CHANGES
    assert {i["message"] for i in report["items"] if i["status"] == "change"} == {
        "not patched: the audit log could not be written"
    }


def test_a_bug_stops_the_run_and_keeps_the_report(
    sandbox: Sandbox, cli: Cli, lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in one entry's work: no new request, the report of what was done is written, the
    traceback on stderr, exit 1."""
    real = verify

    def buggy(item: Any, result: Any) -> Any:
        if item.data_id == ALN:
            raise KeyError("a bug in verify")
        return real(item, result)

    monkeypatch.setattr(engine, "verify", buggy)
    report = lab / "r.json"
    ran = cli("apply", "--concurrency", "1", "--report", str(report), str(lab / "overrides.yaml"))
    assert ran.code == 1
    assert "Traceback" in ran.err
    assert "KeyError: 'a bug in verify'" in ran.err
    assert "internal error: this is a bug in oes-reconcile" in ran.err
    # Entries go in sorted order: INGAN was patched, ALN's PATCH hit the bug, GAN and LIST were not touched.
    assert sandbox.stats()["by_method"] == {"GET": 2, "PATCH": 2}
    items = {(i["data_id"], i["peak_id"]): i for i in report_of(report)["items"]}
    assert items[INGAN, "p4"]["status"] == "applied"
    assert items[GAN, "p1"]["message"] == "not fetched: an internal error stopped the run"
    assert ran.out.splitlines()[-1].startswith(
        "Apply incomplete (an internal error stopped the run): 1 applied"
    )


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on: every connection is refused at once."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def test_an_unreachable_api_stops_the_run_naming_the_endpoint(
    cli: Cli, tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused on every request: the run stops as "API unreachable at ENDPOINT" after
    3 x --concurrency attempts, writes its report and exits 1, instead of retrying every entry."""
    monkeypatch.setenv("AS_API_ENDPOINT", f"http://127.0.0.1:{closed_port}/")
    monkeypatch.setenv("AS_API_KEY", "unreachable-test-key")
    overrides = write_overrides(tmp_path / "o.csv", synthetic_overrides(50, peaks=1, differing=1))
    report = tmp_path / "r.json"
    started = time.monotonic()
    ran = cli("apply", "--concurrency", "2", "--report", str(report), str(overrides))
    assert time.monotonic() - started < 5
    assert ran.code == 1
    assert (
        f"API unreachable at http://127.0.0.1:{closed_port}/: 6 connection attempts in a row failed"
        in ran.err
    )
    document = report_of(report)
    assert document["summary"]["errors"] == 50
    assert "No changes" not in ran.out


def test_a_signal_is_prompt_while_waiting_for_a_rate_limit_slot(tmp_path: Path) -> None:
    """--rate-limit 0.2 (one request every 5 s): SIGINT while the next request waits for its slot
    ends the run within about a second, with the report written and exit 130; the PATCH that never
    left has no audit line."""
    entries = synthetic_entries(5, peaks=1, points=16, differing=1)
    overrides = write_overrides(tmp_path / "o.csv", synthetic_overrides(5, peaks=1, differing=1))
    with Sandbox(entries=entries, faults=Faults()) as server:
        env = child_env(AS_API_ENDPOINT=server.url, AS_API_KEY="sandbox")
        argv = [sys.executable, "-m", "reconciler", "apply", "--rate-limit", "0.2", "--report", "r.json"]
        argv += ["--audit-log", "a.jsonl"]
        child = subprocess.Popen(
            [*argv, str(overrides)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + WAIT
            while server.stats()["requests"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # now the second request waits ~4.7 s for its slot
            child.send_signal(signal.SIGINT)
            signalled = time.monotonic()
            out, err = child.communicate(timeout=WAIT)
            took = time.monotonic() - signalled
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == 130, err
    assert took < 1.5, f"took {took:.2f} s after the signal"
    assert server.stats()["requests"] == 1
    assert report_of(tmp_path / "r.json")["summary"]["overrides"] == 5
    # The PATCH waiting for its slot was never sent, so it has no `sending` line.
    assert (tmp_path / "a.jsonl").read_text() == ""
    assert "Traceback" not in err
    assert out.splitlines()[-1].startswith("Apply incomplete (interrupted): ")


def test_kill_9_mid_apply_leaves_no_patch_without_a_trace(tmp_path: Path) -> None:
    """`kill -9` during an apply: every PATCH the server received has at least a `sending` line in the
    audit log (written before the request), and every outcome line follows its `sending` line."""
    entries = synthetic_entries(30, peaks=2, points=16, differing=1)
    overrides = write_overrides(tmp_path / "o.csv", synthetic_overrides(30, peaks=2, differing=1))
    audit = tmp_path / "audit.jsonl"
    with Sandbox(entries=entries, faults=Faults(latency=0.1)) as server:
        env = child_env(AS_API_ENDPOINT=server.url, AS_API_KEY="sandbox")
        argv = [sys.executable, "-m", "reconciler", "apply", "--concurrency", "4", "--audit-log", str(audit)]
        child = subprocess.Popen([*argv, str(overrides)], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + WAIT
            while server.stats()["by_method"].get("PATCH", 0) < 5 and time.monotonic() < deadline:
                time.sleep(0.005)
            child.kill()
            child.wait(timeout=WAIT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        time.sleep(0.3)  # let the sandbox finish answering what was in flight
        patched = set(patch_requests(server))
    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    sending = {(line["data_id"], line["peak_id"]) for line in lines if line["status"] == "sending"}
    outcomes = [(line["data_id"], line["peak_id"]) for line in lines if line["status"] != "sending"]
    assert len(patched) >= 5
    assert patched <= sending
    assert set(outcomes) <= sending


def _small_files_only() -> None:
    """In the child: files may not grow past 512 bytes (EFBIG, as on a full disk); pipes are not files."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_report_file_that_cannot_be_written_still_shows_the_report(sandbox: Sandbox, lab: Path) -> None:
    """The --report file hits a size limit mid-write after the PATCHes were sent: the report is still shown
    on stdout, the earlier report file is left whole (no half file), one line names the file, exit 1."""
    earlier = lab / "r.json"
    earlier.write_text('{"earlier": true}\n')
    # No record: its database is larger than the limit, and would stop the run before anything is sent.
    # The child can write no file past 512 bytes, coverage's data file included: it runs unmeasured.
    env = {k: v for k, v in child_env().items() if not k.startswith("COVERAGE_")}
    argv = ("apply", "--no-state", "--report", "r.json", "overrides.yaml")
    ran = run_child(lab, *argv, env=env, preexec_fn=_small_files_only)
    assert ran.returncode == 1
    assert "Traceback" not in ran.stderr
    assert "cannot write r.json: File too large" in ran.stderr
    assert ran.stdout.splitlines()[-1] == "Apply: 4 applied, 1 in sync, 0 failed."
    assert earlier.read_text() == '{"earlier": true}\n'
    assert sorted(path.name for path in lab.iterdir()) == ["overrides.yaml", "r.json"]
    assert sandbox.stats()["by_method"]["PATCH"] == CHANGES


def test_a_closed_stderr_changes_nothing(sandbox: Sandbox, lab: Path) -> None:
    """Started with stderr closed (`2>&-`): the run goes ahead, the report is on stdout and in its file."""
    ran = run_child(lab, "apply", "--report", "r.json", "overrides.yaml", preexec_fn=lambda: os.close(2))
    assert ran.returncode == 0, ran.stdout
    assert ran.stdout.splitlines()[-1] == "Apply: 4 applied, 1 in sync, 0 failed."
    assert_full_report(lab / "r.json")


def test_json_on_an_ascii_stdout_stays_valid_json(sandbox: Sandbox, lab: Path) -> None:
    """`--format json` to an ASCII-only stdout: characters are escaped as JSON does (lossless), so the
    document parses to the same note and the run's exit code is its own."""
    env = child_env(PYTHONIOENCODING="ascii", LC_ALL="C", PYTHONUTF8="0")
    ran = run_child(lab, "plan", "--format", "json", "overrides.yaml", env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
    notes = {item["note"] for item in json.loads(ran.stdout)["items"]}
    assert "Ångström-level check, 確認済み" in notes


@pytest.mark.parametrize("command", ["validate", "export"])
def test_validate_and_export_on_a_broken_stdout_are_one_line(
    sandbox: Sandbox, lab: Path, command: str
) -> None:
    """validate and export to a full device or a closed stdout: one line on stderr, no traceback, exit 1."""
    argv = ("validate", "overrides.yaml") if command == "validate" else ("export", GAN)
    with open("/dev/full", "w") as full:  # noqa: PTH123 (a device, not a path to manipulate)
        ran = run_child(lab, *argv, stdout=full)
    assert (ran.returncode, "Traceback" in ran.stderr) == (1, False), ran.stderr
    assert "No space left on device" in ran.stderr
    closed = run_child(lab, *argv, stdout=None, preexec_fn=lambda: os.close(1))
    assert (closed.returncode, "Traceback" in closed.stderr) == (1, False), closed.stderr
    assert "stdout is closed" in closed.stderr


HOSTILE_IDS = ("\x1b[2J\x1b[31mEVIL\x07", "x\n~ fake line")


def test_peak_ids_from_the_server_cannot_drive_the_terminal(tmp_path: Path, cli: Cli) -> None:
    """A server whose peak ids hold escape sequences and line breaks: the text report and the log lines
    show them as U+FFFD, never as raw control characters, and no line is forged."""
    entries = example_entries()
    gan = next(entry for entry in entries if entry["data_id"] == GAN)
    for peak, hostile in zip(gan["detected_peaks"], HOSTILE_IDS, strict=False):
        peak["peak_id"] = hostile
    overrides = tmp_path / "o.yaml"
    overrides.write_text(f"version: 1\noverrides:\n  {GAN}:\n    p9: Ga_417.2\n")
    with Sandbox(entries=entries) as server:
        env = child_env(AS_API_ENDPOINT=server.url, AS_API_KEY="sandbox")
        ran = run_child(tmp_path, "plan", "o.yaml", env=env)
        exported = run_child(tmp_path, "export", "--all-peaks", GAN, env=env)
    assert ran.returncode == 1
    for text in (ran.stdout, ran.stderr, exported.stderr):
        assert "\x1b" not in text
        assert "\x07" not in text
    assert [line[:1] for line in ran.stdout.splitlines()] == ["!", "P"]  # one item line, the headline
    assert "\ufffd[2J\ufffd[31mEVIL\ufffd" in ran.stdout


def test_the_json_report_is_serialised_once_and_copied(
    sandbox: Sandbox, lab: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --format json --report --out`: the report is serialised once; the other file and stdout hold
    its very bytes."""
    written: list[object] = []
    write_json = document.write_json

    def counted(*args: Any, **kwargs: Any) -> None:
        written.append(args)
        write_json(*args, **kwargs)

    monkeypatch.setattr(run, "write_json", counted)
    report, saved = lab / "r.json", lab / "p.json"
    ran = cli(
        "plan", "--format", "json", "--report", str(report), "--out", str(saved), str(lab / "overrides.yaml")
    )
    assert ran.code == 0, ran.err
    assert len(written) == 1
    assert saved.read_bytes() == report.read_bytes()
    assert ran.out.encode("utf-8") == report.read_bytes()
    assert "Ångström-level check, 確認済み" in report.read_text(encoding="utf-8")


def test_a_report_copied_to_an_ascii_stdout_is_escaped_and_the_same_document(
    sandbox: Sandbox, lab: Path
) -> None:
    """`--format json --report` to an ASCII-only stdout: stdout is the file with non-ASCII escaped as JSON
    does, and parses to the same document."""
    env = child_env(PYTHONIOENCODING="ascii", LC_ALL="C", PYTHONUTF8="0")
    ran = run_child(lab, "plan", "--format", "json", "--report", "r.json", "overrides.yaml", env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
    assert ran.stdout.isascii()
    written = (lab / "r.json").read_text(encoding="utf-8")
    assert not written.isascii()
    assert json.loads(ran.stdout) == json.loads(written)


def test_the_saved_plan_is_serialised_afresh_when_the_report_file_fails(
    sandbox: Sandbox, lab: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--report` fails mid-write, `--out` is fine: the plan is serialised into --out, stdout copies it."""
    write_atomically = output.write_atomically
    report, saved = lab / "r.json", lab / "p.json"

    def failing(path: str, write: Callable[[TextIO], object]) -> None:
        if path == str(report):
            raise ConfigError(f"cannot write {path}: File too large")
        write_atomically(path, write)

    monkeypatch.setattr(output, "write_atomically", failing)
    ran = cli(
        "plan", "--format", "json", "--report", str(report), "--out", str(saved), str(lab / "overrides.yaml")
    )
    assert ran.code == 1
    assert ran.err == f"ConfigError: cannot write {report}: File too large\n"
    assert not report.exists()
    assert ran.out.encode("utf-8") == saved.read_bytes()
    assert report_of(saved)["summary"]["overrides"] == 5
