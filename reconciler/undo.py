"""The `undo` command: an override file that sets back every peak a run applied, built from the record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.audit import UNKNOWN
from reconciler.errors import InputError
from reconciler.overrides import render_csv, render_yaml
from reconciler.overrides.rules import Assignment
from reconciler.record import APPLIED, PatchRow, Record, RunRow

HISTORY_HINT = "oes-reconcile history --runs lists the runs"


@dataclass(frozen=True, slots=True)
class Unrestorable:
    """A peak a run changed whose earlier candidate the record does not know, and why."""

    data_id: str
    peak_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.data_id} {self.peak_id}: {self.reason}"


@dataclass(frozen=True)
class Undo:
    """What restores a run: each peak's earlier candidate with a note, and what cannot be restored."""

    run: RunRow
    restore: dict[str, dict[str, Assignment]] = field(default_factory=dict)
    unrestorable: list[Unrestorable] = field(default_factory=list)
    changed_later: dict[tuple[str, str], int] = field(default_factory=dict)


def find_run(record: Record, endpoints: Sequence[str], *, run_id: int | None) -> RunRow:
    """The run `run_id` at the endpoint in use, or (None) its last `apply`; an InputError if there is none."""
    if run_id is not None:
        for endpoint in endpoints:
            run = record.run(endpoint, run_id)
            if run is not None:
                return run
        raise InputError(
            f"no run {run_id} in the record {record.path} for {_where(endpoints)}; {HISTORY_HINT}"
        )
    last = [runs[0] for endpoint in endpoints if (runs := record.runs(endpoint, command="apply", limit=1))]
    if not last:
        raise InputError(f"no apply run in the record {record.path} for {_where(endpoints)}")
    return max(last, key=lambda run: run.run_id)


def _where(endpoints: Sequence[str]) -> str:
    return " ".join(endpoints) if endpoints else "the in-process sandbox"


def plan_undo(record: Record, run: RunRow) -> Undo:
    """Every peak the run applied (or may have: outcome unknown) set back to the candidate it had before,
    with the peak's wavelength as the server measured it then (a peak since renumbered is `peak_moved`).

    A run that applied nothing is an InputError: there is nothing to undo.
    """
    patches = record.patches(run.endpoint, run_id=run.run_id)
    changed = [patch for patch in patches if patch.status in (APPLIED, UNKNOWN)]
    if not changed:
        what = (
            f"{len(patches)} PATCH{'es' if len(patches) != 1 else ''}, none applied"
            if patches
            else "no PATCH"
        )
        raise InputError(
            f"run {run.run_id} applied nothing ({what}); there is nothing to undo. {HISTORY_HINT}"
        )
    first: dict[tuple[str, str], PatchRow] = {}
    for patch in changed:  # newest first: the one kept is the run's first PATCH of the peak
        first[(patch.data_id, patch.peak_id)] = patch
    later = record.applied_later(run.endpoint, run.run_id)
    undo = Undo(run=run, changed_later={peak: run_id for peak, run_id in later.items() if peak in first})
    for (data_id, peak_id), patch in sorted(first.items()):
        if patch.from_candidate is None:
            undo.unrestorable.append(Unrestorable(data_id, peak_id, _unknown_before(patch)))
            continue
        note = _note(patch, later=undo.changed_later.get((data_id, peak_id)))
        undo.restore.setdefault(data_id, {})[peak_id] = Assignment(
            patch.from_candidate, wavelength_nm=patch.wavelength_nm, note=note
        )
    if not undo.restore:
        reasons = "; ".join(map(str, undo.unrestorable))
        raise InputError(f"run {run.run_id} cannot be undone: no earlier candidate is known ({reasons})")
    return undo


def _unknown_before(patch: PatchRow) -> str:
    if patch.element is not None:
        return (
            f"its candidate before run {patch.run_id} is unknown: the server showed only the element "
            f"{patch.element}, no candidate key (run {patch.run_id} set {patch.to_candidate})"
        )
    return f"it had no candidate before run {patch.run_id} (run {patch.run_id} set {patch.to_candidate})"


def _note(patch: PatchRow, *, later: int | None) -> str:
    if patch.from_candidate == patch.to_candidate:
        parts = [f"undo of run {patch.run_id}, which only pinned it"]
    else:
        parts = [f"undo of run {patch.run_id}, which set {patch.to_candidate}"]
    if patch.manual is False:
        parts.append(
            f"was not pinned before; the API cannot unpin: it stays pinned to {patch.from_candidate}"
        )
    if patch.status == UNKNOWN:
        parts.append(f"run {patch.run_id} was stopped before this PATCH's outcome was known")
    if later is not None:
        parts.append(f"run {later} changed it again since")
    return "; ".join(parts)


def render_undo(undo: Undo, *, format: str) -> str:
    """The override file: YAML with the reasons in its opening comment, or CSV (which has no comments)."""
    if format == "csv":
        return render_csv(undo.restore)
    return render_yaml(undo.restore, comments=comments(undo))


def comments(undo: Undo) -> list[str]:
    """The YAML file's opening comment: which run it undoes, what it cannot restore, what changed since."""
    run = undo.run
    lines = [f"Undo of run {run.run_id} ({run.command}, started {run.started_at}) against {run.endpoint}"]
    if run.sources:
        commit = f" (git commit {run.git_commit}{', work tree dirty' if run.git_dirty else ''})"
        lines.append(f"Its sources: {' '.join(run.sources)}{commit if run.git_commit else ''}")
    lines += [
        "Each peak it applied is set back to the candidate it had before. Nothing was sent:",
        "review this file, commit it, then apply it like any other.",
    ]
    if undo.unrestorable:
        lines.append("Not restored (the candidate before the run is unknown):")
        lines.extend(f"  {peak}" for peak in undo.unrestorable)
    if undo.changed_later:
        lines.append("Changed again by a later run (this file still sets them back to before this run):")
        lines.extend(
            f"  {data_id} {peak_id}: run {later}"
            for (data_id, peak_id), later in sorted(undo.changed_later.items())
        )
    return lines
