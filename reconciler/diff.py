"""The diff: wanted overrides, current results and the record in, plan items out. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import NamedTuple

from reconciler.answers import OESResult, PeakState
from reconciler.identity import DEFAULT_WAVELENGTH_TOLERANCE, known, nm, peak_moved, peak_not_found
from reconciler.models import EntryMemory, Item, LastSet, Override, Status, by_entry, element_of

ELEMENT_ONLY = "compared by element only: the server sends no candidate key for this peak"
UNPINNED = "assignment matches but is not pinned (manual: false); the PATCH pins it"
VERIFIED = "verified by the record"
UNVERIFIED = "line cannot be verified; patching to make sure"
OVERWRITES = "overwrites the platform edit"


def matches(desired: str, peak: PeakState) -> bool:
    """Whether the peak's applied candidate is `desired` (by element, when that is all the server gives)."""
    applied = peak.applied
    if applied is not None:
        return applied == desired
    return peak.element is not None and element_of(desired) == peak.element


def in_sync(desired: str, peak: PeakState) -> bool:
    """In sync: the wanted candidate is applied and pinned, so it survives reprocessing."""
    return peak.manual and matches(desired, peak)


def compared_by_element(peak: PeakState) -> bool:
    return peak.applied is None


def item_for(
    override: Override,
    status: Status,
    *,
    peak: PeakState | None = None,
    last_updated: str | None = None,
    message: str | None = None,
    verified_by: int | None = None,
    data_id: str | None = None,
) -> Item:
    """An item for `override`, carrying what the server shows of its peak; `data_id`, when given, is the
    entry's id as one string its items share (a million items need not hold a copy each)."""
    return Item(
        data_id=data_id or override.data_id,
        peak_id=override.peak_id,
        desired=override.candidate_key,
        status=status,
        source=override.source,
        note=override.note,
        current=peak.applied if peak else None,
        element=peak.element if peak else None,
        manual=peak.manual if peak else None,
        message=message,
        last_updated=last_updated,
        wavelength_nm=peak.wavelength_nm if peak else None,
        verified_by=verified_by,
    )


class Verdict(NamedTuple):
    """What the rules decide for one peak: the status, why, and the run that vouches for an element match."""

    status: Status
    message: str | None = None
    verified_by: int | None = None


def diff_peak(
    override: Override,
    peak: PeakState,
    result: OESResult,
    *,
    memory: EntryMemory | None = None,
    tolerance: float = DEFAULT_WAVELENGTH_TOLERANCE,
    overwrite_conflicts: bool = False,
    data_id: str | None = None,
) -> Item:
    """Decide one override against the peak it names, the rules in the order `diff_entry` gives."""
    last = memory.peaks.get(override.peak_id) if memory is not None else None
    moved = peak_moved(override, peak, result.detected_peaks, last=last, tolerance=tolerance)
    if moved is not None:
        verdict = Verdict(Status.PEAK_MOVED, moved)
    else:
        verdict = _verdict(
            override.candidate_key,
            peak,
            memory=memory,
            last=last,
            last_updated=result.last_updated,
            overwrite_conflicts=overwrite_conflicts,
        )
    return item_for(
        override,
        verdict.status,
        peak=peak,
        last_updated=result.last_updated,
        message=verdict.message,
        verified_by=verdict.verified_by,
        data_id=data_id,
    )


def _verdict(
    desired: str,
    peak: PeakState,
    *,
    memory: EntryMemory | None,
    last: LastSet | None,
    last_updated: str | None,
    overwrite_conflicts: bool,
) -> Verdict:
    """The rules after `peak_moved`: conflict, invalid candidate, in sync, change."""
    conflict = conflict_with(desired, peak, last)
    if conflict is not None and not overwrite_conflicts:
        return Verdict(Status.CONFLICT, f"{conflict}; apply --overwrite-conflicts patches it anyway")
    candidates = peak.candidate_keys
    # Before the in-sync check: a listed peak with nothing selected falls back to elements, and would
    # otherwise call any key of the right element in sync.
    if candidates is not None and desired not in candidates:
        listed = ", ".join(sorted(candidates))
        message = f"{desired!r} is not a candidate of this peak (candidates: {listed})"
        return Verdict(Status.INVALID_CANDIDATE, message)
    if in_sync(desired, peak):
        return _matched(desired, peak, memory=memory, last=last, last_updated=last_updated)
    if conflict is not None:
        return Verdict(Status.CHANGE, f"{OVERWRITES}: {conflict}")
    element_note = ELEMENT_ONLY if compared_by_element(peak) else None
    return Verdict(Status.CHANGE, element_note or (UNPINNED if matches(desired, peak) else None))


