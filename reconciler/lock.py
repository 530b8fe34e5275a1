"""The run lock: one `apply` at a time per lock file, released when the run ends, even by a kill.

The lock itself is taken by whatever the system has (`locking.py`): flock, msvcrt.locking, or a folder
`PATH.d` beside the file where neither exists (then a holder killed outright is detected by its PID).

A lock file holds its own recognisable content: the line `oes-reconcile lock`, then, while a run holds
it, a JSON line naming the holder. `hold_lock` writes only to a file that is one of these (or empty, as
`touch`, `flock(1)` and systemd-tmpfiles leave a lock file): anything else at the path (another file, a
symlink, a FIFO, a device, a folder) is refused untouched, because a slip in a long cron line must not
wipe an override file or the audit log.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from reconciler import locking
from reconciler.errors import ConfigError, LockHeldError
from reconciler.paths import refuse_overlaps

MARKER = b"oes-reconcile lock\n"
_HEAD = 4096  # our lock files are under 100 bytes; this much tells ours from anything else
# flock, msvcrt.locking or a folder beside the file: the first the system has (see locking.py).
FACILITY, _hold = locking.choose()
# Windows has neither O_NOFOLLOW nor O_NONBLOCK (a FIFO cannot be made there), and wants O_BINARY.
_FLAGS = os.O_RDWR | os.O_CREAT
for _flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY"):
    _FLAGS |= getattr(os, _flag, 0)
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


@contextmanager
def run_lock(
    lock_file: str | None,
    *,
    overrides: Sequence[str],
    writes: Mapping[str, str | None],
    reads: Mapping[str, str | None],
) -> Iterator[None]:
    """Refuse a run whose files overlap (the lock among them), then hold `--lock-file`, if given."""
    refuse_overlaps(writes={"--lock-file": lock_file, **writes}, reads=reads, overrides=overrides)
    if lock_file is None:
        yield
        return
    with hold_lock(lock_file):
        yield


def refuse_shared_lock_path(
    lock_file: str, *, overrides: Sequence[str], files: Mapping[str, str | None]
) -> None:
    """Refuse a lock path that is also an override file (or would be found in a folder searched) or
    one of `files` (option name → path: report, plan, audit log…), by real path or by inode."""
    refuse_overlaps(writes={"--lock-file": lock_file}, reads=files, overrides=overrides)


@contextmanager
def hold_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; exit code 3 at once if another run holds it."""
    fd = _open(path)
    try:
        _refuse_foreign(fd, path)
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        holder = {"pid": os.getpid(), "started": started}
        with _held(fd, path, holder):
            # Checked again under the lock: a program that does not take it may have written meanwhile.
            _refuse_foreign(fd, path)
            try:
                _replace(fd, MARKER + json.dumps(holder).encode() + b"\n")
            except OSError as exc:
                raise ConfigError(f"cannot write --lock-file {path}: {exc.strerror}") from None
            try:
                yield
            finally:
                # Forget the holder, but only in a file that is still ours; closing releases the lock anyway.
                with suppress(OSError):
                    if _is_ours(_read(fd)):
                        _replace(fd, MARKER)
    finally:
        os.close(fd)


@contextmanager
def _held(fd: int, path: str, holder: dict[str, object]) -> Iterator[None]:
    """The lock held by this system's facility; exit code 3 naming the holder if another run has it."""
    try:
        with _hold(fd, path, holder):
            yield
    except locking.Busy as busy:
        raise LockHeldError(
            f"another run holds the lock {path} ({busy.holder or _holder(fd)}){busy.hint}"
        ) from None


def _open(path: str) -> int:
    """Open `path` for writing only if it is a regular file (or absent: then create it), never following
    a symlink and never blocking on a FIFO; the kind is checked again on the open descriptor."""
    try:
        _refuse_kind(path, os.lstat(path).st_mode)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot open --lock-file {path}: {exc.strerror}") from None
    try:
        fd = os.open(path, _FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the check above
            raise ConfigError(f"--lock-file {path} is a symbolic link; name the lock file itself") from None
        raise ConfigError(f"cannot open --lock-file {path}: {exc.strerror}") from None
    try:
        _refuse_kind(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_kind(path: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        target = ""
        with suppress(OSError):
            target = f" (to {Path(path).readlink()})"
        raise ConfigError(f"--lock-file {path} is a symbolic link{target}; name the lock file itself")
    kind = _KINDS.get(stat.S_IFMT(mode), "something other than a file")
    raise ConfigError(f"--lock-file {path} is {kind}, not a regular file; name a lock file of its own")


def _refuse_foreign(fd: int, path: str) -> None:
    """Refuse a file that holds anything but one of our locks; an empty file is adopted."""
    try:
        head = _read(fd)
    except OSError as exc:
        raise ConfigError(f"cannot read --lock-file {path}: {exc.strerror}") from None
    if head and not _is_ours(head):
        raise ConfigError(
            f"{path} exists and is not an oes-reconcile lock file (it starts with {_start(head)}); "
            "refusing to overwrite it"
        )


def _is_ours(head: bytes) -> bool:
    return head.startswith(MARKER) or _is_legacy(head)


def _is_legacy(head: bytes) -> bool:
    """A lock file left by oes-reconcile 0.1 (a run killed while holding it): `{"pid": …, "started": …}`."""
    try:
        info = json.loads(head)
    except ValueError:
        return False
    return isinstance(info, dict) and info.keys() == {"pid", "started"} and isinstance(info["pid"], int)


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it: PID and start time."""
    try:
        head = _read(fd)
        info = json.loads(head.removeprefix(MARKER) or b"{}")
        return f"PID {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def _replace(fd: int, content: bytes) -> None:
    """Make the file hold `content`: written over the start, then cut, so the marker is never missing."""
    pwrite = getattr(os, "pwrite", None)  # Windows has none
    if pwrite is not None:
        pwrite(fd, content, 0)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, content)
    os.ftruncate(fd, len(content))


def _read(fd: int) -> bytes:
    """The start of the file, enough to tell ours (`os.pread` where there is one: Windows has none)."""
    pread = getattr(os, "pread", None)
    if pread is None:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, _HEAD)
    head: bytes = pread(fd, _HEAD, 0)
    return head


def _start(head: bytes) -> str:
    """The first line of a file, shortened, quoted so that odd bytes show."""
    text = head.decode("utf-8", "replace")
    line = text.split("\n", 1)[0] or text  # a file that opens with blank lines shows them
    return repr(line[:40]) + ("…" if len(line) > 40 else "")
