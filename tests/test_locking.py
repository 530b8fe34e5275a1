"""The lock by whatever the system has: flock, msvcrt.locking (faked here over flock), a companion folder."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from reconciler import lock, locking
from reconciler.errors import ConfigError, LockHeldError
from reconciler.lock import MARKER, hold_lock
from tests.facilities import without

LK_UNLCK, LK_NBLCK = 0, 2  # msvcrt's values


def fake_msvcrt(calls: list[tuple[int, int, int]]) -> SimpleNamespace:
    """`msvcrt.locking` as Windows answers it (OSError EACCES when held), over flock; logs each call."""

    def locking_(fd: int, mode: int, nbytes: int) -> None:
        calls.append((mode, os.lseek(fd, 0, os.SEEK_CUR), nbytes))
        if mode == LK_UNLCK:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(errno.EACCES, "Permission denied") from None

    return SimpleNamespace(LK_UNLCK=LK_UNLCK, LK_NBLCK=LK_NBLCK, locking=locking_)


@pytest.fixture
def msvcrt_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """No fcntl, a (fake) msvcrt: what Windows offers; the calls made to msvcrt.locking."""
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", fake_msvcrt(calls))
    return calls


@pytest.fixture
def no_facility(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither fcntl nor msvcrt can be imported."""
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", None)


