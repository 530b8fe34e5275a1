"""The run lock: one `apply` at a time per lock file; the OS releases it if the process dies."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from reconciler.errors import ConfigError, LockHeldError


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it: PID and start time."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"PID {info['pid']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


@contextmanager
def hold_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; exit code 3 at once if another run holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open --lock-file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeldError(f"another run holds the lock {path} ({_holder(fd)})") from None
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": started}).encode() + b"\n", 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
