"""The run lock: exclusive, naming its holder, released when the holder ends, and never a stranger's file."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

import reconciler.lock
from reconciler.errors import ConfigError, LockHeldError
from reconciler.lock import MARKER, hold_lock, refuse_shared_lock_path, run_lock

OVERRIDE_YAML = b"version: 1\noverrides:\n  d290f1ee-6c54-4b01-90e6-d701748f0851:\n    p1: Ga_417.2\n"
AUDIT_LINE = b'{"time": "2024-05-01T02:15:07Z", "data_id": "d290f1ee", "status": "applied"}\n'


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A test that blocks (say, opening a FIFO) fails after 10 s instead of hanging the suite."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError("the lock blocked for 10 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def holder_of(path: Path) -> dict[str, object]:
    """The holder line of a lock file that is held."""
    text = path.read_bytes()
    assert text.startswith(MARKER)
    info: dict[str, object] = json.loads(text.removeprefix(MARKER))
    return info


def test_second_holder_is_refused_with_pid_and_start_time(tmp_path: Path) -> None:
    """While one run holds the lock, another gets exit code 3 and learns who holds it."""
    path = str(tmp_path / "run.lock")
    with hold_lock(path):
        with pytest.raises(LockHeldError) as caught, hold_lock(path):
            pass
        assert caught.value.exit_code == 3
        assert f"PID {os.getpid()}, started 20" in str(caught.value)


def test_lock_is_free_again_after_the_run(tmp_path: Path) -> None:
    """Leaving the block releases the lock."""
    path = str(tmp_path / "run.lock")
    with hold_lock(path):
        pass
    with hold_lock(path):
        pass


def test_lock_file_says_what_it_is_and_who_holds_it(tmp_path: Path) -> None:
    """Held, the file holds the marker line and the holder; released, the marker line alone."""
    path = tmp_path / "run.lock"
    with hold_lock(str(path)):
        holder = holder_of(path)
        assert holder["pid"] == os.getpid()
        assert str(holder["started"]).endswith("Z")
    assert path.read_bytes() == MARKER


def test_lock_is_released_and_cleared_when_the_run_fails(tmp_path: Path) -> None:
    """An error inside the block still releases the lock and forgets the holder."""
    path = tmp_path / "run.lock"
    with pytest.raises(RuntimeError), hold_lock(str(path)):
        raise RuntimeError("boom")
    assert path.read_bytes() == MARKER
    with hold_lock(str(path)):
        pass


@pytest.mark.slow
def test_lock_of_a_killed_process_is_released_by_the_os(tmp_path: Path) -> None:
    """A holder that dies without cleaning up does not block the next run, which takes its file over."""
    path = tmp_path / "run.lock"
    code = f"import os; from reconciler.lock import hold_lock\nwith hold_lock({str(path)!r}): os._exit(9)"
    done = subprocess.run([sys.executable, "-c", code], check=False, timeout=30)
    assert done.returncode == 9
    assert holder_of(path)["pid"] not in (None, os.getpid())
    with hold_lock(str(path)):
        assert holder_of(path)["pid"] == os.getpid()


def test_lock_file_of_the_previous_version_is_taken_over(tmp_path: Path) -> None:
    """A lock file left by oes-reconcile 0.1 (`{"pid": …, "started": …}`) is recognised and reused."""
    path = tmp_path / "run.lock"
    path.write_text('{"pid": 4242, "started": "2024-05-01T02:15:00Z"}\n')
    with hold_lock(str(path)):
        assert holder_of(path)["pid"] == os.getpid()
    assert path.read_bytes() == MARKER


def test_held_lock_of_the_previous_version_names_its_holder(tmp_path: Path) -> None:
    """A 0.1 run holding the lock is named too: its PID and start time."""
    path = tmp_path / "run.lock"
    path.write_text('{"pid": 4242, "started": "2024-05-01T02:15:00Z"}\n')
    with path.open("rb") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with (
            pytest.raises(LockHeldError, match=r"PID 4242, started 2024-05-01T02:15:00Z"),
            hold_lock(str(path)),
        ):
            pass


def test_empty_file_is_adopted(tmp_path: Path) -> None:
    """An empty file (as `touch` or systemd-tmpfiles make a lock file) holds nothing to lose: it is used."""
    path = tmp_path / "run.lock"
    path.touch()
    with hold_lock(str(path)):
        assert holder_of(path)["pid"] == os.getpid()
    assert path.read_bytes() == MARKER


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (OVERRIDE_YAML, "'version: 1'"),
        (AUDIT_LINE, '\'{"time": "2024-05-01T02:15:07Z", "data_i\'…'),
        (b"data_id,peak_id,candidate_key\n", "'data_id,peak_id,candidate_key'"),
        (b"\n\nnotes", "'\\n\\nnotes'"),
        (b"\x00\x01binary", "'\\x00\\x01binary'"),
        (b'{"pid": 1, "started": "x", "more": 2}', '\'{"pid": 1, "started": "x", "more": 2}\''),
        (b"oes-reconcile lock", "'oes-reconcile lock'"),
    ],
    ids=["override-yaml", "audit-log", "csv", "blank-lines", "binary", "json-not-ours", "marker-no-newline"],
)
def test_a_file_that_is_not_a_lock_is_refused_untouched(tmp_path: Path, content: bytes, shown: str) -> None:
    """A non-empty file without our marker: exit 1 naming it and how it starts; bytes and mtime intact."""
    path = tmp_path / "file"
    path.write_bytes(content)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    with pytest.raises(ConfigError) as caught, hold_lock(str(path)):
        pytest.fail("the block ran")
    assert str(caught.value) == (
        f"{path} exists and is not an oes-reconcile lock file (it starts with {shown}); "
        "refusing to overwrite it"
    )
    assert caught.value.exit_code == 1
    assert path.read_bytes() == content
    assert path.stat().st_mtime == 1_000_000_000


def test_symlink_to_a_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    """A symlink at the lock path is never followed: refused, naming it and its target; target intact."""
    target = tmp_path / "overrides.yaml"
    target.write_bytes(OVERRIDE_YAML)
    link = tmp_path / "run.lock"
    link.symlink_to(target)
    with pytest.raises(ConfigError) as caught, hold_lock(str(link)):
        pytest.fail("the block ran")
    assert str(caught.value) == (
        f"--lock-file {link} is a symbolic link (to {target}); name the lock file itself"
    )
    assert target.read_bytes() == OVERRIDE_YAML


@pytest.mark.parametrize("target", ["missing.lock", "run.lock"], ids=["dangling", "to-itself"])
def test_dangling_or_looping_symlink_is_refused_and_nothing_created(tmp_path: Path, target: str) -> None:
    """A dangling symlink is not followed to create its target; a symlink loop is no traceback."""
    link = tmp_path / "run.lock"
    link.symlink_to(tmp_path / target)
    with pytest.raises(ConfigError, match="is a symbolic link"), hold_lock(str(link)):
        pytest.fail("the block ran")
    assert [path.name for path in tmp_path.iterdir()] == ["run.lock"]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, no_hang: None) -> None:
    """A FIFO at the lock path is refused at once, never opened (a reader could block the run forever)."""
    fifo = tmp_path / "run.lock"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as caught, hold_lock(str(fifo)):
        pytest.fail("the block ran")
    assert str(caught.value) == (
        f"--lock-file {fifo} is a FIFO (named pipe), not a regular file; name a lock file of its own"
    )


def test_dev_null_is_refused(no_hang: None) -> None:
    """A device such as /dev/null is no lock file: refused, and it stays a device."""
    with (
        pytest.raises(ConfigError, match="is a character device, not a regular file"),
        hold_lock("/dev/null"),
    ):
        pytest.fail("the block ran")
    assert Path("/dev/null").is_char_device()


def test_a_directory_is_refused(tmp_path: Path) -> None:
    """A folder at the lock path is refused with its path, its contents untouched."""
    (tmp_path / "keep.txt").write_text("keep")
    with pytest.raises(ConfigError) as caught, hold_lock(str(tmp_path)):
        pytest.fail("the block ran")
    assert str(caught.value) == (
        f"--lock-file {tmp_path} is a directory, not a regular file; name a lock file of its own"
    )
    assert (tmp_path / "keep.txt").read_text() == "keep"


def test_a_socket_is_refused(tmp_path: Path, no_hang: None) -> None:
    """A Unix socket at the lock path is refused, not an OS error."""
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(ConfigError, match="is a socket, not a regular file"), hold_lock(str(path)):
            pytest.fail("the block ran")


def test_symlinked_parent_folder_is_followed(tmp_path: Path) -> None:
    """Only the last part of the path must not be a symlink: `/var/run/x.lock` (→ /run) still works."""
    (tmp_path / "real").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "real")
    with hold_lock(str(tmp_path / "run" / "x.lock")):
        assert holder_of(tmp_path / "real" / "x.lock")["pid"] == os.getpid()


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    """A lock path in a folder that does not exist: exit 1 naming the path, no folder made."""
    path = tmp_path / "nowhere" / "run.lock"
    with (
        pytest.raises(ConfigError, match=f"cannot open --lock-file {path}: No such file"),
        hold_lock(str(path)),
    ):
        pytest.fail("the block ran")
    assert not path.parent.exists()


def test_path_turned_symlink_after_the_check_is_refused_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced by a symlink between the check and the open: O_NOFOLLOW refuses it; target intact."""
    target = tmp_path / "audit.jsonl"
    target.write_bytes(AUDIT_LINE)
    link = tmp_path / "run.lock"
    link.symlink_to(target)
    monkeypatch.setattr("reconciler.lock.os.lstat", absent)  # the check saw no file there yet
    with (
        pytest.raises(ConfigError, match="is a symbolic link; name the lock file itself"),
        hold_lock(str(link)),
    ):
        pytest.fail("the block ran")
    assert target.read_bytes() == AUDIT_LINE