def _matched(
    desired: str,
    peak: PeakState,
    *,
    memory: EntryMemory | None,
    last: LastSet | None,
    last_updated: str | None,
) -> Verdict:
    """The wanted candidate shows, pinned. Compared by element, only the record can vouch for the line;
    without a record the first-wave element comparison holds."""
    if not compared_by_element(peak):
        return Verdict(Status.IN_SYNC)
    if memory is None:
        return Verdict(Status.IN_SYNC, ELEMENT_ONLY)
    if last is not None and verified(desired, last, memory, last_updated):
        return Verdict(Status.IN_SYNC, f"{VERIFIED} (run {last.run_id})", verified_by=last.run_id)
    return Verdict(Status.CHANGE, unverified(desired, last, memory, last_updated))


def conflict_with(desired: str, peak: PeakState, last: LastSet | None) -> str | None:
    """Someone pinned this peak on the platform since oes-reconcile set it, to neither the wanted candidate
    nor the one oes-reconcile set: what we set, when, and what it is now; else None.

    A peak the record never saw set is no conflict. Where the server shows only the element, elements are
    compared: a pin to the wanted key's element or the set one's cannot be told from ours.
    """
    if last is None or not peak.manual:
        return None
    applied = peak.applied
    if applied is not None:
        if applied in (desired, last.candidate_key):
            return None
        now = applied
    else:
        if peak.element is None or peak.element in (element_of(desired), element_of(last.candidate_key)):
            return None
        now = f"element {peak.element}"
    return (
        f"set to {last.candidate_key} by run {last.run_id} at {last.at}; "
        f"now {now} (pinned on the platform since)"
    )


def verified(desired: str, last: LastSet, memory: EntryMemory, last_updated: str | None) -> bool:
    """An element-only match the record vouches for: oes-reconcile set exactly `desired` on the peak, and
    the entry is untouched since its last PATCH of the entry (whichever peak)."""
    return (
        last.candidate_key == desired
        and memory.last_updated_after is not None
        and memory.last_updated_after == last_updated
    )


def unverified(desired: str, last: LastSet | None, memory: EntryMemory, last_updated: str | None) -> str:
    """Why the record cannot vouch for an element-only match, after the spec's words."""
    if last is None:
        why = "the record shows no PATCH of this peak"
    elif last.candidate_key != desired:
        why = f"the record shows run {last.run_id} set {last.candidate_key} here, not {desired}"
    else:
        then = memory.last_updated_after or "unknown"
        why = (
            f"the entry changed since oes-reconcile last patched it (last_updated {then}, now {last_updated})"
        )
    return f"{UNVERIFIED} ({ELEMENT_ONLY}; {why})"


def diff_entry(
    overrides: Iterable[Override],
    result: OESResult | None,
    *,
    memory: EntryMemory | None = None,
    tolerance: float = DEFAULT_WAVELENGTH_TOLERANCE,
    overwrite_conflicts: bool = False,
) -> list[Item]:
    """Decide every override of one data entry; `result` None means the entry was not found (404).

    `memory` is what the record holds of the entry; None when there is no record (`--no-state`, or a
    plan without a database): then the first-wave rules hold. Per peak, in this order:
    1. `peak_moved`: further than `tolerance` from the file's `wavelength_nm`, else the record's;
    2. `conflict`: pinned on the platform to neither the wanted key nor what oes-reconcile last set
       (`overwrite_conflicts`: a change that says it overwrites the edit);
    3. `invalid_candidate`, then in sync or a change; an element-only match is in sync only when the
       record vouches for it (with a record), else a change that patches to make sure.
    """
    if result is None:
        return [item_for(o, Status.ENTRY_NOT_FOUND, message=NO_ENTRY) for o in overrides]
    items: list[Item] = []
    for override in overrides:
        data_id = items[0].data_id if items and items[0].data_id == override.data_id else None
        peak = result.peak(override.peak_id)
        if peak is None:
            last = memory.peaks.get(override.peak_id) if memory is not None else None
            message = peak_not_found(override, result.detected_peaks, last=last, tolerance=tolerance)
            item = item_for(
                override,
                Status.PEAK_NOT_FOUND,
                last_updated=result.last_updated,
                message=message,
                data_id=data_id,
            )
        else:
            item = diff_peak(
                override,
                peak,
                result,
                memory=memory,
                tolerance=tolerance,
                overwrite_conflicts=overwrite_conflicts,
                data_id=data_id,
            )
        items.append(item)
    return items


NO_ENTRY = "no OES result for this data entry (HTTP 404)"


