"""What the record changes in the diff: peak_moved, conflict, element-only matches verified by the record."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.answers import OESResult
from reconciler.diff import (
    ELEMENT_ONLY,
    OVERWRITES,
    UNVERIFIED,
    diff,
    diff_entry,
    recheck,
    verify,
)
from reconciler.models import EntryMemory, Item, LastSet, Override, Status
from tests.factories import (
    ENTRY,
    OTHER,
    override,
    peak_by_element,
    peak_with_key,
    result,
)
from tests.test_diff import CANDIDATES, SHAPES

LAST_UPDATED = "2024-01-15T10:35:00Z"  # what tests.factories.result_doc says


def at(peak: dict[str, Any], wavelength: float | None) -> dict[str, Any]:
    """The peak measured at `wavelength` (None: the server does not say)."""
    return {**peak, "wavelength_nm": wavelength}


def set_by_us(
    key: str = "Ga_403.3",
    *,
    peak_id: str = "p1",
    run_id: int = 12,
    wavelength: float | None = None,
    last_updated_after: str | None = LAST_UPDATED,
) -> EntryMemory:
    """A record saying run `run_id` set `key` on the peak (and the entry's last_updated after it)."""
    last = LastSet(key, run_id, "2026-11-30T07:00:00Z", wavelength)
    return EntryMemory(last_updated_after=last_updated_after, peaks={peak_id: last})


def wanted(key: str = "Ga_417.2", *, wavelength: float | None = None, peak_id: str = "p1") -> Override:
    return replace(override(peak_id, key), wavelength_nm=wavelength)


def one(overrides: Override, res: OESResult, **options: Any) -> Item:
    [item] = diff_entry([overrides], res, **options)
    return item


# --- peak_moved -------------------------------------------------------------------------------------------


def test_peak_far_from_the_files_wavelength_is_peak_moved_naming_the_peaks_near() -> None:
    """A peak further than the tolerance from the file's wavelength is not patched; the message says where
    it is and which peaks now sit near the expected wavelength."""
    res = result(
        at(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES), 451.07),
        at(peak_with_key("p4", "In_451.1", manual=False), 417.18),
        at(peak_with_key("p5", "In_451.1", manual=False), 417.8),
    )
    item = one(wanted(wavelength=417.21), res)
    assert item.status is Status.PEAK_MOVED
    assert item.wavelength_nm == 451.07
    assert item.message == (
        "peak 'p1' is now at 451.07 nm, expected within 0.5 nm of 417.21 nm (the override's "
        "wavelength_nm): reprocessing may have renumbered the peaks; peaks near 417.21 nm now: p4 (417.18 nm)"
    )


def test_peaks_near_are_listed_nearest_first_or_none() -> None:
    """Several peaks in tolerance are listed nearest first; with none near, the message says `none`."""
    res = result(
        at(peak_with_key("p1", "In_451.1", manual=True), 430.0),
        at(peak_with_key("p2", "In_451.1", manual=True), 417.5),
        at(peak_with_key("p3", "In_451.1", manual=True), 417.2),
    )
    several = one(wanted(wavelength=417.21), res).message or ""
    assert several.endswith("peaks near 417.21 nm now: p3 (417.2 nm), p2 (417.5 nm)")
    nothing = one(wanted(wavelength=300.0), res).message or ""
    assert nothing.endswith("peaks near 300 nm now: none")


def test_peak_within_tolerance_is_decided_as_usual() -> None:
    """Within the tolerance (the edge included) the wavelength says nothing: the usual rules decide."""
    res = result(at(peak_with_key("p1", "Ga_417.2", manual=True, candidates=CANDIDATES), 417.7))
    assert one(wanted(wavelength=417.2), res).status is Status.IN_SYNC
    assert one(wanted(wavelength=417.2), res, tolerance=0.25).status is Status.PEAK_MOVED
    assert one(wanted(wavelength=427.0), res, tolerance=10.0).status is Status.IN_SYNC


