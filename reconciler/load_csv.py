"""CSV override files: a header naming the columns, one override per record, each with its physical line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from reconciler.errors import Problem
from reconciler.load_rules import (
    candidate_key_problem,
    clean_note,
    data_id_problem,
    normalise_data_id,
    peak_id_problem,
    shown,
)
from reconciler.models import Override

REQUIRED = ("data_id", "peak_id", "candidate_key")
COLUMNS = (*REQUIRED, "note")
_EXPECTED = "data_id, peak_id, candidate_key (and optionally note)"


def parse_csv(path: str, text: str) -> tuple[list[Override], list[Problem]]:
    """The overrides of one CSV file, and every problem found in it."""
    overrides: list[Override] = []
    problems: list[Problem] = []
    records = _records(text)
    try:
        header_line, header = next(records, (0, []))
        if not header:
            return [], [Problem(path, 0, f"file is empty; expected a header naming {_EXPECTED}")]
        columns = [name.strip() for name in header]
        header_problems = _header_problems(columns)
        if header_problems:
            return [], [Problem(path, header_line, message) for message in header_problems]
        for line, fields in records:
            override, messages = _override(path, line, columns, fields)
            problems.extend(Problem(path, line, message) for message in messages)
            if override is not None:
                overrides.append(override)
    except _BadRecord as bad:
        problems.append(Problem(path, bad.line, f"invalid CSV: {bad.reason}"))
    return overrides, problems


class _BadRecord(Exception):
    """The csv module gave up on a record; its own error carries no line."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the physical line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader, None)
        except csv.Error as error:
            reason = str(error)
            if reason == "unexpected end of data":
                reason = "a quoted field starting here is never closed"
            raise _BadRecord(start, reason) from error
        if fields is None:
            return
        # A spreadsheet's empty row (`,,,`) is as blank as an empty line.
        if any(field.strip() for field in fields):
            yield start, fields


def _header_problems(columns: list[str]) -> list[str]:
    if not set(columns) & set(COLUMNS):
        return [f"no header; the first line must name the columns {_EXPECTED}"]
    problems = []
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            problems.append(f"duplicate column {shown(name)}")
        elif name not in COLUMNS:
            problems.append(f"unknown column {shown(name)} (expected {', '.join(COLUMNS)})")
        seen.add(name)
    problems.extend(
        f"missing column {name!r} (the header needs {', '.join(REQUIRED)})"
        for name in REQUIRED
        if name not in seen
    )
    return problems


def _override(
    path: str, line: int, columns: list[str], fields: list[str]
) -> tuple[Override | None, list[str]]:
    if len(fields) > len(columns):
        return None, [f"the row has {len(fields)} fields but the header has {len(columns)}"]
    # Spaces around a field are the writer's layout (`a, b`), never part of an id.
    row = {name: value.strip() for name, value in zip(columns, fields, strict=False)}
    problems = [f"missing {name} (the row has {len(fields)} fields)" for name in REQUIRED if name not in row]
    if problems:
        return None, problems
    checks = (
        data_id_problem(row["data_id"]),
        peak_id_problem(row["peak_id"]),
        candidate_key_problem(row["candidate_key"]),
    )
    problems = [problem for problem in checks if problem is not None]
    if problems:
        return None, problems
    note = clean_note(row.get("note", ""))
    data_id = normalise_data_id(row["data_id"])
    return Override(data_id, row["peak_id"], row["candidate_key"], path, line, note), []
