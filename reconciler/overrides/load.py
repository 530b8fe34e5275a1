"""The load stage: find the override files, read and validate them, and merge them into one set."""

from __future__ import annotations

import codecs
import contextlib
import gc
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter

from reconciler.errors import FileErrors, Problem
from reconciler.models import Override
from reconciler.overrides.csv_format import parse_csv
from reconciler.overrides.files import find_override_files, read_override_file
from reconciler.overrides.rules import SharedValues

__all__ = ["OverrideSet", "load_overrides"]

logger = logging.getLogger(__name__)

# Byte-order marks, longest first: UTF-32's little-endian mark begins with UTF-16's.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),  # spreadsheets and some editors on Windows write one
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),  # Excel's "Unicode Text"
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
# Which bytes of the first character are NUL, for an ASCII character in each wide encoding.
_WIDE = (
    ((False, True, True, True), "UTF-32 (little-endian)"),
    ((True, True, True, False), "UTF-32 (big-endian)"),
    ((False, True), "UTF-16 (little-endian)"),
    ((True, False), "UTF-16 (big-endian)"),
)
_SAVE_AS_CSV_UTF8 = 'in Excel, Save As "CSV UTF-8 (Comma delimited)"'


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
    shared = SharedValues()
    with _collector_paused():
        for path in files:
            display = path.as_posix()
            data = read_override_file(path)
            if isinstance(data, Problem):
                problems.append(data)
                continue
            sources.append(display)
            _hash_file(digest, display, data)
            spreadsheet = path.suffix.lower() == ".csv"
            text = _decode(display, data, spreadsheet=spreadsheet)
            del data  # the text alone from here: a 50 MB file is not held twice while it is parsed
            overrides, file_problems = _parse(display, text, spreadsheet=spreadsheet, shared=shared)
            del text
            declared.extend(overrides)
            problems.extend(file_problems)
            logger.debug("%s: %d overrides, %d problems", display, len(overrides), len(file_problems))
        merged, warnings, conflicts = _merge(declared)
    del declared
    problems.extend(conflicts)
    if problems:
        raise FileErrors(sorted(problems, key=lambda problem: (problem.path, problem.line)))
    return OverrideSet(
        overrides=tuple(merged),
        sources=tuple(sources),
        warnings=tuple(sorted(warnings, key=lambda problem: (problem.path, problem.line))),
        digest=f"sha256:{digest.hexdigest()}",
    )


def _hash_file(digest: hashlib._Hash, display: str, data: bytes) -> None:
    # Length-prefixed, so no two file lists hash alike. A function of its own: a loop variable left
    # pointing at the bytes would keep a 50 MB file alive while its text is parsed.
    for part in (display.encode(), data):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # Parsing makes hundreds of thousands of small acyclic objects (YAML nodes, CSV rows); as they pile up,
    # CPython's cyclic collector walks them again and again, which more than doubled the time of a
    # 50,000-entry YAML file (3.3 s against 1.2 s); merging a million overrides would walk them all
    # again. Reference counting still frees everything meanwhile.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(
    display: str, text: str | Problem, *, spreadsheet: bool, shared: SharedValues
) -> tuple[list[Override], list[Problem]]:
    if isinstance(text, Problem):
        return [], [text]
    if spreadsheet:
        return parse_csv(display, text, shared=shared)
    from reconciler.overrides.yaml_format import parse_yaml  # PyYAML only when a YAML file is read

    return parse_yaml(display, text, shared=shared)


def _decode(display: str, data: bytes, *, spreadsheet: bool) -> str | Problem:
    """The file's text: UTF-8, or UTF-16/32 with a byte-order mark; anything else refused, named."""
    advice = f"save the file as UTF-8{f' ({_SAVE_AS_CSV_UTF8})' if spreadsheet else ''}"
    unmarked = (b"", "utf-8", "UTF-8")
    mark, codec, name = next((known for known in _MARKS if data.startswith(known[0])), unmarked)
    if not mark:
        found = _not_text(data, spreadsheet=spreadsheet)
        if found:
            return Problem(display, 0, f"{found}; {advice}")
    body = memoryview(data)[len(mark) :]
    try:
        return str(body, codec)
    except UnicodeDecodeError as error:
        line = str(body[: error.start], codec, errors="replace").count("\n") + 1
        byte = body[error.start]
        if name != "UTF-8":
            return Problem(
                display,
                line,
                f"not valid {name} (byte 0x{byte:02x}), though it starts with a {name} byte-order mark",
            )
        return Problem(display, line, f"not valid UTF-8 (byte 0x{byte:02x}{_as_cp1252(byte)}); {advice}")


