"""The audit trail: a JSON line before each PATCH and one with its outcome, appended to `--audit-log`."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import subprocess
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError, RecordError
from reconciler.models import Item, PatchRecord, Status

log = logging.getLogger(__name__)

SENDING = "sending"  # the line before a PATCH, and the record's row until its outcome
STOPPED = "stopped"  # a retry the run did not send: not patched
UNKNOWN = "unknown"  # abandoned on the wire by a second signal: the server may have made it


def _git(folder: Path, *args: str) -> str | None:
    """What git prints for `args` in `folder`, or None outside a work tree (or without git)."""
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv; the folder is an argument, never a shell string)
            ["git", "-C", str(folder), *args],  # noqa: S607 (git from PATH, as a user runs it)
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _folder(paths: Sequence[str]) -> Path:
    where = Path(paths[0])
    return where if where.is_dir() else where.parent


def git_commit(paths: Sequence[str]) -> str | None:
    """The commit checked out where the override files live, when they are in a git work tree."""
    if not paths:
        return None
    commit = (_git(_folder(paths), "rev-parse", "HEAD") or "").strip()
    return commit or None


def git_dirty(paths: Sequence[str]) -> bool | None:
    """Whether the override files hold edits not committed (or are untracked); None outside git."""
    if not paths:
        return None
    named = [str(Path(path).resolve()) for path in paths]
    changes = _git(_folder(paths), "status", "--porcelain", "--untracked-files=all", "--", *named)
    return None if changes is None else bool(changes.strip())


def outcome_of(record: PatchRecord) -> str:
    """A PATCH's outcome in the trail's words (the audit log's and the record's): the item's status, or
    `stopped` (a change still pending: a retry was not sent), or `unknown`."""
    if not record.known:
        return UNKNOWN
    return STOPPED if record.item.status is Status.CHANGE else record.item.status.value


class AuditLog:
    """Appends a line before each PATCH (`sending`) and one with its outcome, each written whole at once.

    Lines go straight to the file descriptor (no buffer to lose), so a `kill -9` leaves every PATCH that
    was sent with at least its `sending` line. A line that cannot be written raises RecordError: the run
    then sends nothing more.
    """

    def __init__(
        self, fd: int, *, path: str, commit: str | None, dirty: bool | None, cut: bool = False
    ) -> None:
        self.fd = fd
        self.path = path
        self.commit = commit
        self.dirty = dirty
        # The file ends in a line cut short (an earlier run's write failed: a full disk): this run's first
        # line starts on a line of its own, so that every line of its own parses.
        self._cut = cut

    def sending(self, item: Item) -> None:
        self._write(item, status=SENDING, previous=item.current, http_status=None, attempts=0)

    def record(self, record: PatchRecord) -> None:
        """An outcome; a change still pending was stopped before a retry could be sent (`stopped`)."""
        item = record.item
        self._write(
            item,
            status=outcome_of(record),
            previous=record.previous,
            http_status=record.http_status,
            attempts=record.attempts,
        )

    def _write(
        self, item: Item, *, status: str, previous: str | None, http_status: int | None, attempts: int
    ) -> None:
        line: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data_id": item.data_id,
            "peak_id": item.peak_id,
            "from": previous,
            "to": item.desired,
            "status": status,
            "http_status": http_status,
            "attempts": attempts,
            "source": item.source,
            "note": item.note,
            "message": None if status == SENDING else item.message,
            "git_commit": self.commit,
            "git_dirty": self.dirty,
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        if self._cut:
            data, self._cut = b"\n" + data, False
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError as exc:
            raise RecordError(
                f"cannot write --audit-log {self.path}: {exc.strerror or exc}; nothing more was sent "
                f"(a PATCH that cannot be recorded is not made)"
            ) from None


@contextlib.contextmanager
def open_audit_log(path: str, *, sources: Sequence[str]) -> Iterator[AuditLog]:
    """The audit log at `path`, opened for appending; refused before the run if it cannot be one."""
    try:
        # O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader, forever under cron.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o644)
    except OSError as exc:
        reason = "it is a FIFO with no reader" if exc.errno == errno.ENXIO else exc.strerror
        raise ConfigError(f"cannot open --audit-log {path}: {reason}") from None
    try:
        kind = os.fstat(fd).st_mode
        if not (stat.S_ISREG(kind) or stat.S_ISCHR(kind)):
            raise ConfigError(f"--audit-log {path} is not a regular file; name a file to append to")
        os.set_blocking(fd, True)
        cut = stat.S_ISREG(kind) and _ends_mid_line(path)
        yield AuditLog(fd, path=path, commit=git_commit(sources), dirty=git_dirty(sources), cut=cut)
    finally:
        os.close(fd)


def _ends_mid_line(path: str) -> bool:
    """Whether the file holds something after its last line break (unknown, as for a file this process
    may write but not read: no)."""
    try:
        with open(path, "rb") as file:  # noqa: PTH123 (a byte at the end, not a Path's text)
            if file.seek(0, os.SEEK_END) == 0:
                return False
            file.seek(-1, os.SEEK_END)
            return file.read(1) != b"\n"
    except OSError:
        return False
