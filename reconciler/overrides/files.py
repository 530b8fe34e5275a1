"""Override files on disk: folders searched, special files and link loops refused, nothing read that hangs."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import Problem

SUFFIXES = (".yaml", ".yml", ".csv")
MAX_FILE_BYTES = 50 * 1024 * 1024

# O_NONBLOCK: should a FIFO slip in between the check and the open, opening it returns at once instead of
# waiting for a writer. O_NOCTTY: a terminal opened by mistake never becomes the controlling one.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_OPEN_FLAGS |= getattr(os, "O_BINARY", 0)  # Windows
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)

_Identity = tuple[int, int | str]  # (st_dev, st_ino): one file or folder, whatever the names leading to it


def find_override_files(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[Problem]]:
    """The override files named or found under the paths given, each once, in the order to read them."""
    finder = _Finder()
    for given in paths:
        finder.path(Path(given))
    return finder.files, finder.problems


def read_override_file(path: Path) -> bytes | Problem:
    """The file's bytes, or the problem; only a regular file under 50 MB is ever opened."""
    display = path.as_posix()
    try:
        before = path.stat()
        if not stat.S_ISREG(before.st_mode):
            return Problem(display, 0, _not_regular(path, before))
        if before.st_size > MAX_FILE_BYTES:
            return Problem(display, 0, _too_big(before.st_size))
        data = _read_regular(path, before)
    except OSError as error:
        return Problem(display, 0, _unreachable(path, error, "cannot read the file"))
    if data is None:
        return Problem(display, 0, "the file was replaced while it was being read; run again")
    if len(data) > MAX_FILE_BYTES:
        return Problem(display, 0, "file is over 50 MB; override files are limited to 50 MB")
    return data


def _read_regular(path: Path, before: os.stat_result) -> bytes | None:
    """The bytes of the file `before` describes (at most one byte over the limit), or None if it changed."""
    descriptor = os.open(path, _OPEN_FLAGS)
    with os.fdopen(descriptor, "rb") as stream:  # closes the descriptor
        now = os.fstat(descriptor)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            return None
        # Bounded, in case the file grows between the stat and the read.
        return stream.read(MAX_FILE_BYTES + 1)


def _patterns() -> str:
    return ", ".join(f"*{suffix}" for suffix in SUFFIXES)


