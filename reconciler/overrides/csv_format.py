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
    SharedValues,
    assignment,
    candidate_key_problem,
    data_id_problem,
    decimal_number,
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
_CHUNK = 1 << 20  # characters handed to the csv module at a time


def parse_csv(
    path: str, text: str, *, shared: SharedValues | None = None
) -> tuple[list[Override], list[Problem]]:
    """The overrides of one CSV file (each with its physical line), and every problem found in it.

    `shared` keeps each id and key once across the files of one load (a new one per call if None).
    """
    shared = SharedValues() if shared is None else shared
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
        row = _Row(path, columns, shared)
        for line, fields in records:
            override = row.override(line, fields)
            if isinstance(override, Override):
                overrides.append(override)
            else:
                problems.extend(Problem(path, line, message) for message in override)
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
    reader = csv.reader(_lines(layout.text), delimiter=layout.delimiter, strict=True)
    skipped = layout.skipped
    start = 1 + skipped
    try:
        for fields in reader:
            # A spreadsheet's empty row (`,,,`) is as blank as an empty line.
            if fields and (fields[0].strip() or any(map(str.strip, fields))):
                yield start, fields
            start = reader.line_num + 1 + skipped
    except csv.Error as error:
        reason = str(error)
        if reason == "unexpected end of data":
            reason = "a quoted field starting here is never closed"
        raise UnreadableText(start, reason) from error  # the csv module's own error carries no line


def _lines(text: str) -> Iterator[str]:
    """The lines of `text`, ends kept, as a file opened with newline="" gives them; a chunk at a time.

    One StringIO of the whole text would hold it again at four bytes a character (200 MB for a 50 MB
    file). Each chunk ends just after a `\n`, which ends a line in every convention, so no line is cut.
    """
    start = 0
    while start < len(text):
        end = text.find("\n", start + _CHUNK)
        end = len(text) if end < 0 else end + 1
        yield from io.StringIO(text[start:end], newline="")
        start = end


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


class _Row:
    """Turns the records of one file into overrides: its columns found by index once, not per row."""

    def __init__(self, path: str, columns: list[str], shared: SharedValues) -> None:
        self.path = path
        self.shared = shared
        self.width = len(columns)
        self.unnamed = [index for index, name in enumerate(columns) if not name]
        first, second, third = (columns.index(name) for name in REQUIRED)
        self.required = (first, second, third)
        self.least = max(self.required) + 1  # fields a row needs to reach every required column
        self.wavelength = columns.index("wavelength_nm") if "wavelength_nm" in columns else self.width
        self.note = columns.index("note") if "note" in columns else self.width

    def override(self, line: int, fields: list[str]) -> Override | list[str]:
        """The override of one record, or what is wrong with it."""
        count = len(fields)
        if count > self.width or count < self.least or self.unnamed:
            refused = self._shape(fields)
            if refused:
                return refused
        first, second, third = self.required
        # Spaces around a field are the writer's layout (`a, b`), never part of an id.
        written = (fields[first].strip(), fields[second].strip(), fields[third].strip())
        shared = self.shared
        data_id = shared.data_id(written[0])
        peak_id = shared.text(written[1])
        candidate_key = shared.text(written[2])
        cell = fields[self.wavelength].strip() if self.wavelength < count else ""
        wavelength = _wavelength(cell) if cell else None
        if data_id is None or peak_id is None or candidate_key is None or isinstance(wavelength, str):
            return _problems(written, wavelength)
        note = (fields[self.note].strip() or None) if self.note < count else None
        return Override(data_id, peak_id, candidate_key, self.path, line, note, wavelength)

    def _shape(self, fields: list[str]) -> list[str]:
        """What is wrong with the fields a record has, whatever they hold (nothing: a list empty)."""
        count = len(fields)
        if count > self.width:
            return [f"the row has {count} fields but the header has {self.width}"]
        for index in self.unnamed:
            if index < count and fields[index].strip():
                return [f"field {index + 1}, {shown(fields[index].strip())}, is in a column with no name"]
        return [
            f"missing {name} (the row has {count} fields)"
            for name, index in zip(REQUIRED, self.required, strict=True)
            if index >= count
        ]


def _problems(written: tuple[str, str, str], wavelength: float | str | None) -> list[str]:
    """Every problem of a row's data_id, peak_id, candidate_key and wavelength_nm, in that order."""
    checks = (
        data_id_problem(written[0]),
        peak_id_problem(written[1]),
        candidate_key_problem(written[2]),
        wavelength if isinstance(wavelength, str) else None,
    )
    return [problem for problem in checks if problem is not None]


def _wavelength(cell: str) -> float | str:
    """The wavelength_nm a row's cell (not empty) gives, or what is wrong with it."""
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
