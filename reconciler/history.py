"""The `history` command: what the record holds for an endpoint, newest first, as text or JSON."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from reconciler.audit import UNKNOWN
from reconciler.record import PatchRow, Record, RunRow

T = TypeVar("T")
OUTCOME_UNKNOWN = "outcome unknown"  # a PATCH whose run was killed (or is running) before its outcome
NOT_FINISHED = "not finished"  # a run killed, or still running


@dataclass(frozen=True)
class History:
    """Runs and PATCHes, newest first; `patches` is None when only runs were asked for."""

    runs: list[RunRow]
    patches: list[PatchRow] | None


def read_history(
    record: Record,
    endpoints: Sequence[str],
    *,
    data_id: str | None = None,
    peak_id: str | None = None,
    runs_only: bool = False,
    limit: int | None = None,
) -> History:
    """The runs and PATCHes at `endpoints` (usually one); with `data_id`, only that entry's PATCHes (or
    peak's, with `peak_id`) and the runs that made them."""
    patches: list[PatchRow] | None = None
    if data_id is not None or not runs_only:
        patches = _newest(
            (record.patches(e, data_id=data_id, peak_id=peak_id, limit=limit) for e in endpoints),
            key=lambda patch: patch.id,
            limit=limit,
        )
    runs = _newest((record.runs(e) for e in endpoints), key=lambda run: run.run_id, limit=None)
    if data_id is not None:
        assert patches is not None
        touched = {patch.run_id for patch in patches}
        runs = [run for run in runs if run.run_id in touched]
    return History(runs=runs[:limit] if limit is not None else runs, patches=None if runs_only else patches)


def _newest(lists: Iterable[list[T]], *, key: Callable[[T], int], limit: int | None) -> list[T]:
    """Lists each sorted newest first, merged into one (the record's ids grow with time)."""
    merged = list(heapq.merge(*lists, key=key, reverse=True))
    return merged[:limit] if limit is not None else merged


def history_json(history: History) -> dict[str, Any]:
    """`{"runs": [...], "patches": [...]}` (no `patches` when only runs were asked for)."""
    document: dict[str, Any] = {"runs": [_run_json(run) for run in history.runs]}
    if history.patches is not None:
        document["patches"] = [_patch_json(patch) for patch in history.patches]
    return document


def _run_json(run: RunRow) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "command": run.command,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "exit_code": run.exit_code,
        "endpoint": run.endpoint,
        "sources": list(run.sources),
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
        "counts": None if run.counts is None else dict(run.counts),
    }


def _patch_json(patch: PatchRow) -> dict[str, Any]:
    return {
        "run_id": patch.run_id,
        "data_id": patch.data_id,
        "peak_id": patch.peak_id,
        "from": patch.from_candidate,
        "to": patch.to_candidate,
        "status": patch.status,
        "at": patch.at,
        "element": patch.element,
        "manual": patch.manual,
        "wavelength_nm": patch.wavelength_nm,
        "http_status": patch.http_status,
        "attempts": patch.attempts,
        "sent_at": patch.sent_at,
        "finished_at": patch.finished_at,
        "last_updated_after": patch.last_updated_after,
        "message": patch.message,
    }


# --- Text -----------------------------------------------------------------------------------------------


def write_history_text(history: History, out: TextIO, *, where: str) -> None:
    """Two tables, runs then PATCHes, each newest first; `where` names the record and endpoint."""
    if not history.runs and not history.patches:
        out.write(f"Nothing recorded for {where}.\n")
        return
    out.write(f"Runs at {where}, newest first:\n")
    _table(
        out,
        ("RUN", "COMMAND", "STARTED", "FINISHED", "EXIT", "OUTCOME", "SOURCES"),
        map(_run_cells, history.runs),
    )
    if history.patches is None:
        return
    out.write("\nPATCHes, newest first:\n")
    _table(out, ("RUN", "DATA_ID", "PEAK", "FROM -> TO", "STATUS", "AT"), map(_patch_cells, history.patches))
    for patch in history.patches:
        if patch.message and patch.status != "applied":
            out.write(f"  run {patch.run_id} {patch.data_id} {patch.peak_id}: {patch.message}\n")


def _table(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    lines = [list(header), *(list(row) for row in rows)]
    if len(lines) == 1:
        out.write("  (none)\n")
        return
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for line in lines:
        cells = [
            cell.rjust(width) if column == 0 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.write(("  " + "  ".join(cells)).rstrip() + "\n")


def _run_cells(run: RunRow) -> list[str]:
    finished = run.finished_at or NOT_FINISHED
    exit_code = "-" if run.exit_code is None else str(run.exit_code)
    return [str(run.run_id), run.command, run.started_at, finished, exit_code, _counts(run), _sources(run)]


def _counts(run: RunRow) -> str:
    if run.counts is None:
        return "-"
    shown = [f"{run.counts[name]} {name}" for name in ("applied", "failed", "errors") if run.counts.get(name)]
    return ", ".join(shown) or "nothing to do"


def _sources(run: RunRow) -> str:
    sources = " ".join(run.sources)
    if run.git_commit is None:
        return sources
    dirty = ", dirty" if run.git_dirty else ""
    return f"{sources} ({run.git_commit[:12]}{dirty})"


def _patch_cells(patch: PatchRow) -> list[str]:
    before = patch.from_candidate or (f"{patch.element} (element)" if patch.element else "(none)")
    status = OUTCOME_UNKNOWN if patch.status == UNKNOWN else patch.status
    return [
        str(patch.run_id),
        patch.data_id,
        patch.peak_id,
        f"{before} -> {patch.to_candidate}",
        status,
        patch.at,
    ]