@pytest.fixture(params=["flock", "msvcrt", "folder"])
def facility(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """hold_lock using each facility in turn, as chosen where only that one can be imported."""
    with pytest.MonkeyPatch.context() as modules:
        if request.param != "flock":
            modules.setitem(sys.modules, "fcntl", None)
        if request.param == "msvcrt":
            modules.setitem(sys.modules, "msvcrt", fake_msvcrt([]))
        else:
            modules.setitem(sys.modules, "msvcrt", None)
        name, hold = locking.choose()
        assert name == request.param
        monkeypatch.setattr(lock, "_hold", hold)
        yield name


def test_flock_is_chosen_where_fcntl_imports() -> None:
    """Here (Linux, macOS) the module took flock, as before."""
    assert lock.FACILITY == "flock"


def test_msvcrt_is_chosen_without_fcntl(msvcrt_calls: list[tuple[int, int, int]]) -> None:
    """Without fcntl, msvcrt.locking is used if it imports (Windows)."""
    assert locking.choose()[0] == "msvcrt"


def test_a_folder_is_chosen_without_fcntl_or_msvcrt(no_facility: None) -> None:
    """With neither, the companion folder: no crash on import or use."""
    assert locking.choose()[0] == "folder"


def test_second_holder_is_refused_with_pid_and_start_by_every_facility(facility: str, tmp_path: Path) -> None:
    """Exit 3 naming PID and start while held, free again after, the file left as the marker alone."""
    path = tmp_path / "run.lock"
    with hold_lock(str(path)):
        with pytest.raises(LockHeldError) as caught, hold_lock(str(path)):
            pytest.fail("the block ran")
        assert caught.value.exit_code == 3
        assert f"another run holds the lock {path} (PID {os.getpid()}, started 20" in str(caught.value)
    assert path.read_bytes() == MARKER
    with hold_lock(str(path)):
        pass
    assert not Path(f"{path}.d").exists()


def test_stranger_is_refused_untouched_by_every_facility(facility: str, tmp_path: Path) -> None:
    """The refusals come before the lock: an override file at the lock path is kept, whatever the facility."""
    path = tmp_path / "overrides.yaml"
    path.write_text("version: 1\n")
    with pytest.raises(ConfigError, match="is not an oes-reconcile lock file"), hold_lock(str(path)):
        pytest.fail("the block ran")
    assert path.read_text() == "version: 1\n"


def test_msvcrt_locks_one_byte_past_the_content_and_unlocks_it(
    msvcrt_calls: list[tuple[int, int, int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' locks are mandatory: the byte locked lies far past the holder line, which stays readable."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    with hold_lock(str(tmp_path / "run.lock")):
        assert msvcrt_calls == [(LK_NBLCK, locking.FAR, 1)]
    assert msvcrt_calls[1:] == [(LK_UNLCK, locking.FAR, 1)]


def test_msvcrt_error_other_than_held_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """msvcrt.locking failing for another reason (a disk error) is exit 1 naming the path, not 3."""

    def broken(_fd: int, _mode: int, _nbytes: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", SimpleNamespace(LK_UNLCK=0, LK_NBLCK=2, locking=broken))
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    with (
        pytest.raises(ConfigError, match=f"cannot lock --lock-file {path}: Input/output error"),
        hold_lock(str(path)),
    ):
        pytest.fail("the block ran")


def folder_holder(folder: Path) -> dict[str, object]:
    info: dict[str, object] = json.loads((folder / locking.HOLDER).read_text())
    return info


def ended_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def stale_folder(path: Path, *, pid: int, host: str) -> Path:
    folder = Path(f"{path}.d")
    folder.mkdir()
    holder = {"pid": pid, "started": "2024-05-01T02:15:00Z", "host": host}
    (folder / locking.HOLDER).write_text(json.dumps(holder))
    return folder


def test_folder_names_its_holder_and_goes_with_the_run(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held by folder: PATH.d names PID, start and machine; it is removed when the run ends."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    with hold_lock(str(path)):
        holder = folder_holder(Path(f"{path}.d"))
        assert holder["pid"] == os.getpid()
        assert holder["host"] == platform.node()
    assert list(tmp_path.iterdir()) == [path]


def test_folder_of_an_ended_run_is_taken_over(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder whose holder (on this machine) has ended is stale: taken over, with a warning."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    pid = ended_pid()
    folder = stale_folder(path, pid=pid, host=platform.node())
    with hold_lock(str(path)):
        assert folder_holder(folder)["pid"] == os.getpid()
    assert f"its holder, PID {pid}, has ended" in caplog.text
    assert not folder.exists()


@pytest.mark.parametrize("host", ["another-machine", "this"])
def test_folder_of_a_run_elsewhere_or_alive_is_held(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """A holder on another machine (its PID means nothing here), or alive here: exit 3 naming it and the
    folder to remove if no run is under way; the folder kept."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    if host == "this":
        folder = stale_folder(path, pid=os.getppid(), host=platform.node())
    else:
        folder = stale_folder(path, pid=ended_pid(), host=host)
    with pytest.raises(LockHeldError) as caught, hold_lock(str(path)):
        pytest.fail("the block ran")
    assert str(caught.value).endswith(
        "started 2024-05-01T02:15:00Z); if no run is under way, remove the folder " + str(folder)
    )
    assert (folder / locking.HOLDER).exists()


def test_file_where_the_folder_goes_is_refused_untouched(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file already at PATH.d is not a lock folder: exit 1 naming it, its content kept."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    stranger = Path(f"{path}.d")
    stranger.write_text("notes\n")
    with (
        pytest.raises(ConfigError, match=f"{stranger} exists and is not an oes-reconcile lock folder"),
        hold_lock(str(path)),
    ):
        pytest.fail("the block ran")
    assert stranger.read_text() == "notes\n"


def test_stale_folder_holding_other_files_is_not_removed(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale folder that holds more than our holder file: refused (exit 1), the other file kept."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    folder = stale_folder(path, pid=ended_pid(), host=platform.node())
    (folder / "keep.txt").write_text("keep")
    with (
        pytest.raises(ConfigError, match=f"cannot remove the stale lock folder {folder}"),
        hold_lock(str(path)),
    ):
        pytest.fail("the block ran")
    assert sorted(path.name for path in folder.iterdir()) == [locking.HOLDER, "keep.txt"]


def test_release_leaves_a_folder_that_names_another_run(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the folder was replaced during the run (removed by hand, taken by another), it is not removed."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    folder = Path(f"{path}.d")
    with hold_lock(str(path)):
        (folder / locking.HOLDER).write_text(json.dumps({"pid": 1, "started": "x", "host": "other"}))
    assert folder_holder(folder)["host"] == "other"


@pytest.mark.slow
def test_folder_of_a_killed_process_is_taken_over(no_facility: None, tmp_path: Path) -> None:
    """A process without fcntl or msvcrt dies holding the lock: the next run sees its PID gone, takes it."""
    path = tmp_path / "run.lock"
    code = without(modules=["fcntl", "msvcrt"]) + (
        f"from reconciler.lock import FACILITY, hold_lock\nassert FACILITY == 'folder'\n"
        f"with hold_lock({str(path)!r}): os._exit(9)"
    )
    done = subprocess.run([sys.executable, "-c", "import os\n" + code], check=False, timeout=30)
    assert done.returncode == 9
    folder = Path(f"{path}.d")
    assert folder_holder(folder)["pid"] not in (None, os.getpid())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lock, "_hold", locking.choose()[1])
        with hold_lock(str(path)):
            assert folder_holder(folder)["pid"] == os.getpid()
    assert not folder.exists()


@pytest.mark.parametrize(
    "content", [None, '{"pid": "not a number"}', "not json"], ids=["none", "shape", "json"]
)
def test_folder_without_a_holder_it_names_is_held_and_kept(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None
) -> None:
    """A folder naming no holder (another run between mkdir and writing it; or not written by us): held
    by an unknown holder, never removed."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    folder = Path(f"{path}.d")
    folder.mkdir()
    if content is not None:
        (folder / locking.HOLDER).write_text(content)
    with (
        pytest.raises(LockHeldError, match=r"\(holder unknown\); if no run is under way"),
        hold_lock(str(path)),
    ):
        pytest.fail("the block ran")
    assert folder.is_dir()


@pytest.mark.parametrize("probe", ["no os.kill", "EPERM"])
def test_holder_whose_end_cannot_be_seen_counts_as_alive(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe: str
) -> None:
    """No os.kill to probe with, or a PID of another user's (EPERM): the folder is held, not taken over."""
    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    path = tmp_path / "run.lock"
    folder = stale_folder(path, pid=ended_pid(), host=platform.node())
    if probe == "no os.kill":
        monkeypatch.delattr(os, "kill")
    else:

        def refused(_pid: int, _signal: int) -> None:
            raise PermissionError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "kill", refused)
    with pytest.raises(LockHeldError, match="started 2024-05-01T02:15:00Z"), hold_lock(str(path)):
        pytest.fail("the block ran")
    assert folder.is_dir()


def test_folder_that_cannot_be_made_is_a_config_error(
    no_facility: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mkdir refused (permissions): exit 1 naming the folder, not a traceback."""

    def refused(path: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(lock, "_hold", locking.choose()[1])
    monkeypatch.setattr(os, "mkdir", refused)
    path = tmp_path / "run.lock"
    with (
        pytest.raises(ConfigError, match=f"cannot make the lock folder {path}.d: Permission denied"),
        hold_lock(str(path)),
    ):
        pytest.fail("the block ran")


def test_a_folder_naming_this_process_is_stale(tmp_path: Path) -> None:
    """A lock folder whose holder has this run's own PID (a container restarted: every run is PID 1)
    names a run before this one: it is taken over, not waited on forever."""
    lock = tmp_path / "run.lock"
    folder = tmp_path / "run.lock.d"
    folder.mkdir()
    (folder / locking.HOLDER).write_text(
        json.dumps({"pid": os.getpid(), "started": "2026-01-01T00:00:00Z", "host": platform.node()})
    )
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with locking.hold_folder(fd, str(lock), {"pid": os.getpid(), "started": "now"}):
            assert json.loads((folder / locking.HOLDER).read_text())["started"] == "now"
    finally:
        os.close(fd)
    assert not folder.exists()


def test_a_holder_on_another_machine_is_named_with_its_host(tmp_path: Path) -> None:
    """A lock folder held from another machine: exit 3, naming the host (a local `ps` finds nothing)."""
    lock = tmp_path / "run.lock"
    folder = tmp_path / "run.lock.d"
    folder.mkdir()
    (folder / locking.HOLDER).write_text(
        json.dumps({"pid": 4242, "started": "2026-01-01T00:00:00Z", "host": "bench-pc"})
    )
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with (
            pytest.raises(locking.Busy) as held,
            locking.hold_folder(fd, str(lock), {"pid": os.getpid(), "started": "now"}),
        ):
            pass
    finally:
        os.close(fd)
    assert "PID 4242 on bench-pc" in str(held.value.holder)