def test_path_turned_fifo_after_the_check_is_refused_on_the_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hang: None
) -> None:
    """Replaced by a FIFO between the check and the open: the open does not block, fstat refuses it."""
    fifo = tmp_path / "run.lock"
    os.mkfifo(fifo)
    monkeypatch.setattr("reconciler.lock.os.lstat", absent)
    with pytest.raises(ConfigError, match="is a FIFO"), hold_lock(str(fifo)):
        pytest.fail("the block ran")


def test_file_filled_by_another_program_before_the_lock_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty file written to between the first check and the flock is checked again, and kept."""
    path = tmp_path / "run.lock"
    path.touch()
    real_hold = reconciler.lock._hold

    @contextmanager
    def hold_after_a_write(fd: int, lock_path: str, holder: dict[str, object]) -> Iterator[None]:
        path.write_bytes(OVERRIDE_YAML)
        with real_hold(fd, lock_path, holder):
            yield

    monkeypatch.setattr(reconciler.lock, "_hold", hold_after_a_write)
    with pytest.raises(ConfigError, match="is not an oes-reconcile lock file"), hold_lock(str(path)):
        pytest.fail("the block ran")
    assert path.read_bytes() == OVERRIDE_YAML


def test_release_leaves_a_file_that_is_no_longer_ours_alone(tmp_path: Path) -> None:
    """If something else rewrote the file during the run, the release does not cut it."""
    path = tmp_path / "run.lock"
    with hold_lock(str(path)):
        path.write_bytes(OVERRIDE_YAML)
    assert path.read_bytes() == OVERRIDE_YAML


def absent(path: str) -> os.stat_result:
    raise FileNotFoundError(2, "No such file or directory", path)


# The lock path against the other files of the run.


def refuse(lock: Path, **files: Path | None) -> None:
    """Check `lock` against option files named like `audit_log=` (→ `--audit-log`)."""
    named = {f"--{key.replace('_', '-')}": None if path is None else str(path) for key, path in files.items()}
    refuse_shared_lock_path(str(lock), overrides=(), files=named)


@pytest.mark.parametrize("option", ["report", "out", "plan", "audit_log", "state"])
def test_lock_that_is_another_file_of_the_run_is_refused(tmp_path: Path, option: str) -> None:
    """The same path as the report, plan, audit log or state: refused naming the option, even unwritten."""
    path = tmp_path / "file.json"
    with pytest.raises(ConfigError) as caught:
        refuse(path, **{option: path})
    name = "--" + option.replace("_", "-")
    assert (
        str(caught.value) == f"--lock-file {path} is also the {name}; name a separate file (e.g. {path}.lock)"
    )
    assert not path.exists()


def test_same_file_by_another_spelling_symlink_or_hard_link_is_refused(tmp_path: Path) -> None:
    """Compared by real path and by inode: `./`, `..`, a symlinked folder, a symlink and a hard link."""
    audit = tmp_path / "logs" / "audit.jsonl"
    audit.parent.mkdir()
    audit.write_bytes(AUDIT_LINE)
    (tmp_path / "via").symlink_to(audit.parent)
    (tmp_path / "link.jsonl").symlink_to(audit)
    os.link(audit, tmp_path / "hard.jsonl")
    for spelling in [
        tmp_path / "logs" / "." / "audit.jsonl",
        tmp_path / "logs" / ".." / "logs" / "audit.jsonl",
        tmp_path / "via" / "audit.jsonl",
        tmp_path / "link.jsonl",
        tmp_path / "hard.jsonl",
    ]:
        with pytest.raises(ConfigError, match="is also the --audit-log"):
            refuse(spelling, audit_log=audit)
    assert audit.read_bytes() == AUDIT_LINE


def test_separate_files_pass(tmp_path: Path) -> None:
    """A lock of its own beside the other files is accepted, whether they exist or not."""
    (tmp_path / "report.json").write_text("{}")
    refuse(
        tmp_path / "run.lock", report=tmp_path / "report.json", audit_log=tmp_path / "audit.jsonl", plan=None
    )
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    refuse_shared_lock_path(str(overrides / "run.lock"), overrides=(str(overrides),), files={})


def test_lock_that_is_an_override_file_is_refused(tmp_path: Path) -> None:
    """An override file named on the command line (or a symlink to it) is no lock path."""
    yaml = tmp_path / "gan.yaml"
    yaml.write_bytes(OVERRIDE_YAML)
    link = tmp_path / "run.lock"
    link.symlink_to(yaml)
    for lock in (yaml, link):
        with pytest.raises(ConfigError) as caught:
            refuse_shared_lock_path(str(lock), overrides=(str(yaml),), files={})
        assert str(caught.value) == (
            f"--lock-file {lock} is also the override file {yaml}; name a separate file (e.g. {lock}.lock)"
        )
    assert yaml.read_bytes() == OVERRIDE_YAML


@pytest.mark.parametrize("name", ["run.yaml", "sub/run.YML", "run.csv"])
def test_lock_with_an_override_suffix_in_a_searched_folder_is_refused(tmp_path: Path, name: str) -> None:
    """A lock the folder search would pick up as an override file is refused, even before it exists."""
    folder = tmp_path / "overrides"
    (folder / "sub").mkdir(parents=True)
    lock = folder / name
    with pytest.raises(ConfigError) as caught:
        refuse_shared_lock_path(str(lock), overrides=(str(folder),), files={})
    assert str(caught.value) == (
        f"--lock-file {lock} is a {lock.suffix} file inside {folder}, a folder searched for override files; "
        f"name a separate file (e.g. {lock}.lock)"
    )
    assert not lock.exists()


def test_lock_leading_into_a_searched_folder_or_named_in_it_is_refused(tmp_path: Path) -> None:
    """A symlink to an override file in a searched folder, or one in the folder that leads out, is refused."""
    folder = tmp_path / "overrides"
    folder.mkdir()
    (folder / "gan.yaml").write_bytes(OVERRIDE_YAML)
    (tmp_path / "run.lock").symlink_to(folder / "gan.yaml")
    (folder / "run.yaml").symlink_to(tmp_path / "elsewhere.lock")
    for lock, what in [
        (tmp_path / "run.lock", f"leads to {folder / 'gan.yaml'}, a .yaml file"),
        (folder / "run.yaml", "is a .yaml file"),
    ]:
        with pytest.raises(ConfigError) as caught:
            refuse_shared_lock_path(str(lock), overrides=(str(folder),), files={})
        assert str(caught.value).startswith(f"--lock-file {lock} {what} inside {folder}, a folder searched")
    assert (folder / "gan.yaml").read_bytes() == OVERRIDE_YAML


@pytest.mark.parametrize("where", ["loop.lock", "loop/run.lock"], ids=["lock-path", "parent-folder"])
def test_symlink_loop_is_a_config_error_not_a_traceback(tmp_path: Path, where: str) -> None:
    """A symlink loop at the lock path or above it: exit 1 naming the path, through the whole check."""
    for name in ("loop.lock", "loop"):
        (tmp_path / name).symlink_to(tmp_path / name)
    lock = tmp_path / where
    files = {"--report": str(tmp_path / "report.json")}
    with (
        pytest.raises(ConfigError, match=f"--lock-file {lock}"),
        run_lock(str(lock), overrides=(), writes={}, reads=files),
    ):
        pytest.fail("the block ran")


def test_run_lock_checks_first_then_holds(tmp_path: Path) -> None:
    """run_lock refuses a shared path before creating anything, and otherwise holds the lock."""
    report = tmp_path / "report.json"
    with (
        pytest.raises(ConfigError),
        run_lock(str(report), overrides=(), writes={"--report": str(report)}, reads={}),
    ):
        pytest.fail("the block ran")
    assert not report.exists()
    lock = tmp_path / "run.lock"
    with run_lock(str(lock), overrides=(), writes={"--report": str(report)}, reads={}):
        assert holder_of(lock)["pid"] == os.getpid()
    with run_lock(None, overrides=(), writes={}, reads={}):
        pass


def test_lock_works_without_pread_and_pwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where os has no pread/pwrite (Windows): held, named to a second run, then the marker alone."""
    monkeypatch.delattr(os, "pread")
    monkeypatch.delattr(os, "pwrite")
    path = tmp_path / "run.lock"
    path.write_text('{"pid": 4242, "started": "2024-05-01T02:15:00Z"}\n')
    with hold_lock(str(path)):
        assert holder_of(path)["pid"] == os.getpid()
        with pytest.raises(LockHeldError, match=f"PID {os.getpid()}, started 20"), hold_lock(str(path)):
            pytest.fail("the block ran")
    assert path.read_bytes() == MARKER