@pytest.mark.parametrize("server", [None, math.nan, math.inf])
def test_a_wavelength_the_server_does_not_give_cannot_be_checked(server: float | None) -> None:
    """A peak without a wavelength (or NaN, inf): the file's wavelength_nm cannot be checked, so the peak
    is not patched on trust (`peak_moved`, saying why and how to patch it unchecked); the record's
    wavelength alone expects nothing of a server that sends no positions: decided as usual."""
    res = result(at(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES), server))
    item = one(wanted(wavelength=417.21), res)
    assert item.status is Status.PEAK_MOVED
    assert "cannot be checked against the 417.21 nm of the override file" in (item.message or "")
    recorded = one(wanted(), res, memory=set_by_us("Ga_417.2", run_id=7, wavelength=417.0))
    assert recorded.status is not Status.PEAK_MOVED


def test_the_records_wavelength_is_expected_when_the_file_gives_none() -> None:
    """Without a wavelength in the file, the one recorded when oes-reconcile last patched the peak is
    expected; the message says it came from that run."""
    res = result(at(peak_with_key("p1", "Ga_417.2", manual=True, candidates=CANDIDATES), 452.1))
    item = one(wanted(), res, memory=set_by_us("Ga_417.2", run_id=7, wavelength=401.0))
    assert item.status is Status.PEAK_MOVED
    assert "expected within 0.5 nm of 401 nm (where it was when run 7 patched it)" in (item.message or "")
    # The way out when p1 is the peak meant after all: the file's wavelength wins over the record's.
    assert (item.message or "").endswith("write wavelength_nm: 452.1 in the override (export writes it)")


def test_the_files_wavelength_wins_over_the_records() -> None:
    """The file says where the peak is meant to be; the record's wavelength is only the fallback."""
    res = result(at(peak_with_key("p1", "Ga_417.2", manual=True, candidates=CANDIDATES), 452.1))
    memory = set_by_us("Ga_417.2", wavelength=401.0)
    assert one(wanted(wavelength=452.0), res, memory=memory).status is Status.IN_SYNC


def test_without_a_record_the_files_wavelength_still_guards() -> None:
    """No record (memory None) turns off what the record knows, not the file's own wavelength."""
    res = result(at(peak_by_element("p1", "Ga", manual=True), 452.1))
    assert one(wanted(wavelength=417.2), res).status is Status.PEAK_MOVED
    assert one(wanted(), res).status is Status.IN_SYNC


def test_missing_peak_names_the_peaks_near_where_it_was_expected() -> None:
    """A peak id that is gone: peak_not_found, and the peaks near the expected wavelength are named."""
    res = result(at(peak_with_key("p2", "Ga_417.2", manual=False), 417.25))
    item = one(wanted(wavelength=417.21), res)
    assert item.status is Status.PEAK_NOT_FOUND
    assert item.message == (
        "the result has no peak 'p1' (peaks: p2); peaks near 417.21 nm now: p2 (417.25 nm)"
    )
    without = one(wanted(), res)
    assert without.message == "the result has no peak 'p1' (peaks: p2)"


# --- conflict ---------------------------------------------------------------------------------------------


def test_peak_pinned_on_the_platform_since_we_set_it_is_a_conflict_in_every_shape() -> None:
    """Set to X by us, now pinned to Y (neither X nor the wanted key): a conflict saying what, when, now."""
    for shape in SHAPES:
        res = result(shape("p1", "In_451.1", manual=True, candidates=CANDIDATES))
        item = one(wanted(), res, memory=set_by_us("Ga_403.3"))
        assert item.status is Status.CONFLICT, shape.__name__
        assert item.message == (
            "set to Ga_403.3 by run 12 at 2026-11-30T07:00:00Z; now In_451.1 (pinned on the platform "
            "since); apply --overwrite-conflicts patches it anyway"
        )


def test_a_peak_never_set_by_us_is_never_a_conflict() -> None:
    """Without a record of our PATCH of the peak, a pin to another candidate is a change as before."""
    res = result(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES))
    assert one(wanted(), res, memory=EntryMemory()).status is Status.CHANGE
    other_peak = set_by_us("Ga_403.3", peak_id="p2")
    assert one(wanted(), res, memory=other_peak).status is Status.CHANGE


def test_no_conflict_when_unpinned_or_still_ours() -> None:
    """Unpinned (reprocessing, not a person) or still what we set (the file changed since): a change."""
    unpinned = result(peak_with_key("p1", "In_451.1", manual=False, candidates=CANDIDATES))
    ours = result(peak_with_key("p1", "Ga_403.3", manual=True, candidates=CANDIDATES))
    assert one(wanted(), unpinned, memory=set_by_us("Ga_403.3")).status is Status.CHANGE
    assert one(wanted(), ours, memory=set_by_us("Ga_403.3")).status is Status.CHANGE