def fetch_failed(overrides: Iterable[Override], reason: str) -> list[Item]:
    """Items for the overrides of an entry whose GET failed after retries."""
    return [item_for(o, Status.FETCH_FAILED, message=reason) for o in overrides]


def diff(
    overrides: Sequence[Override],
    results: Mapping[str, OESResult | None],
    *,
    memory: Mapping[str, EntryMemory] | None = None,
    tolerance: float = DEFAULT_WAVELENGTH_TOLERANCE,
    overwrite_conflicts: bool = False,
) -> list[Item]:
    """The whole plan: every override decided against its entry's result, sorted by entry then peak.

    `memory` maps data ids to what the record holds of them (an entry it lacks: an empty memory); None
    means no record at all."""
    items: list[Item] = []
    for data_id, group in by_entry(overrides).items():
        remembered = None if memory is None else memory.get(data_id, EntryMemory())
        items.extend(
            diff_entry(
                group,
                results.get(data_id),
                memory=remembered,
                tolerance=tolerance,
                overwrite_conflicts=overwrite_conflicts,
            )
        )
    return items


def verify(item: Item, result: OESResult) -> Item:
    """Judge a PATCH from the result it returned: `applied` only if the wanted candidate shows, pinned.

    The item keeps the state it had before the PATCH (`current`, `element`, `manual`, `wavelength_nm`), so
    reports and the record read "from -> to"; a failure's message says what the server shows instead. An
    applied item still says when it was compared by element only, and when it overwrote a platform edit.
    """
    peak = result.peak(item.peak_id)
    if peak is None:
        message = "the PATCH answer no longer lists this peak"
        return replace(item, status=Status.FAILED, message=message, last_updated=result.last_updated)
    if in_sync(item.desired, peak):
        notes = [ELEMENT_ONLY] if compared_by_element(peak) else []
        if item.message is not None and item.message.startswith(OVERWRITES):
            notes.append(item.message)
        said = "; ".join(notes) or None
        return replace(item, status=Status.APPLIED, message=said, last_updated=result.last_updated)
    shown = peak.applied or f"element {peak.element}"
    refusal = f"the server accepted the PATCH but shows {shown}, manual: {str(peak.manual).lower()}"
    return replace(item, status=Status.FAILED, message=refusal, last_updated=result.last_updated)


def unchanged_since_plan(planned: Item, peak: PeakState) -> bool:
    """Whether a peak is still what a saved plan recorded: applied candidate (or element) and `manual`."""
    if planned.current is not None or peak.applied is not None:
        same_assignment = planned.current == peak.applied
    else:
        same_assignment = planned.element == peak.element
    return same_assignment and planned.manual == peak.manual


def recheck(
    planned: Iterable[Item], result: OESResult | None, *, tolerance: float = DEFAULT_WAVELENGTH_TOLERANCE
) -> list[Item]:
    """Re-decide a saved plan's `change` items against the entry as it is now.

    Still as planned: `change` (to be patched). Already as wanted (a rerun after an interrupted apply, or
    someone else did it): `in_sync`. Moved otherwise, or further than `tolerance` from the wavelength the
    plan saw: `stale`, left alone. Gone: not found.
    """
    if result is None:
        return [replace(item, status=Status.ENTRY_NOT_FOUND, message=NO_ENTRY) for item in planned]
    return [_recheck_item(item, result, tolerance=tolerance) for item in planned]


def _recheck_item(item: Item, result: OESResult, *, tolerance: float) -> Item:
    peak = result.peak(item.peak_id)
    if peak is None:
        return replace(item, status=Status.PEAK_NOT_FOUND, message="the result no longer has this peak")
    then, now = item.wavelength_nm, peak.wavelength_nm
    if then is not None and now is not None and known(then) and known(now) and abs(now - then) > tolerance:
        message = f"moved since the plan: was at {nm(then)} nm, now at {nm(now)} nm"
        return replace(item, status=Status.STALE, message=message)
    # Unchanged first: an element-only match the plan chose to patch (the record could not vouch for
    # its line) still reads as in sync by element, yet is to be patched.
    if unchanged_since_plan(item, peak):
        return item
    if in_sync(item.desired, peak):
        return replace(
            item, status=Status.IN_SYNC, message="already as wanted", last_updated=result.last_updated
        )
    was = _state(item.current, item.element, item.manual)
    message = f"changed since the plan: was {was}, now {_state(peak.applied, peak.element, peak.manual)}"
    return replace(item, status=Status.STALE, message=message)


def _state(current: str | None, element: str | None, manual: bool | None) -> str:
    shown = current or f"element {element}"
    return f"{shown} (manual: {str(bool(manual)).lower()})"
