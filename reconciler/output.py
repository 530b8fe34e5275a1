"""Output files (reports, plans, exports): checked before anything is sent, written whole or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from reconciler.errors import ConfigError


def prepare(path: str) -> None:
    """Make the folder of `path` and refuse a path that is a folder, so a bad path fails before the run."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{path} is a folder; name a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder of {path}: {exc.strerror}") from None
    if not os.access(target.parent, os.W_OK):
        raise ConfigError(f"cannot write {path}: its folder is not writable")


def write_atomically(path: str, write: Callable[[TextIO], object]) -> None:
    """Write through a temporary file beside `path` and rename it, so a reader never sees half a file."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            write(out)
        partial.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
