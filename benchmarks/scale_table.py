"""The scale curve's figures (issue 13): rows of baseline vs current, verdicts, text, Markdown and JSON."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Cell:
    """One tree's figure for one row: wall seconds, the memory figure (MB) and the CLI's CPU seconds.

    `mb` is the child's peak RSS, except on the answer rows, where it is the peak RSS above the same plan
    with tiny spectra (what the answers cost).
    """

    seconds: float
    mb: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: what was measured, at which size, on both trees, against which target.

    A limit of None is not judged; a row without limits (a size below the target's) has no verdict.
    """

    work: str
    size: str
    baseline: Cell | None
    current: Cell | None
    target: str = ""
    limit_seconds: float | None = None
    limit_mb: float | None = None
    note: str = ""

    @property
    def judged(self) -> bool:
        return self.limit_seconds is not None or self.limit_mb is not None

    @property
    def verdict(self) -> str:
        """`met`, `missed`, `not run` (a target but no current figure), or "" (nothing to judge)."""
        if not self.judged:
            return ""
        if self.current is None:
            return "not run"
        return "met" if meets(self.current, self) else "missed"


def meets(cell: Cell, row: Row) -> bool:
    """Whether `cell` is within the row's limits (each limit that is set)."""
    if row.limit_seconds is not None and cell.seconds > row.limit_seconds:
        return False
    return row.limit_mb is None or cell.mb <= row.limit_mb


def median(values: Sequence[float]) -> float:
    """The median; of an even count, the mean of the middle two. A ValueError when there is none."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def count(value: int) -> str:
    """1000000 -> "1,000,000": sizes as the table prints them."""
    return f"{value:,}"


def _cell(cell: Cell | None) -> tuple[str, str]:
    if cell is None:
        return ("—", "—")
    return (f"{cell.seconds:.2f}", f"{cell.mb:.0f}" if cell.mb >= 100 else f"{cell.mb:.1f}")


HEADERS = ("work", "size", "baseline s", "baseline MB", "current s", "current MB", "target", "verdict")


def cells(row: Row) -> tuple[str, ...]:
    """The row's columns as text, in the order of HEADERS."""
    return (row.work, row.size, *_cell(row.baseline), *_cell(row.current), row.target, row.verdict)


def render_text(rows: Sequence[Row], *, heading: Sequence[str] = ()) -> str:
    """A fixed-width table, one line per row, each row's note indented under it."""
    table = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = [*heading, ""] if heading else []
    for index, line in enumerate(table):
        # Text columns left, figures right.
        lines.append(
            "  ".join(
                text.ljust(width) if column in {0, 1, 6, 7} else text.rjust(width)
                for column, (text, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if index and rows[index - 1].note:
            lines.append(f"    {rows[index - 1].note}")
    return "\n".join(lines)


def render_markdown(rows: Sequence[Row]) -> str:
    """The table for benchmarks/README.md; verdicts in bold when missed, notes in a last column."""
    lines = [
        "| " + " | ".join((*HEADERS, "note")) + " |",
        "|" + "|".join(("---", "---:", "---:", "---:", "---:", "---:", "---", "---", "---")) + "|",
    ]
    for row in rows:
        texts = list(cells(row))
        if row.verdict == "missed":
            texts[7] = "**missed**"
        lines.append("| " + " | ".join((*texts, row.note)) + " |")
    return "\n".join(lines)


def to_json(rows: Sequence[Row], *, settings: dict[str, Any], extra: dict[str, Any]) -> str:
    """Every row with its verdict, the settings and the run's other figures (answer sizes, machine)."""
    document = {
        "settings": settings,
        **extra,
        "rows": [dataclasses.asdict(row) | {"verdict": row.verdict} for row in rows],
    }
    return json.dumps(document, indent=2)
