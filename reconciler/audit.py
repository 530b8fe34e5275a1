"""The audit trail: one JSON line per PATCH outcome, appended to `--audit-log`; never the key."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from reconciler.apply import PatchRecord

log = logging.getLogger(__name__)


def git_commit(paths: Sequence[str]) -> str | None:
    """The commit checked out where the override files live, when they are in a git work tree."""
    if not paths:
        return None
    where = Path(paths[0])
    folder = where if where.is_dir() else where.parent
    try:
        done = subprocess.run(  # noqa: S603 (fixed argv; the folder is an argument, never a shell string)
            ["git", "-C", str(folder), "rev-parse", "HEAD"],  # noqa: S607 (git from PATH, as a user runs it)
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


class AuditLog:
    """Appends a line per PATCH outcome and flushes it at once, so a killed run still leaves its trail."""

    def __init__(self, out: TextIO, *, commit: str | None) -> None:
        self.out = out
        self.commit = commit

    def record(self, record: PatchRecord) -> None:
        item = record.item
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data_id": item.data_id,
            "peak_id": item.peak_id,
            "from": record.previous,
            "to": item.desired,
            "status": item.status.value,
            "http_status": record.http_status,
            "attempts": record.attempts,
            "source": item.source,
            "note": item.note,
            "message": item.message,
            "git_commit": self.commit,
        }
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()