def test_a_peak_someone_set_to_the_wanted_value_is_in_sync() -> None:
    """Pinned on the platform to what the file wants: someone did it for us, in sync."""
    res = result(peak_with_key("p1", "Ga_417.2", manual=True, candidates=CANDIDATES))
    item = one(wanted(), res, memory=set_by_us("Ga_403.3"))
    assert (item.status, item.message) == (Status.IN_SYNC, None)


def test_overwrite_conflicts_makes_it_a_change_that_says_so() -> None:
    """With --overwrite-conflicts the peak is patched, and the message says it overwrites the edit."""
    res = result(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES))
    item = one(wanted(), res, memory=set_by_us("Ga_403.3"), overwrite_conflicts=True)
    assert item.status is Status.CHANGE
    assert item.message == (
        f"{OVERWRITES}: set to Ga_403.3 by run 12 at 2026-11-30T07:00:00Z; now In_451.1 "
        "(pinned on the platform since)"
    )


def test_overwrite_conflicts_still_refuses_a_key_that_is_not_a_candidate() -> None:
    """Overwriting does not send what the server cannot take: invalid_candidate as ever."""
    res = result(peak_with_key("p1", "In_451.1", manual=True, candidates=("In_451.1", "Ga_403.3")))
    item = one(wanted(), res, memory=set_by_us("Ga_403.3"), overwrite_conflicts=True)
    assert item.status is Status.INVALID_CANDIDATE


def test_element_only_peak_pinned_to_another_element_is_a_conflict() -> None:
    """Compared by element: pinned to an element that is neither the wanted key's nor ours: a conflict."""
    res = result(peak_by_element("p1", "In", manual=True))
    item = one(wanted(), res, memory=set_by_us("Ga_403.3"))
    assert item.status is Status.CONFLICT
    assert "now element In (pinned on the platform since)" in (item.message or "")


def test_element_only_peak_pinned_to_our_element_is_no_conflict() -> None:
    """The element of what we set (or of the wanted key) cannot be told from ours: not a conflict; the
    element rules decide (here: a change, the record does not vouch for the wanted line)."""
    set_in = set_by_us("In_451.1")
    res = result(peak_by_element("p1", "In", manual=True))
    item = one(wanted(), res, memory=set_in)
    assert (item.status, item.message) == (Status.CHANGE, ELEMENT_ONLY)
    ga = result(peak_by_element("p1", "Ga", manual=True))
    assert one(wanted(), ga, memory=set_in).status is Status.CHANGE


# --- element-only peaks -----------------------------------------------------------------------------------


def test_element_match_is_verified_by_the_record() -> None:
    """Set exactly the wanted key by us, entry untouched since: in sync, verified by the record (run N)."""
    res = result(peak_by_element("p1", "Ga", manual=True))
    item = one(wanted(), res, memory=set_by_us("Ga_417.2", run_id=42))
    assert (item.status, item.message, item.verified_by) == (
        Status.IN_SYNC,
        "verified by the record (run 42)",
        42,
    )


def test_two_peaks_patched_in_one_run_are_both_verified() -> None:
    """The entry's last_updated after the run's last PATCH vouches for every peak the run set."""
    res = result(peak_by_element("p1", "Ga", manual=True), peak_by_element("p2", "N2", manual=True))
    last = {
        "p1": LastSet("Ga_417.2", 5, "2026-11-30T07:00:00Z"),
        "p2": LastSet("N2_337.1", 5, "2026-11-30T07:00:01Z"),
    }
    memory = EntryMemory(last_updated_after=LAST_UPDATED, peaks=last)
    items = diff_entry([wanted(), wanted("N2_337.1", peak_id="p2")], res, memory=memory)
    assert [item.verified_by for item in items] == [5, 5]


