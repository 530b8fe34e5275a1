"""`apply --lock-file` end to end: a stranger's file is left alone, the lock comes first, 3 when held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.lock import MARKER
from reconciler.run import RunOptions, run
from reconciler.sandbox import Sandbox
from tests.conftest import Cli
from tests.facilities import reconciler_without, without
from tests.test_e2e import CLEAN_CSV, CLEAN_YAML

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

WAIT = 20.0  # the longest a child process may take before the test fails instead of hanging
HOLD = """\
import sys
from reconciler.lock import hold_lock
with hold_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""
AUDIT = b'{"time": "2024-05-01T02:15:07Z", "data_id": "d290f1ee", "peak_id": "p1", "status": "applied"}\n'
REPORT = b'{"format_version": "1", "command": "apply", "items": []}\n'


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    """A folder holding a YAML and a CSV file, six changes from the sandbox's data."""
    folder = tmp_path / "overrides"
    folder.mkdir()
    (folder / "gan.yaml").write_text(CLEAN_YAML)
    (folder / "list.csv").write_text(CLEAN_CSV)
    return folder


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `apply.lock` in tmp_path until the test ends (or kills it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "apply.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    yield child
    if child.poll() is None:
        child.kill()
    child.communicate(timeout=WAIT)


def apply_process(
    sandbox: Sandbox, cwd: Path, *args: str, python_args: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler apply ARGS…` in its own process (`python ARGS…` with `python_args`); a hang
    fails the test after WAIT seconds."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "ATOMSCALE_API_KEY"}
    env |= {"AS_API_KEY": "sandbox", "AS_API_ENDPOINT": sandbox.url}
    return subprocess.run(
        [sys.executable, *args] if python_args else [sys.executable, "-m", "reconciler", "apply", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def snapshot(path: Path) -> tuple[bytes, float]:
    return path.read_bytes(), path.stat().st_mtime


# Each makes something at the lock path in tmp_path (or names one) and returns (lock path, file to keep).
Place = Callable[[Path, Path], tuple[Path, Path]]


def other_override_file(tmp_path: Path, _overrides: Path) -> tuple[Path, Path]:
    other = tmp_path / "other-lab" / "ingan.yaml"
    other.parent.mkdir()
    other.write_text(CLEAN_YAML)
    return other, other


def old_audit_log(tmp_path: Path, _overrides: Path) -> tuple[Path, Path]:
    audit = tmp_path / "audit.jsonl"
    audit.write_bytes(AUDIT)
    return audit, audit


def symlink_to_an_override_file(tmp_path: Path, overrides: Path) -> tuple[Path, Path]:
    link = tmp_path / "apply.lock"
    link.symlink_to(overrides / "gan.yaml")
    return link, overrides / "gan.yaml"


def symlink_to_the_audit_log(tmp_path: Path, _overrides: Path) -> tuple[Path, Path]:
    audit, _ = old_audit_log(tmp_path, _overrides)
    link = tmp_path / "apply.lock"
    link.symlink_to(audit)
    return link, audit


def a_directory(tmp_path: Path, _overrides: Path) -> tuple[Path, Path]:
    folder = tmp_path / "locks"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    return folder, folder / "keep.txt"


NOT_OURS = "{lock} exists and is not an oes-reconcile lock file (it starts with "
STRANGERS: dict[str, tuple[Place, str]] = {
    "override-file": (other_override_file, NOT_OURS + "'version: 1'); refusing to overwrite it"),
    "audit-log": (old_audit_log, NOT_OURS + '\'{{"time": '),
    "symlink-to-override-file": (
        symlink_to_an_override_file,
        "--lock-file {lock} leads to {kept}, a .yaml file",
    ),
    "symlink-to-audit-log": (symlink_to_the_audit_log, "--lock-file {lock} is a symbolic link (to {kept}); "),
    "directory": (a_directory, "--lock-file {lock} is a directory, not a regular file; "),
}


@pytest.mark.parametrize("case", STRANGERS)
def test_lock_file_pointed_at_a_stranger_leaves_it_intact(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path, case: str
) -> None:
    """--lock-file at an override file, an audit log, a symlink or a folder: exit 1 naming it, 0 requests."""
    place, expected = STRANGERS[case]
    lock, kept = place(tmp_path, overrides)
    before = snapshot(kept)
    ran = cli("apply", "--lock-file", str(lock), str(overrides))
    assert ran.code == 1, ran.err
    assert ran.err.startswith("ConfigError: " + expected.format(lock=lock, kept=kept)), ran.err
    assert ran.err.count("\n") == 1
    assert snapshot(kept) == before
    assert sandbox.stats()["requests"] == 0


def test_lock_file_that_is_the_key_file_is_refused(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path
) -> None:
    """The lock path is also the --api-key-file: refused by name, the key kept, nothing sent."""
    key = tmp_path / "key"
    key.write_text("sandbox\n")
    ran = cli("apply", "--api-key-file", str(key), "--lock-file", str(key), str(overrides))
    assert ran.code == 1
    assert f"--lock-file {key} is also the --api-key-file; name a separate file" in ran.err
    assert key.read_text() == "sandbox\n"
    assert sandbox.stats()["requests"] == 0


def test_lock_file_at_dev_null_is_refused(sandbox: Sandbox, cli: Cli, overrides: Path) -> None:
    """--lock-file /dev/null: a device, refused with exit 1 and a clear line; nothing sent."""
    ran = cli("apply", "--lock-file", "/dev/null", str(overrides))
    assert ran.code == 1
    assert ran.err.strip() == (
        "ConfigError: --lock-file /dev/null is a character device, not a regular file; "
        "name a lock file of its own"
    )
    assert sandbox.stats()["requests"] == 0


def test_lock_file_at_a_fifo_is_refused_without_a_hang(
    sandbox: Sandbox, overrides: Path, tmp_path: Path
) -> None:
    """--lock-file naming a FIFO (no writer, no reader): exit 1 at once, still a FIFO, nothing sent."""
    fifo = tmp_path / "apply.lock"
    os.mkfifo(fifo)
    done = apply_process(sandbox, tmp_path, "--lock-file", str(fifo), str(overrides))
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"ConfigError: --lock-file {fifo} is a FIFO (named pipe), not a regular file; "
        "name a lock file of its own"
    )
    assert fifo.is_fifo()
    assert sandbox.stats()["requests"] == 0


def make_plan(cli: Cli, overrides: Path, tmp_path: Path) -> Path:
    plan = tmp_path / "plan.json"
    assert cli("plan", "--out", str(plan), str(overrides)).code == 0
    return plan


@pytest.mark.parametrize("option", ["--report", "--audit-log", "--plan", "override file", "in folder"])
def test_lock_that_is_another_file_of_the_run_is_refused_before_sending(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path, option: str
) -> None:
    """The lock path is also the report, audit log, plan or an override file: exit 1, file intact, 0 sent."""
    paths = [str(overrides)]
    if option == "--plan":
        lock = make_plan(cli, overrides, tmp_path)
        sandbox.reset_stats()
        args, paths = ["--plan", str(lock)], []
        expected = "is also the --plan"
    elif option == "override file":
        lock = overrides / "gan.yaml"
        args, paths = [], [str(lock)]
        expected = f"is also the override file {lock}"
    elif option == "in folder":
        lock = overrides / "list.csv"
        args = []
        expected = f"is a .csv file inside {overrides}, a folder searched for override files"
    else:
        lock = tmp_path / "out.json"
        lock.write_bytes(AUDIT if option == "--audit-log" else REPORT)
        args = [option, str(lock)]
        expected = f"is also the {option}"
    before = snapshot(lock)
    ran = cli("apply", "--lock-file", str(lock), *args, *paths)
    assert ran.code == 1, ran.err
    assert ran.err.strip() == (
        f"ConfigError: --lock-file {lock} {expected}; name a separate file (e.g. {lock}.lock)"
    )
    assert snapshot(lock) == before
    assert sandbox.stats()["requests"] == 0


def test_lock_that_is_the_plan_out_is_refused_before_sending(
    sandbox: Sandbox, overrides: Path, tmp_path: Path
) -> None:
    """A run whose lock is also its --out (the CLI gives plan no --lock-file; the library checks anyway)."""
    out = tmp_path / "plan.json"
    out.write_bytes(REPORT)
    options = RunOptions(command="plan", paths=(str(overrides),), out_path=str(out), lock_file=str(out))
    with pytest.raises(ConfigError, match=f"--lock-file {out} is also the --out; name a separate file"):
        run(options)
    assert out.read_bytes() == REPORT
    assert sandbox.stats()["requests"] == 0


def test_lock_held_by_another_process_exits_3_with_its_pid_and_start(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """A real process holds the lock: apply exits 3 at once naming its PID and start time, sends nothing."""
    lock = tmp_path / "apply.lock"
    ran = cli("apply", "--lock-file", str(lock), str(overrides))
    assert ran.code == 3, ran.err
    assert f"LockHeldError: another run holds the lock {lock} (PID {holder.pid}, started 20" in ran.err
    assert ran.out == ""
    assert sandbox.stats()["requests"] == 0
    assert holder.poll() is None


def test_lock_is_taken_before_override_files_are_read(
    sandbox: Sandbox, tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """With the lock held, a FIFO among the override files is never opened: exit 3 at once, no hang."""
    folder = tmp_path / "overrides"
    folder.mkdir()
    (folder / "gan.yaml").write_text(CLEAN_YAML)
    os.mkfifo(folder / "pipe.yaml")  # reading it would wait for a writer forever
    started = time.monotonic()
    done = apply_process(sandbox, tmp_path, "--lock-file", str(tmp_path / "apply.lock"), str(folder))
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started < 5.0
    assert f"(PID {holder.pid}, started 20" in done.stderr
    assert sandbox.stats()["requests"] == 0


def test_lock_is_taken_before_anything_is_written(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """With the lock held, the report's folder is not made and the audit log not created."""
    report = tmp_path / "reports" / "today" / "report.json"
    audit = tmp_path / "audit.jsonl"
    lock = tmp_path / "apply.lock"
    ran = cli(
        "apply", "--lock-file", str(lock), "--report", str(report), "--audit-log", str(audit), str(overrides)
    )
    assert ran.code == 3, ran.err
    assert not (tmp_path / "reports").exists()
    assert not audit.exists()


def test_lock_left_by_a_killed_run_is_reused(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    """The holder dies by SIGKILL, leaving its lock file: the next apply takes it over and converges."""
    lock = tmp_path / "apply.lock"
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=WAIT)
    assert lock.read_bytes().startswith(MARKER + f'{{"pid": {holder.pid}, '.encode())
    ran = cli("apply", "--lock-file", str(lock), str(overrides))
    assert ran.code == 0, ran.err
    assert sandbox.stats()["by_method"]["PATCH"] == 6
    assert lock.read_bytes() == MARKER


@pytest.mark.parametrize(
    "content", [b"", b'{"pid": 4242, "started": "2024-05-01T02:15:00Z"}\n'], ids=["empty", "version-0.1"]
)
def test_empty_or_old_lock_file_is_used(
    sandbox: Sandbox, cli: Cli, overrides: Path, tmp_path: Path, content: bytes
) -> None:
    """An empty lock file (touch, systemd-tmpfiles) or one left by 0.1 is taken; the run converges."""
    lock = tmp_path / "apply.lock"
    lock.write_bytes(content)
    ran = cli("apply", "--lock-file", str(lock), str(overrides))
    assert ran.code == 0, ran.err
    assert lock.read_bytes() == MARKER


def test_lock_without_fcntl_or_msvcrt_exits_3_naming_the_holder_then_is_taken_over(
    sandbox: Sandbox, overrides: Path, tmp_path: Path
) -> None:
    """Processes that can import neither fcntl nor msvcrt: a held lock exits 3 naming the holder's PID;
    once the holder is killed outright, the next apply takes the lock over and converges."""
    lock = tmp_path / "apply.lock"
    bare = ["fcntl", "msvcrt"]
    holder = subprocess.Popen(
        [sys.executable, "-c", without(modules=bare) + HOLD, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        argv = [*reconciler_without(modules=bare)[1:], "apply", "--lock-file", str(lock), str(overrides)]
        held = apply_process(sandbox, tmp_path, *argv, python_args=True)
        assert held.returncode == 3, held.stderr
        assert f"another run holds the lock {lock} (PID {holder.pid}, started 20" in held.stderr
        assert f"remove the folder {lock}.d" in held.stderr
        assert sandbox.stats()["requests"] == 0
    finally:
        holder.kill()
        holder.communicate(timeout=WAIT)
    done = apply_process(sandbox, tmp_path, *argv, python_args=True)
    assert done.returncode == 0, done.stderr
    assert f"taking over the lock folder {lock}.d: its holder, PID {holder.pid}, has ended" in done.stderr
    assert sandbox.stats()["by_method"]["PATCH"] == 6
    assert lock.read_bytes() == MARKER
    assert not Path(f"{lock}.d").exists()