class _Finder:
    """The paths given, in order; folders searched depth first in sorted order, linked folders followed.

    A file or folder reached twice (named twice, or through links) is taken once: its files are read once.
    """

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.problems: list[Problem] = []
        self._seen: set[_Identity] = set()
        self._walked: set[_Identity] = set()
        self._reached = 0  # override files reached, counting those reached again

    def path(self, path: Path) -> None:
        try:
            status = path.stat()
        except OSError as error:
            self._problem(path, _unreachable(path, error, "cannot read"))
            return
        if stat.S_ISDIR(status.st_mode):
            before = (self._reached, len(self.problems))
            if self._identity(path, status) in self._walked:
                return  # searched already, under another name
            self._folder(path, status)
            if (self._reached, len(self.problems)) == before:
                self._problem(path, f"no override files ({_patterns()}) in this directory")
        elif not stat.S_ISREG(status.st_mode):
            # Named explicitly, whatever its name: reading it could block or never end.
            self._problem(path, _not_regular(path, status))
        elif path.suffix.lower() in SUFFIXES:
            self._file(path, status)
        else:
            self._problem(path, f"not an override file (expected {_patterns()})")

    def _folder(self, top: Path, status: os.stat_result) -> None:
        # An explicit stack, not recursion: a deep tree must not hit Python's recursion limit. Each entry
        # carries the folders it is in, by identity, to tell a link back to one of them (a loop).
        stack: list[tuple[Path, os.stat_result, dict[_Identity, Path]]] = [(top, status, {})]
        while stack:
            path, status, outer = stack.pop()
            identity = self._identity(path, status)
            if not stat.S_ISDIR(status.st_mode):
                self._file(path, status)
            elif identity in outer:
                self._problem(path, _loop_back(path, outer[identity]))
            elif identity not in self._walked:  # else reached again through a link: its files are found
                self._walked.add(identity)
                inside = {**outer, identity: path}
                stack.extend(
                    (entry, entry_status, inside) for entry, entry_status in reversed(self._entries(path))
                )

    def _entries(self, folder: Path) -> list[tuple[Path, os.stat_result]]:
        """The folder's visible folders and regular override files, in sorted order; the rest reported.

        Files and folders interleave by name, so the order is that of the paths' parts, sorted.
        """
        try:
            with os.scandir(folder) as listing:
                names = sorted(entry.name for entry in listing if _wanted(entry))
        except OSError as error:
            self._problem(folder, _unreachable(folder, error, "cannot read the folder"))
            return []
        kept: list[tuple[Path, os.stat_result]] = []
        for name in names:
            path = folder / name
            try:
                status = path.stat()  # not the entry's: on Windows its st_ino is always 0
            except OSError as error:
                self._problem(path, _unreachable(path, error, "cannot read"))
                continue
            if stat.S_ISDIR(status.st_mode) or stat.S_ISREG(status.st_mode):
                kept.append((path, status))
            else:
                self._problem(path, _not_regular(path, status))
        return kept

    def _file(self, path: Path, status: os.stat_result) -> None:
        self._reached += 1
        identity = self._identity(path, status)
        if identity not in self._seen:
            self._seen.add(identity)
            self.files.append(path)

    def _problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem(path.as_posix(), 0, message))

    @staticmethod
    def _identity(path: Path, status: os.stat_result) -> _Identity:
        # A file system without inode numbers (st_ino 0) falls back to the real path, never to "all equal".
        return (status.st_dev, status.st_ino or os.path.realpath(path))


def _wanted(entry: os.DirEntry[str]) -> bool:
    """A folder (or a link to one), or a file named like an override file; hidden names never."""
    # Hidden folders hold tooling (`.git`, `.github/workflows/*.yml`), never overrides.
    if entry.name.startswith("."):
        return False
    return Path(entry.name).suffix.lower() in SUFFIXES or _is_folder(entry)


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows a link; False for a link to nothing or a loop
    except OSError:
        return False


def _not_regular(path: Path, status: os.stat_result) -> str:
    kind = next((name for test, name in _KINDS if test(status.st_mode)), "not a regular file")
    message = f"is {kind}, not a regular file" if kind.startswith("a ") else f"is {kind}"
    target = _link_target(path)
    return message if target is None else f"{message} (a symbolic link to {target!r})"


def _unreachable(path: Path, error: OSError, doing: str) -> str:
    """What stopped a stat or an open, in the user's words: a link loop, a broken link, or the system's."""
    target = _link_target(path)
    if error.errno == errno.ELOOP:
        if target is None:
            return "cannot be reached: a symbolic link on the way to it loops"
        return f"is a symbolic link loop (it points to {target!r}, and following the links never ends)"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        if target is not None:
            return f"is a broken symbolic link (it points to {target!r}, which does not exist)"
        return "no such file or directory"
    return f"{doing}: {error.strerror or error}"


def _loop_back(path: Path, folder: Path) -> str:
    target = _link_target(path)
    inside = f"{folder.as_posix()!r}, a folder it is in"
    if target is None:  # a real folder, reached again through a link above it
        return f"is {inside}, reached again through a symbolic link (a loop); not followed"
    return (
        f"is a symbolic link that points to {target!r}, which leads back to {inside} (a loop); not followed"
    )


def _link_target(path: Path) -> str | None:
    try:
        return path.readlink().as_posix()
    except (OSError, ValueError):
        return None


def _too_big(size: int) -> str:
    return f"file is {size:,} bytes; override files are limited to 50 MB"