@pytest.mark.parametrize(
    ("memory", "why"),
    [
        (EntryMemory(), "the record shows no PATCH of this peak"),
        (set_by_us("Ga_403.3"), "the record shows run 12 set Ga_403.3 here, not Ga_417.2"),
        (
            set_by_us("Ga_417.2", last_updated_after="2024-01-01T00:00:00Z"),
            "the entry changed since oes-reconcile last patched it "
            f"(last_updated 2024-01-01T00:00:00Z, now {LAST_UPDATED})",
        ),
        (
            set_by_us("Ga_417.2", last_updated_after=None),
            "the entry changed since oes-reconcile last patched it "
            f"(last_updated unknown, now {LAST_UPDATED})",
        ),
    ],
)
def test_unverified_element_match_is_a_change_saying_why(memory: EntryMemory, why: str) -> None:
    """With a record that does not vouch for the line, an element match is patched to make sure."""
    res = result(peak_by_element("p1", "Ga", manual=True))
    item = one(wanted(), res, memory=memory)
    assert item.status is Status.CHANGE
    assert item.message == f"{UNVERIFIED} ({ELEMENT_ONLY}; {why})"
    assert item.verified_by is None


def test_without_a_record_the_element_comparison_stays() -> None:
    """No record: an element match is in sync, said to be by element only (the first-wave rule)."""
    res = result(peak_by_element("p1", "Ga", manual=True))
    item = one(wanted(), res)
    assert (item.status, item.message, item.verified_by) == (Status.IN_SYNC, ELEMENT_ONLY, None)


def test_keyed_peaks_need_no_verification() -> None:
    """A peak whose server shows the key is in sync on its own, record or not."""
    res = result(peak_with_key("p1", "Ga_417.2", manual=True, candidates=CANDIDATES))
    assert one(wanted(), res, memory=EntryMemory()).status is Status.IN_SYNC


# --- the order of the rules -------------------------------------------------------------------------------


def test_a_moved_peak_is_never_a_conflict() -> None:
    """Moved and pinned to a third candidate since we set it: peak_moved (its candidates are not ours)."""
    res = result(at(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES), 451.0))
    item = one(wanted(), res, memory=set_by_us("Ga_403.3", wavelength=403.3), overwrite_conflicts=True)
    assert item.status is Status.PEAK_MOVED


def test_moved_comes_before_invalid_candidate() -> None:
    """A moved peak's candidates say nothing about the override: peak_moved, not invalid_candidate."""
    res = result(at(peak_with_key("p1", "In_451.1", manual=True, candidates=("In_451.1",)), 451.0))
    assert one(wanted(wavelength=417.2), res).status is Status.PEAK_MOVED


def test_conflict_comes_before_invalid_candidate_and_element_verification() -> None:
    """A platform edit is reported as such before the wanted key's own problems, and before an element
    comparison could call the peak a change."""
    listed = result(peak_with_key("p1", "In_451.1", manual=True, candidates=("In_451.1", "Ga_403.3")))
    assert one(wanted(), listed, memory=set_by_us("Ga_403.3")).status is Status.CONFLICT
    by_element = result(peak_by_element("p1", "In", manual=True))
    assert one(wanted(), by_element, memory=set_by_us("Ga_403.3")).status is Status.CONFLICT


KEYS = st.sampled_from(CANDIDATES)
SHAPE = st.sampled_from((*SHAPES, "element"))


def peak_of(shape: Any, applied: str, manual: bool, wavelength: float | None) -> dict[str, Any]:
    if shape == "element":
        peak = peak_by_element("p1", applied.rpartition("_")[0], manual=manual)
    else:
        peak = shape("p1", applied, manual=manual, candidates=CANDIDATES)
    return at(peak, wavelength)


MEMORIES = st.one_of(
    st.none(),
    st.just(EntryMemory()),
    st.builds(
        lambda key, wavelength, same: set_by_us(
            key, wavelength=wavelength, last_updated_after=LAST_UPDATED if same else "2020-01-01T00:00:00Z"
        ),
        KEYS,
        st.none() | st.floats(300, 500),
        st.booleans(),
    ),
)


@given(
    shape=SHAPE,
    applied=KEYS,
    desired=KEYS,
    manual=st.booleans(),
    now=st.floats(300, 500),
    expected=st.floats(300, 500),
    memory=MEMORIES,
    overwrite=st.booleans(),
)
def test_a_peak_further_than_the_tolerance_is_always_peak_moved(
    *,
    shape: Any,
    applied: str,
    desired: str,
    manual: bool,
    now: float,
    expected: float,
    memory: EntryMemory | None,
    overwrite: bool,
) -> None:
    """Whatever the peak holds and the record says, the file's wavelength decides first."""
    res = result(peak_of(shape, applied, manual, now))
    item = one(wanted(desired, wavelength=expected), res, memory=memory, overwrite_conflicts=overwrite)
    assert (item.status is Status.PEAK_MOVED) == (abs(now - expected) > 0.5)


