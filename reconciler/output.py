"""Output files and stdout: files checked before anything is sent and written whole; stdout written last."""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, cast

from reconciler.errors import ConfigError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str | None:
    """What a special file is, in words; None for a regular file or a folder."""
    return next((name for test, name in _KINDS if test(mode)), None)


def prepare(path: str) -> None:
    """Make the folder of `path` and refuse what cannot take a whole file, so a bad path fails early."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{path} is a folder; name a file to write")
    with contextlib.suppress(OSError):
        special = kind_of(target.stat().st_mode)
        if special is not None:
            raise ConfigError(f"{path} is {special}, not a regular file; name a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder of {path}: {exc.strerror}") from None
    if not os.access(target.parent, os.W_OK):
        raise ConfigError(f"cannot write {path}: its folder is not writable")


def write_atomically(path: str, write: Callable[[TextIO], object]) -> None:
    """Write through a temporary file beside `path` and rename it, so a reader never sees half a file.

    A symbolic link at `path` stays a link: the file it points to is the one replaced; a file replaced
    keeps its permissions (a report kept private stays private).
    """
    target = Path(os.path.realpath(path))
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            write(out)
        with contextlib.suppress(FileNotFoundError):
            partial.chmod(stat.S_IMODE(target.stat().st_mode))
        partial.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


class _Console:
    """stdout for a report: a character its encoding cannot show is written escaped, and noted; every
    write goes out whole, or fails.

    Under `python -u` (PYTHONUNBUFFERED, common in containers and CI) stdout's bytes layer is unbuffered:
    the text layer makes one write() per text and drops the rest of a short write without a word (a pipe
    whose reader left, a disk that filled). The report's text then goes to that layer here, in a loop.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.escaped = False
        raw = getattr(stream, "buffer", None)
        self._raw = raw if isinstance(raw, io.RawIOBase) else None

    def write(self, text: str) -> int:
        try:
            return self._emit(text)
        except UnicodeEncodeError:
            self.escaped = True
            encoding = self.stream.encoding or "ascii"
            return self._emit(text.encode(encoding, "backslashreplace").decode(encoding))

    def _emit(self, text: str) -> int:
        if self._raw is None:
            return self.stream.write(text)
        self.stream.flush()  # anything the text layer still holds goes first
        stream = self.stream
        data = memoryview(text.replace("\n", os.linesep).encode(stream.encoding, stream.errors or "strict"))
        while data:
            written = self._raw.write(data)
            if not written:  # None: a non-blocking stdout that cannot take more now
                raise BlockingIOError(errno.EAGAIN, "stdout cannot take more of the report now")
            data = data[written:]
        return len(text)


def stdout_is_unicode() -> bool:
    """Whether stdout's encoding can show every character (a UTF encoding), so JSON need not escape."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        return codecs.lookup(encoding).name.startswith("utf")
    except LookupError:
        return False


def to_stdout(write: Callable[[TextIO], object]) -> str | None:
    """Write a report to stdout; a problem there (closed, broken pipe, full device, encoding) is returned
    as one line, never raised, so what was written elsewhere stands and the caller decides the exit code."""
    stream = sys.stdout
    if stream is None:  # the process started with stdout closed
        return "stdout is closed, so the report could not be shown"
    console = _Console(stream)
    try:
        write(cast(TextIO, console))
        stream.flush()
    except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
        _silence(stream)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is closed"
        return f"could not write the report to stdout ({reason})"
    if console.escaped:
        return (
            f"stdout's encoding ({stream.encoding}) cannot show some characters of the report; "
            "they were written as escapes (set a UTF-8 locale, e.g. LC_ALL=C.UTF-8)"
        )
    return None


def _silence(stream: TextIO) -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail (and print) again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
