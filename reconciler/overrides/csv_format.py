"""CSV override files: a header naming the columns, then one override per record; read, and written."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from reconciler.errors import Problem, UnreadableText
from reconciler.models import Override
from reconciler.overrides.rules import (
    Assignments,
    assignment,
    candidate_key_problem,
    clean_note,
    data_id_problem,
    decimal_number,
    normalise_data_id,
    peak_id_problem,
    shown,
    wavelength_problem,
    wavelength_text,
)

REQUIRED = ("data_id", "peak_id", "candidate_key")
OPTIONAL = ("wavelength_nm", "note")
COLUMNS = (*REQUIRED, *OPTIONAL)  # in the order the writer puts them
_EXPECTED = f"{', '.join(REQUIRED)} (and optionally {' and '.join(OPTIONAL)})"
# Tried in this order on the header line; the first that splits it into the most known columns wins.
# Excel writes `;` wherever the decimal separator is a comma, and tabs in its "Unicode Text" format.
_DELIMITERS = (",", ";", "\t", "|")
_SEP = "sep="  # Excel's hint naming the delimiter, on a line of its own before the header


def parse_csv(path: str, text: str) -> tuple[list[Override], list[Problem]]:
    """The overrides of one CSV file (each with its physical line), and every problem found in it."""
    layout = _layout(text)
    if isinstance(layout, str):
        return [], [Problem(path, 1, layout)]
    overrides: list[Override] = []
    problems: list[Problem] = []
    records = _records(layout)
    try:
        header_line, header = next(records, (0, []))
        if not header:
            return [], [Problem(path, 0, f"file is empty; expected a header naming {_EXPECTED}")]
        columns = [column_name(name) for name in header]
        header_problems = _header_problems(header, columns, layout)
        if header_problems:
            return [], [Problem(path, header_line, message) for message in header_problems]
        unnamed = [index for index, name in enumerate(columns) if not name]
        for line, fields in records:
            override, messages = _override(path, line, columns, fields, unnamed)
            problems.extend(Problem(path, line, message) for message in messages)
            if override is not None:
                overrides.append(override)
    except UnreadableText as bad:
        problems.append(Problem(path, bad.line, f"invalid CSV: {bad.message}"))
    return overrides, problems


@dataclass(frozen=True, slots=True)
class _Layout:
    """How a file's records are laid out: the delimiter, and the text of the records with their offset."""

    delimiter: str
    text: str
    skipped: int  # lines cut off the top (a `sep=` line) that still count in the physical line numbers
    sep_line: str | None = None


def column_name(header: str) -> str:
    """The column a header cell names: case, outer spaces and inner runs of spaces do not matter.

    ` Peak ID ` is `peak_id`, as a person typing a header in a spreadsheet means it.
    """
    return "_".join(header.split()).lower()


def _layout(text: str) -> _Layout | str:
    """The delimiter named by Excel's `sep=X` first line, else the one the header line uses; or a problem."""
    if text[: len(_SEP)].lower() != _SEP:
        return _Layout(_delimiter_of(text), text, 0)
    first, _, rest = text.partition("\n")
    first = first.rstrip("\r")
    value = first[len(_SEP) :]
    if len(value) != 1:
        value = value.strip(" ")
    if len(value) != 1 or value.isalnum() or value in "\"'":
        return f"the first line {shown(first)} must name one delimiter (sep=; or sep=,)"
    return _Layout(value, rest, 1, first)


def _delimiter_of(text: str) -> str:
    """The delimiter that splits the header line into the most known column names (a comma if none does)."""
    header = _header_line(text)
    return max(_DELIMITERS, key=lambda delimiter: _known(header, delimiter))  # the first of equals