@given(shape=SHAPE, applied=KEYS, desired=KEYS, manual=st.booleans(), memory=MEMORIES)
def test_conflict_only_where_we_set_the_peak_and_it_is_pinned_to_neither(
    shape: Any, applied: str, desired: str, manual: bool, memory: EntryMemory | None
) -> None:
    """conflict iff the record says we set X, the peak is pinned, and it holds neither X nor the wanted
    key (by element where the server shows only elements); never when it holds the wanted key."""
    res = result(peak_of(shape, applied, manual, None))
    item = one(wanted(desired), res, memory=memory)
    last = memory.peaks.get("p1") if memory is not None else None
    if shape == "element":
        ours = last is not None and applied.rpartition("_")[0] in {
            desired.rpartition("_")[0],
            last.candidate_key.rpartition("_")[0],
        }
    else:
        ours = last is not None and applied in {desired, last.candidate_key}
    assert (item.status is Status.CONFLICT) == (last is not None and manual and not ours)


@given(shape=SHAPE, applied=KEYS, desired=KEYS, manual=st.booleans())
def test_an_empty_record_differs_from_none_only_on_element_matches(
    shape: Any, applied: str, desired: str, manual: bool
) -> None:
    """With a record that knows nothing of the entry, every decision is the first wave's, except that an
    element-only match is patched to make sure instead of trusted."""
    res = result(peak_of(shape, applied, manual, 401.0))
    without = one(wanted(desired), res)
    empty = one(wanted(desired), res, memory=EntryMemory())
    if shape == "element" and without.status is Status.IN_SYNC:
        assert empty.status is Status.CHANGE
    else:
        assert empty == without


# --- after the diff: the whole plan, verify, saved plans ----------------------------------------------------


def test_the_whole_plan_takes_the_record_per_entry() -> None:
    """diff() hands each entry its own memory; an entry the record lacks gets an empty one."""
    results = {
        ENTRY: result(peak_by_element("p1", "Ga", manual=True)),
        OTHER: result(peak_by_element("p1", "Ga", manual=True), data_id=OTHER),
    }
    overrides = [override("p1"), override("p1", data_id=OTHER)]
    items = diff(overrides, results, memory={ENTRY: set_by_us("Ga_417.2")})
    assert [(item.data_id, item.status) for item in items] == [
        (OTHER, Status.CHANGE),
        (ENTRY, Status.IN_SYNC),
    ]
    assert {item.status for item in diff(overrides, results)} == {Status.IN_SYNC}


def test_verify_keeps_saying_element_only_and_overwritten() -> None:
    """An applied element-only peak still says it was compared by element; an overwrite still says so."""
    res = result(peak_by_element("p1", "Ga", manual=True))
    [change] = diff_entry([wanted()], res, memory=EntryMemory())
    assert verify(change, res).message == ELEMENT_ONLY
    conflicted = result(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES))
    [overwrite] = diff_entry([wanted()], conflicted, memory=set_by_us(), overwrite_conflicts=True)
    done = verify(overwrite, result(peak_with_key("p1", "Ga_417.2", manual=True, candidates=CANDIDATES)))
    assert done.status is Status.APPLIED
    assert done.message == overwrite.message
    assert (done.current, done.wavelength_nm) == ("In_451.1", 401.0)  # the state before the PATCH


def test_saved_unverified_element_match_is_still_patched() -> None:
    """apply --plan: an element match the plan chose to patch reads as in sync by element, yet is patched."""
    res = result(peak_by_element("p1", "Ga", manual=True))
    [planned] = diff_entry([wanted()], res, memory=EntryMemory())
    assert recheck([planned], res) == [planned]


def test_saved_change_of_a_peak_that_moved_since_the_plan_is_stale() -> None:
    """apply --plan: a peak further than the tolerance from where the plan saw it is stale, untouched."""
    res = result(at(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES), 417.2))
    [planned] = diff_entry([wanted("Ga_403.3")], res)
    moved = result(at(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES), 430.0))
    [item] = recheck([planned], moved)
    assert (item.status, item.message) == (
        Status.STALE,
        "moved since the plan: was at 417.2 nm, now at 430 nm",
    )
    assert recheck([planned], moved, tolerance=20.0) == [planned]