def _not_text(data: bytes, *, spreadsheet: bool) -> str | None:
    """What the file is when its first bytes show it is no UTF-8 text (it has no byte-order mark)."""
    head = data[:4]
    if head.startswith(b"PK\x03\x04"):
        return f"is a zip archive{' (an Excel .xlsx workbook?)' if spreadsheet else ''}, not text"
    if head == b"\xd0\xcf\x11\xe0":
        return f"is an Office document{' (an Excel .xls workbook?)' if spreadsheet else ''}, not text"
    # Text does not start with a NUL character: NUL bytes around the first one show a wider encoding.
    nul = tuple(byte == 0 for byte in head)
    for pattern, encoding in _WIDE:
        if nul[: len(pattern)] == pattern:
            return f"looks like {encoding} without a byte-order mark"
    return None


def _as_cp1252(byte: int) -> str:
    """What the byte is in Windows-1252 (the usual "ANSI" of a Western Windows), as a lead for the user."""
    try:
        character = bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return ""
    return f", {character!r} in Windows-1252" if character.isprintable() else ""


_BY_PEAK = attrgetter("peak_id")
_BY_ENTRY = attrgetter("data_id")


def _merge(declared: list[Override]) -> tuple[list[Override], list[Problem], list[Problem]]:
    """One override per peak, the first declared kept, sorted by data_id and peak_id; a repeat is a
    warning, a contradiction a conflict (both in the order declared).

    A repeat that gives another wavelength_nm is still a warning (the candidate is the same; the
    wavelength only guards which peak is meant): the first one given is used, and the warning says so.
    """
    # Two stable sorts, the second by the first key, order by (data_id, peak_id) and keep the declared
    # order within a peak, without a tuple per override (a million of them would cost 70 MB).
    ordered = sorted(declared, key=_BY_PEAK)
    ordered.sort(key=_BY_ENTRY)
    merged: list[Override] = []
    warnings: list[tuple[Override, Problem]] = []  # each with the repeat that makes it
    conflicts: list[tuple[Override, Problem]] = []
    kept: Override | None = None
    for override in ordered:
        if kept is None or override.peak_id != kept.peak_id or override.data_id != kept.data_id:
            if kept is not None:
                merged.append(kept)
            kept = override
            continue
        said = conflicts if override.candidate_key != kept.candidate_key else warnings
        kept, problem = _repeat(kept, override)
        said.append((override, problem))
    if kept is not None:
        merged.append(kept)
    return merged, _as_declared(warnings, declared), _as_declared(conflicts, declared)


def _as_declared(repeats: list[tuple[Override, Problem]], declared: list[Override]) -> list[Problem]:
    """The problems in the order their repeats were declared (the merge met them sorted by peak)."""
    if not repeats:
        return []
    wanted = {id(override) for override, _ in repeats}
    position = {id(override): index for index, override in enumerate(declared) if id(override) in wanted}
    return [problem for _, problem in sorted(repeats, key=lambda repeat: position[id(repeat[0])])]


def _repeat(earlier: Override, override: Override) -> tuple[Override, Problem]:
    """The override kept for a peak declared again, and the warning or conflict the repeat makes."""
    where = f"{override.data_id}/{override.peak_id}"
    if earlier.candidate_key != override.candidate_key:
        message = (
            f"conflict: {where} is {override.candidate_key} here "
            f"and {earlier.candidate_key} at {earlier.source}"
        )
        return earlier, Problem(override.path, override.line, message)
    message = f"{where} is declared again with the same candidate_key (first at {earlier.source})"
    given, before = override.wavelength_nm, earlier.wavelength_nm
    if given is not None and before is None:
        earlier = replace(earlier, wavelength_nm=given)
        message += f"; the wavelength_nm given here ({given:g}) is used"
    elif given is not None and given != before:
        message += f", but wavelength_nm {given:g} here and {before:g} there; {before:g} is used"
    return earlier, Problem(override.path, override.line, message)