def _header_line(text: str) -> str:
    """The first line that is not blank (nor only delimiters, as a spreadsheet's empty row is)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        if line.strip(" \t\r,;|"):
            return line
        start = end + 1
    return ""


def _known(header: str, delimiter: str) -> int:
    """How many known columns the header line names when split at the delimiter."""
    try:
        cells = next(csv.reader([header], delimiter=delimiter), [])
    except csv.Error:
        return 0
    return len({column_name(cell) for cell in cells} & set(COLUMNS))


def _records(layout: _Layout) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the physical line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(layout.text, newline=""), delimiter=layout.delimiter, strict=True)
    while True:
        start = reader.line_num + 1 + layout.skipped
        try:
            fields = next(reader, None)
        except csv.Error as error:
            reason = str(error)
            if reason == "unexpected end of data":
                reason = "a quoted field starting here is never closed"
            raise UnreadableText(start, reason) from error  # the csv module's own error carries no line
        if fields is None:
            return
        # A spreadsheet's empty row (`,,,`) is as blank as an empty line.
        if any(field.strip() for field in fields):
            yield start, fields


def _header_problems(header: list[str], columns: list[str], layout: _Layout) -> list[str]:
    if not set(columns) & set(COLUMNS):
        if layout.sep_line is not None:
            other = _delimiter_of(layout.text)
            if _known(_header_line(layout.text), other):
                said = layout.sep_line
                return [f"the header is separated by {other!r}, but the line before it says {said}"]
        return [f"no header; the first line must name the columns {_EXPECTED}"]
    problems = []
    seen: dict[str, str] = {}  # column name: the header cell that first named it
    for cell, name in zip(header, columns, strict=True):
        written = cell.strip()
        if not name:
            continue  # spreadsheets pad rows with empty cells; only empty values may stand under one
        first = seen.get(name)
        if first is not None:
            also = "" if first == written else f": {shown(first)} before it names {name!r} too"
            problems.append(f"duplicate column {shown(written)}{also}")
            continue
        seen[name] = written
        if name not in COLUMNS:
            problems.append(f"unknown column {shown(written)} (expected {', '.join(COLUMNS)})")
    problems.extend(
        f"missing column {name!r} (the header needs {', '.join(REQUIRED)})"
        for name in REQUIRED
        if name not in seen
    )
    return problems


def _override(
    path: str, line: int, columns: list[str], fields: list[str], unnamed: list[int]
) -> tuple[Override | None, list[str]]:
    if len(fields) > len(columns):
        return None, [f"the row has {len(fields)} fields but the header has {len(columns)}"]
    for index in unnamed:
        if index < len(fields) and fields[index].strip():
            return None, [f"field {index + 1}, {shown(fields[index].strip())}, is in a column with no name"]
    # Spaces around a field are the writer's layout (`a, b`), never part of an id.
    row = {name: value.strip() for name, value in zip(columns, fields, strict=False)}
    problems = [f"missing {name} (the row has {len(fields)} fields)" for name in REQUIRED if name not in row]
    if problems:
        return None, problems
    wavelength = _wavelength(row.get("wavelength_nm", ""))
    checks = (
        data_id_problem(row["data_id"]),
        peak_id_problem(row["peak_id"]),
        candidate_key_problem(row["candidate_key"]),
        wavelength if isinstance(wavelength, str) else None,
    )
    problems = [problem for problem in checks if problem is not None]
    if problems:
        return None, problems
    assert not isinstance(wavelength, str)
    note = clean_note(row.get("note", ""))
    data_id = normalise_data_id(row["data_id"])
    return Override(data_id, row["peak_id"], row["candidate_key"], path, line, note, wavelength), []


def _wavelength(cell: str) -> float | str | None:
    """The wavelength_nm of a row (None: the cell is empty), or what is wrong with it."""
    if not cell:
        return None
    number = decimal_number(cell)
    if number is None:
        hint = ""
        if decimal_number(cell.replace(",", ".", 1)) is not None:
            hint = " (write the decimal separator as a point: 417.21)"
        return f"wavelength_nm {shown(cell)} is not a number{hint}"
    return wavelength_problem(number, cell) or number


def render_csv(assignments: Assignments) -> str:
    """A CSV override file: the header, then one row per peak sorted by data_id and peak_id, `\\n` endings;
    an unknown wavelength or note is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for data_id, peaks in sorted(assignments.items()):
        for peak_id, value in sorted(peaks.items()):
            peak = assignment(value)
            wavelength = "" if peak.wavelength_nm is None else wavelength_text(peak.wavelength_nm)
            writer.writerow((data_id, peak_id, peak.candidate_key, wavelength, peak.note or ""))
    return out.getvalue()
