"""Exclusive locks on an open file, by what the system has: `flock`, `msvcrt.locking`, or a companion folder.

The facility is found by importing it, never by the platform's name: `fcntl.flock` (Linux, macOS, the
BSDs), else `msvcrt.locking` (Windows), else a folder `PATH.d` made beside the lock file (`os.mkdir` is
atomic everywhere) holding its maker's PID and start time. The first two are released by the OS when
their holder dies; a folder left by a dead holder is taken over when `os.kill(pid, 0)` says the PID is
gone (and the holder ran on this machine), and named in the message otherwise.
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import platform
import signal
import stat
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from types import ModuleType

from reconciler.errors import ConfigError

log = logging.getLogger(__name__)

# (descriptor, path, holder) → a block that holds the lock; raises Busy if another run holds it.
Hold = Callable[[int, str, dict[str, object]], AbstractContextManager[None]]
# Windows locks a byte range mandatorily (others cannot even read it): lock one byte far past the content,
# so that a second run can still read who holds the file. Windows allows locks beyond the end of a file.
FAR = 1 << 30
FOLDER_SUFFIX = ".d"
HOLDER = "holder.json"


class Busy(Exception):
    """Another run holds the lock: `holder` names it if the facility knows (else the file does)."""

    def __init__(self, *, holder: str | None = None, hint: str = "") -> None:
        super().__init__(holder)
        self.holder = holder
        self.hint = hint


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def choose() -> tuple[str, Hold]:
    """The first facility this system has, by name and hold function."""
    fcntl = _module("fcntl")
    if fcntl is not None:
        return "flock", _flock(fcntl)
    msvcrt = _module("msvcrt")
    if msvcrt is not None:
        return "msvcrt", _msvcrt(msvcrt)
    return "folder", hold_folder


def _flock(fcntl: ModuleType) -> Hold:
    @contextmanager
    def hold(fd: int, _path: str, _holder: dict[str, object]) -> Iterator[None]:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy from None
        yield  # closing the descriptor releases it

    return hold


def _msvcrt(msvcrt: ModuleType) -> Hold:
    held = {errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)}

    @contextmanager
    def hold(fd: int, path: str, _holder: dict[str, object]) -> Iterator[None]:
        os.lseek(fd, FAR, os.SEEK_SET)  # msvcrt.locking locks from the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in held:
                raise Busy from None
            raise ConfigError(f"cannot lock --lock-file {path}: {exc.strerror}") from None
        try:
            yield
        finally:
            with suppress(OSError):  # closing the descriptor releases it too
                os.lseek(fd, FAR, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    return hold


@contextmanager
def hold_folder(fd: int, path: str, holder: dict[str, object]) -> Iterator[None]:
    """Hold `PATH.d` (made with `os.mkdir`, which fails if it exists): the portable lock of last resort."""
    del fd  # the folder is the lock; the file keeps its content as with the other facilities
    folder = path + FOLDER_SUFFIX
    mine = dict(holder, host=platform.node())
    _take_folder(folder, mine)
    _HELD.add(os.path.realpath(folder))
    try:
        yield
    finally:
        _HELD.discard(os.path.realpath(folder))
        # Only a folder that still names this run is removed.
        with suppress(OSError):
            if _folder_holder(folder) == mine:
                _remove_folder(folder)


_HELD: set[str] = set()  # the lock folders this process holds now


def _take_folder(folder: str, mine: dict[str, object]) -> None:
    for _attempt in range(2):
        try:
            os.mkdir(folder)  # noqa: PTH102 (atomic: the one step that decides who holds the lock)
        except FileExistsError:
            _refuse_foreign_folder(folder)
            other = _folder_holder(folder)
            hint = f"; if no run is under way, remove the folder {folder}"
            if other is None:
                raise Busy(holder="holder unknown", hint=hint) from None
            if not _gone(other, folder):
                on = f" on {other['host']}" if other.get("host") not in (None, platform.node()) else ""
                holder = f"PID {other['pid']}{on}, started {other['started']}"
                raise Busy(holder=holder, hint=hint) from None
            log.warning("taking over the lock folder %s: its holder, PID %s, has ended", folder, other["pid"])
            _clear_stale(folder)
            continue
        except OSError as exc:
            raise ConfigError(f"cannot make the lock folder {folder}: {exc.strerror}") from None
        with open(os.path.join(folder, HOLDER), "x", encoding="utf-8") as file:  # noqa: PTH118,PTH123
            json.dump(mine, file)
        return
    raise Busy(holder="holder unknown: it took the lock as this run did")


def _refuse_foreign_folder(folder: str) -> None:
    """Something at `PATH.d` that is not a folder (a file, a symlink) is not ours to wait on or remove."""
    with suppress(FileNotFoundError):
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            raise ConfigError(
                f"{folder} exists and is not an oes-reconcile lock folder; "
                "refusing to use it (move it, or name another --lock-file)"
            )


def _clear_stale(folder: str) -> None:
    """Remove a lock folder left by an ended run, but only if it holds nothing besides its holder file."""
    try:
        others = sorted(set(os.listdir(folder)) - {HOLDER})  # noqa: PTH208
        if not others:
            _remove_folder(folder)
            return
    except OSError as exc:
        raise ConfigError(f"cannot remove the stale lock folder {folder}: {exc.strerror}") from None
    raise ConfigError(
        f"cannot remove the stale lock folder {folder}: it holds other files ({', '.join(others)})"
    )


def _remove_folder(folder: str) -> None:
    """Remove our holder file, then the folder: `rmdir` refuses a folder that holds anything else."""
    os.remove(os.path.join(folder, HOLDER))  # noqa: PTH107,PTH118
    os.rmdir(folder)  # noqa: PTH106


def _folder_holder(folder: str) -> dict[str, object] | None:
    """The holder a lock folder names, or None if it names none (yet: it may be being made)."""
    try:
        with open(os.path.join(folder, HOLDER), encoding="utf-8") as file:  # noqa: PTH118,PTH123
            info = json.load(file)
    except (OSError, ValueError):
        return None
    if isinstance(info, dict) and isinstance(info.get("pid"), int) and "started" in info:
        return info
    return None


def _gone(holder: dict[str, object], folder: str) -> bool:
    """Whether the holder's process has ended; unknown (another machine, no `os.kill`) counts as alive."""
    kill = getattr(os, "kill", None)
    # Where signal 0 is CTRL_C_EVENT (Windows), os.kill(pid, 0) would interrupt the holder, not probe it.
    probes = kill is not None and not hasattr(signal, "CTRL_C_EVENT")
    if holder.get("host") != platform.node():
        return False
    if holder.get("pid") == os.getpid():
        # This process's PID, on a folder it does not hold: a run before it had that PID (a container
        # gives each run the same PID), and has ended.
        return os.path.realpath(folder) not in _HELD
    if not probes:
        return False
    try:
        os.kill(int(str(holder["pid"])), 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, another user's
        return False
    return False
