"""Domain values: overrides from files, peak states from the API, and the items of a plan or report."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class Override:
    """One wanted assignment: peak `peak_id` of entry `data_id` should carry `candidate_key`, pinned."""

    data_id: str
    peak_id: str
    candidate_key: str
    path: str
    line: int
    note: str | None = None
    # Where the peak was measured when the override was written (export writes it): a peak found further
    # than --wavelength-tolerance from it is not the peak the override meant (`peak_moved`).
    wavelength_nm: float | None = None

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


def element_of(candidate_key: str) -> str:
    """The element of a candidate key: the text before its last `_` (`N2_337.1` -> `N2`)."""
    element, sep, _line = candidate_key.rpartition("_")
    return element if sep else candidate_key


class Status(enum.StrEnum):
    """What happened, or would happen, to one override; the words are the reports'."""

    IN_SYNC = "in_sync"
    CHANGE = "change"
    APPLIED = "applied"
    FAILED = "failed"
    STALE = "stale"
    ENTRY_NOT_FOUND = "entry_not_found"
    PEAK_NOT_FOUND = "peak_not_found"
    INVALID_CANDIDATE = "invalid_candidate"
    FETCH_FAILED = "fetch_failed"
    CONFLICT = "conflict"
    PEAK_MOVED = "peak_moved"

    @property
    def is_error(self) -> bool:
        return self in ERROR_STATUSES


ERROR_STATUSES = frozenset(
    {
        Status.ENTRY_NOT_FOUND,
        Status.PEAK_NOT_FOUND,
        Status.INVALID_CANDIDATE,
        Status.FETCH_FAILED,
        Status.CONFLICT,
        Status.PEAK_MOVED,
    }
)


@dataclass(frozen=True, slots=True)
class Item:
    """One override's line in a plan or report: what is wanted, what the server shows, and the status."""

    data_id: str
    peak_id: str
    desired: str
    status: Status
    source: str
    note: str | None = None
    current: str | None = None
    element: str | None = None
    manual: bool | None = None
    message: str | None = None
    last_updated: str | None = None
    wavelength_nm: float | None = None  # where the server measured the peak, when it says
    # An element-only peak found in sync through the record: the run whose PATCH it still shows. It is
    # then a full match (the record saw the line), not an element-only one.
    verified_by: int | None = None

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.data_id, self.peak_id)


@dataclass(frozen=True, slots=True)
class PatchRecord:
    """One PATCH outcome, for the audit log: the item as it ended, what it was before, how it went.

    `known` is False when the PATCH was abandoned on the wire: the server may or may not have made it.
    """

    item: Item
    previous: str | None
    http_status: int | None
    attempts: int
    known: bool = True


@dataclass(frozen=True, slots=True)
class LastSet:
    """What the record says oes-reconcile last set on a peak: the candidate, in which run, when, and the
    peak's `wavelength_nm` as the server showed it then."""

    candidate_key: str
    run_id: int
    at: str
    wavelength_nm: float | None = None


@dataclass(frozen=True)
class EntryMemory:
    """The record of one data entry: `last_updated` as the server answered oes-reconcile's last PATCH of
    the entry (whichever peak), and per peak what oes-reconcile last set there."""

    last_updated_after: str | None = None
    peaks: Mapping[str, LastSet] = field(default_factory=dict)


class HasPeak(Protocol):
    """Anything that names a peak of a data entry: an override, an item."""

    @property
    def data_id(self) -> str: ...

    @property
    def peak_id(self) -> str: ...


P = TypeVar("P", bound=HasPeak)


def by_entry(values: Iterable[P]) -> dict[str, list[P]]:
    """Grouped by data entry, entries and peaks in sorted order."""
    groups: dict[str, list[P]] = {}
    for value in sorted(values, key=lambda v: (v.data_id, v.peak_id)):
        groups.setdefault(value.data_id, []).append(value)
    return groups
