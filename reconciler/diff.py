"""The diff: wanted overrides and current results in, plan items out. Pure: no I/O, no clock."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from reconciler.models import Item, OESResult, Override, PeakState, Status, by_entry, element_of

ELEMENT_ONLY = "compared by element only: the server sends no candidate key for this peak"
UNPINNED = "assignment matches but is not pinned (manual: false); the PATCH pins it"


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
) -> Item:
    """An item for `override`, carrying what the server shows of its peak."""
    return Item(
        data_id=override.data_id,
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
    )


def diff_peak(override: Override, peak: PeakState, last_updated: str | None) -> Item:
    """Decide one override against the peak it names."""
    desired = override.candidate_key
    element_note = ELEMENT_ONLY if compared_by_element(peak) else None
    candidates = peak.candidate_keys
    # Before the in-sync check: a listed peak with nothing selected falls back to elements, and would
    # otherwise call any key of the right element in sync.
    if candidates is not None and desired not in candidates:
        listed = ", ".join(sorted(candidates))
        message = f"{desired!r} is not a candidate of this peak (candidates: {listed})"
        return item_for(
            override, Status.INVALID_CANDIDATE, peak=peak, last_updated=last_updated, message=message
        )
    if in_sync(desired, peak):
        return item_for(override, Status.IN_SYNC, peak=peak, last_updated=last_updated, message=element_note)
    reason = element_note or (UNPINNED if matches(desired, peak) else None)
    return item_for(override, Status.CHANGE, peak=peak, last_updated=last_updated, message=reason)


def diff_entry(overrides: Iterable[Override], result: OESResult | None) -> list[Item]:
    """Decide every override of one data entry; `result` None means the entry was not found (404)."""
    if result is None:
        return [item_for(o, Status.ENTRY_NOT_FOUND, message=NO_ENTRY) for o in overrides]
    items = []
    for override in overrides:
        peak = result.peak(override.peak_id)
        if peak is None:
            items.append(
                item_for(
                    override,
                    Status.PEAK_NOT_FOUND,
                    last_updated=result.last_updated,
                    message=peak_not_found(override.peak_id, result.detected_peaks),
                )
            )
        else:
            items.append(diff_peak(override, peak, result.last_updated))
    return items


def peak_not_found(peak_id: str, peaks: Sequence[PeakState]) -> str:
    """Why no peak matched, with the peaks there are, and any that differ from `peak_id` only in form."""
    known = ", ".join(p.peak_id for p in peaks) or "none"
    message = f"the result has no peak {peak_id!r} (peaks: {known})"
    near = lookalikes(peak_id, peaks)
    return f"{message}; did you mean {' or '.join(map(repr, near))}?" if near else message


def lookalikes(peak_id: str, peaks: Iterable[PeakState]) -> list[str]:
    """Ids of `peaks` that read as `peak_id` once Unicode forms, case and surrounding spaces are set aside."""
    wanted = _as_read(peak_id)
    return list(
        dict.fromkeys(p.peak_id for p in peaks if p.peak_id != peak_id and _as_read(p.peak_id) == wanted)
    )


def _as_read(peak_id: str) -> str:
    """A peak id as a person reads it: compatibility forms unified (NFKC: full-width letters and
    digits read as ASCII), invisible format characters (zero-width space, BOM) dropped, case folded,
    spaces around it trimmed.
    """
    text = unicodedata.normalize("NFKC", peak_id)
    text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return unicodedata.normalize("NFKC", text.casefold()).strip()


NO_ENTRY = "no OES result for this data entry (HTTP 404)"


def fetch_failed(overrides: Iterable[Override], reason: str) -> list[Item]:
    """Items for the overrides of an entry whose GET failed after retries."""
    return [item_for(o, Status.FETCH_FAILED, message=reason) for o in overrides]


def diff(overrides: Sequence[Override], results: Mapping[str, OESResult | None]) -> list[Item]:
    """The whole plan: every override decided against its entry's result, sorted by entry then peak."""
    items: list[Item] = []
    for data_id, group in by_entry(overrides).items():
        items.extend(diff_entry(group, results.get(data_id)))
    return items


def verify(item: Item, result: OESResult) -> Item:
    """Judge a PATCH from the result it returned: `applied` only if the wanted candidate shows, pinned.

    The item keeps the state it had before the PATCH (`current`, `element`, `manual`), so reports and
    the audit trail read "from -> to"; a failure's message says what the server shows instead.
    """
    peak = result.peak(item.peak_id)
    if peak is None:
        message = "the PATCH answer no longer lists this peak"
        return replace(item, status=Status.FAILED, message=message, last_updated=result.last_updated)
    if in_sync(item.desired, peak):
        note = ELEMENT_ONLY if compared_by_element(peak) else None
        return replace(item, status=Status.APPLIED, message=note, last_updated=result.last_updated)
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


def recheck(planned: Iterable[Item], result: OESResult | None) -> list[Item]:
    """Re-decide a saved plan's `change` items against the entry as it is now.

    Still as planned: `change` (to be patched). Already as wanted (a rerun after an interrupted apply, or
    someone else did it): `in_sync`. Moved otherwise: `stale`, left alone. Gone: not found.
    """
    if result is None:
        return [replace(item, status=Status.ENTRY_NOT_FOUND, message=NO_ENTRY) for item in planned]
    items = []
    for item in planned:
        peak = result.peak(item.peak_id)
        if peak is None:
            items.append(
                replace(item, status=Status.PEAK_NOT_FOUND, message="the result no longer has this peak")
            )
        elif in_sync(item.desired, peak):
            items.append(
                replace(
                    item, status=Status.IN_SYNC, message="already as wanted", last_updated=result.last_updated
                )
            )
        elif unchanged_since_plan(item, peak):
            items.append(item)
        else:
            was = _state(item.current, item.element, item.manual)
            message = (
                f"changed since the plan: was {was}, now {_state(peak.applied, peak.element, peak.manual)}"
            )
            items.append(replace(item, status=Status.STALE, message=message))
    return items


def _state(current: str | None, element: str | None, manual: bool | None) -> str:
    shown = current or f"element {element}"
    return f"{shown} (manual: {str(bool(manual)).lower()})"
