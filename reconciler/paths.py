"""The files of a run: what it reads and what it writes, refused before anything happens when two are one."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.overrides import SUFFIXES

Identity = tuple[Path, tuple[int, int] | None]


def refuse_overlaps(
    *, writes: Mapping[str, str | None], reads: Mapping[str, str | None], overrides: Sequence[str]
) -> None:
    """Refuse a file the run writes (option -> path) that is also another file of the run: one it writes
    under another option, one it reads (the plan, the key file), or an override file, named or found
    in a folder searched, compared by real path and by inode (another spelling, a symlink, a hard link).

    A report written over an override file, or an audit log appended to the key file, would wipe what
    the next run needs; the options of a long cron line are easy to slip on.
    """
    written = {option: path for option, path in writes.items() if path is not None}
    others = written | {option: path for option, path in reads.items() if path is not None}
    seen: list[str] = []
    for option, path in written.items():
        here = _identity(path)
        hint = (
            f"name a separate file (e.g. {path}.lock)" if option == "--lock-file" else "name a separate file"
        )
        for other, other_path in others.items():
            if other != option and other not in seen and _same(here, _identity(other_path)):
                raise ConfigError(f"{option} {path} is also the {other}; {hint}")
        _refuse_override(option, path, here, overrides, hint)
        seen.append(option)


def _refuse_override(option: str, path: str, here: Identity, overrides: Sequence[str], hint: str) -> None:
    # The search finds a file by the name it has in the folder, and reads what that name leads to.
    named = _real(str(Path(path).parent)) / Path(path).name
    for given in overrides:
        if Path(given).is_dir():
            folder = _real(given)
            for place in (named, here[0]):
                if place.suffix.lower() in SUFFIXES and place.is_relative_to(folder):
                    what = "is" if place == named else f"leads to {place},"
                    raise ConfigError(
                        f"{option} {path} {what} a {place.suffix} file inside {given}, "
                        f"a folder searched for override files; {hint}"
                    )
        elif _same(here, _identity(given)):
            raise ConfigError(f"{option} {path} is also the override file {given}; {hint}")


def _identity(path: str) -> Identity:
    """The real path, and the (device, inode) of what it names when that exists."""
    real = _real(path)
    try:
        found = Path(path).stat()
    except (OSError, ValueError):
        return real, None
    return real, (found.st_dev, found.st_ino)


def _real(path: str) -> Path:
    """The path with its symlinks resolved as far as they go (where Path.resolve would raise on a loop)."""
    return Path(os.path.realpath(path))


def _same(one: Identity, other: Identity) -> bool:
    return one[0] == other[0] or (one[1] is not None and one[1] == other[1])
