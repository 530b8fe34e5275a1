"""The load stage: find the override files, read and validate them, and merge them into one set."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import FileErrors, Problem
from reconciler.load_csv import parse_csv
from reconciler.load_disk import find_override_files, read_override_file
from reconciler.load_yaml import parse_yaml
from reconciler.models import Override

__all__ = ["OverrideSet", "find_override_files", "load_overrides"]

logger = logging.getLogger(__name__)

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class OverrideSet:
    """Every override of a run, merged and validated, with the files they came from."""

    overrides: tuple[Override, ...]
    sources: tuple[str, ...]
    warnings: tuple[Problem, ...]
    digest: str


def load_overrides(paths: Sequence[str | os.PathLike[str]]) -> OverrideSet:
    """Read, validate and merge the override files; raise FileErrors listing every problem of every file."""
    files, problems = find_override_files(paths)
    digest = hashlib.sha256()
    sources: list[str] = []
    declared: list[Override] = []
    for path in files:
        display = path.as_posix()
        data = read_override_file(path)
        if isinstance(data, Problem):
            problems.append(data)
            continue
        sources.append(display)
        for part in (display.encode(), data):  # length-prefixed, so no two file lists hash alike
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        with _collector_paused():
            overrides, file_problems = _parse(path, display, data)
        declared.extend(overrides)
        problems.extend(file_problems)
        logger.debug("%s: %d overrides, %d problems", display, len(overrides), len(file_problems))
    merged, warnings, conflicts = _merge(declared)
    problems.extend(conflicts)
    if problems:
        raise FileErrors(sorted(problems, key=lambda problem: (problem.path, problem.line)))
    return OverrideSet(
        overrides=tuple(sorted(merged, key=lambda override: (override.data_id, override.peak_id))),
        sources=tuple(sources),
        warnings=tuple(sorted(warnings, key=lambda problem: (problem.path, problem.line))),
        digest=f"sha256:{digest.hexdigest()}",
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # Parsing makes hundreds of thousands of small acyclic objects (YAML nodes, CSV rows); as they pile up,
    # CPython's cyclic collector walks them again and again, which more than doubled the time of a
    # 50,000-entry YAML file (3.3 s against 1.2 s). Reference counting still frees everything meanwhile.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(path: Path, display: str, data: bytes) -> tuple[list[Override], list[Problem]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        return [], [Problem(display, line, f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8")]
    text = text.removeprefix(_BOM)  # spreadsheets and some editors on Windows write one
    if path.suffix.lower() == ".csv":
        return parse_csv(display, text)
    return parse_yaml(display, text)


def _merge(declared: list[Override]) -> tuple[list[Override], list[Problem], list[Problem]]:
    """One override per peak, the first declared kept; a repeat is a warning, a contradiction a conflict."""
    first: dict[tuple[str, str], Override] = {}
    warnings: list[Problem] = []
    conflicts: list[Problem] = []
    for override in declared:
        pair = (override.data_id, override.peak_id)
        earlier = first.setdefault(pair, override)
        if earlier is override:
            continue
        where = f"{override.data_id}/{override.peak_id}"
        if earlier.candidate_key == override.candidate_key:
            message = f"{where} is declared again with the same candidate_key (first at {earlier.source})"
            warnings.append(Problem(override.path, override.line, message))
        else:
            message = (
                f"conflict: {where} is {override.candidate_key} here "
                f"and {earlier.candidate_key} at {earlier.source}"
            )
            conflicts.append(Problem(override.path, override.line, message))
    return list(first.values()), warnings, conflicts
