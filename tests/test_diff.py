"""The diff decides every status from wanted overrides and current results, with no server."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.answers import PeakState
from reconciler.diff import ELEMENT_ONLY, UNPINNED, diff, diff_entry, unchanged_since_plan, verify
from reconciler.models import Item, Status
from tests.factories import (
    ENTRY,
    OTHER,
    override,
    peak_by_element,
    peak_with_key,
    peak_with_list,
    peak_with_map,
    result,
)

SHAPES = (peak_with_key, peak_with_map, peak_with_list)
CANDIDATES = ("Ga_417.2", "In_451.1", "Ga_403.3")


def test_pinned_wanted_candidate_is_in_sync_in_every_shape() -> None:
    """A peak showing the wanted key with manual true is in sync, whichever shape the server sends."""
    for shape in SHAPES:
        peak = shape("p1", "Ga_417.2", manual=True, candidates=CANDIDATES)
        [item] = diff_entry([override()], result(peak))
        assert item.status is Status.IN_SYNC, shape.__name__
        assert item.current == "Ga_417.2"
        assert item.message is None


def test_other_candidate_is_a_change_in_every_shape() -> None:
    """A peak showing another candidate is a change that records what it shows now."""
    for shape in SHAPES:
        peak = shape("p1", "In_451.1", manual=True, candidates=CANDIDATES)
        [item] = diff_entry([override()], result(peak))
        assert (item.status, item.current, item.desired) == (Status.CHANGE, "In_451.1", "Ga_417.2")
        assert item.element == "In"
        assert item.manual is True


def test_matching_but_unpinned_peak_is_a_change() -> None:
    """The right candidate without manual: true must still be pinned, so it survives reprocessing."""
    peak = peak_with_key("p1", "Ga_417.2", manual=False, candidates=CANDIDATES)
    [item] = diff_entry([override()], result(peak))
    assert item.status is Status.CHANGE
    assert item.message == UNPINNED


def test_key_outside_listed_candidates_is_invalid_candidate() -> None:
    """When the server lists candidates and the wanted key is not among them, nothing is sent."""
    peak = peak_with_map("p1", "In_451.1", manual=False, candidates=("In_451.1", "Ga_403.3"))
    [item] = diff_entry([override()], result(peak))
    assert item.status is Status.INVALID_CANDIDATE
    assert item.message == "'Ga_417.2' is not a candidate of this peak (candidates: Ga_403.3, In_451.1)"


def test_candidate_key_without_candidate_list_is_not_judged_invalid() -> None:
    """With only `candidate_key` and no list, the reconciler cannot call a key invalid: it is a change."""
    peak = peak_with_key("p1", "In_451.1", manual=True)
    [item] = diff_entry([override()], result(peak))
    assert item.status is Status.CHANGE


def test_element_only_peak_compares_elements_and_says_so() -> None:
    """The documented shape is compared by element, and the item's message says so."""
    in_sync, change, unpinned = diff_entry(
        [override("p1"), override("p2"), override("p3")],
        result(
            peak_by_element("p1", "Ga", manual=True),
            peak_by_element("p2", "In", manual=True),
            peak_by_element("p3", "Ga", manual=False),
        ),
    )
    assert (in_sync.status, in_sync.message) == (Status.IN_SYNC, ELEMENT_ONLY)
    assert (change.status, change.message) == (Status.CHANGE, ELEMENT_ONLY)
    assert (unpinned.status, unpinned.current, unpinned.element) == (Status.CHANGE, None, "Ga")


def test_element_of_molecule_uses_text_before_last_underscore() -> None:
    """`N2_337.1` names the element `N2`, so an element-only N2 peak is in sync with it."""
    [item] = diff_entry(
        [override(candidate_key="N2_337.1")], result(peak_by_element("p1", "N2", manual=True))
    )
    assert item.status is Status.IN_SYNC


def test_missing_peak_is_peak_not_found_naming_the_peaks_there() -> None:
    """An override naming a peak the result lacks is an error that lists what the result has."""
    [item] = diff_entry([override("p9")], result(peak_with_key("p1", "Ga_417.2", manual=True)))
    assert item.status is Status.PEAK_NOT_FOUND
    assert item.message == "the result has no peak 'p9' (peaks: p1)"
    assert item.last_updated == "2024-01-15T10:35:00Z"


def missing_peak_message(wanted: str, *server_ids: str) -> str | None:
    """The message of the item for peak `wanted`, on a result whose peaks have `server_ids`."""
    peaks = [peak_with_key(peak_id, "Ga_417.2", manual=True) for peak_id in server_ids]
    [item] = diff_entry([override(wanted)], result(*peaks))
    assert item.status is Status.PEAK_NOT_FOUND
    return item.message


@pytest.mark.parametrize(
    ("wanted", "server_id"),
    [
        pytest.param("P1", "p1", id="case"),
        pytest.param("p1 ", "p1", id="trailing-space-in-override"),
        pytest.param("p1", "\tp1 ", id="spaces-on-the-server"),
        pytest.param("\uff50\uff11", "p1", id="full-width"),
        pytest.param("p1\u00a0", "p1", id="no-break-space"),
        pytest.param("\ufeffp1", "p1", id="byte-order-mark"),
        pytest.param("p\u200b1", "p1", id="zero-width-space"),
        pytest.param("\u2160", "i", id="roman-numeral-one"),
    ],
)
def test_missing_peak_names_the_peak_it_only_looks_different_from(wanted: str, server_id: str) -> None:
    """A peak id equal to one of the result's after NFKC, trimming and case folding is named: did you mean."""
    message = missing_peak_message(wanted, server_id, "p2")
    assert message is not None
    assert message.endswith(f"; did you mean {server_id!r}?")
    assert message.startswith(f"the result has no peak {wanted!r} (peaks: ")


def test_every_look_alike_peak_is_named() -> None:
    """When two peaks of the result read alike, the message names both, in the result's order."""
    message = missing_peak_message("p1", "P1", "p2", " p1 ")
    assert message == "the result has no peak 'p1' (peaks: P1, p2,  p1 ); did you mean 'P1' or ' p1 '?"


@pytest.mark.parametrize("wanted", ["p 1", "p11", "pl", "q1", ""])
def test_a_different_id_gets_no_suggestion(wanted: str) -> None:
    """An inner space, another character or digit is another peak: no "did you mean"."""
    assert missing_peak_message(wanted, "p1") == f"the result has no peak {wanted!r} (peaks: p1)"


@given(
    peak_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8),
    disguise=st.sampled_from(["upper", "spaces", "full-width", "zero-width"]),
)
def test_a_disguised_id_always_finds_its_peak(peak_id: str, disguise: str) -> None:
    """Whatever the id, its upper-case, padded, full-width or zero-width-split form is traced back to it."""
    disguised = {
        "upper": peak_id.upper(),
        "spaces": f"  {peak_id}\n",
        "full-width": "".join(chr(ord(c) + 0xFEE0) for c in peak_id),
        "zero-width": "\u200b".join(peak_id),
    }[disguise]
    if disguised == peak_id:  # digits have no upper case; a single character takes no zero-width space
        return
    assert missing_peak_message(disguised, peak_id) == (
        f"the result has no peak {disguised!r} (peaks: {peak_id}); did you mean {peak_id!r}?"
    )


def test_missing_entry_makes_every_override_entry_not_found() -> None:
    """A 404 on the entry marks each of its overrides."""
    items = diff_entry([override("p1"), override("p2")], None)
    assert [item.status for item in items] == [Status.ENTRY_NOT_FOUND] * 2


def test_items_carry_source_and_note() -> None:
    """Items keep where the override was written and its note, for the reports."""
    wanted = replace(override(), note="by XPS")
    [item] = diff_entry([wanted], result(peak_with_key("p1", "In_451.1", manual=False)))
    assert (item.source, item.note) == ("o.yaml:3", "by XPS")


def test_whole_plan_is_sorted_by_entry_then_peak() -> None:
    """The plan lists entries, then peaks, in sorted order whatever order the overrides came in."""
    overrides = [override("p2", data_id=OTHER), override("p1", data_id=ENTRY), override("p1", data_id=OTHER)]
    results = {
        ENTRY: result(peak_with_key("p1", "Ga_417.2", manual=True)),
        OTHER: result(peak_with_key("p1", "Ga_417.2", manual=True), data_id=OTHER),
    }
    items = diff(overrides, results)
    assert [(i.data_id, i.peak_id) for i in items] == [(OTHER, "p1"), (OTHER, "p2"), (ENTRY, "p1")]
    assert [i.status for i in items] == [Status.IN_SYNC, Status.PEAK_NOT_FOUND, Status.IN_SYNC]


def test_verify_accepts_only_the_wanted_candidate_pinned() -> None:
    """A PATCH answer counts as applied only when it shows the wanted key pinned; the item keeps "from"."""
    [item] = diff_entry([override()], result(peak_with_key("p1", "In_451.1", manual=False)))
    applied = verify(item, result(peak_with_key("p1", "Ga_417.2", manual=True)))
    assert (applied.status, applied.current, applied.manual) == (Status.APPLIED, "In_451.1", False)
    unpinned = verify(item, result(peak_with_key("p1", "Ga_417.2", manual=False)))
    assert unpinned.status is Status.FAILED
    assert unpinned.message == "the server accepted the PATCH but shows Ga_417.2, manual: false"
    vanished = verify(item, result(peak_with_key("p2", "Ga_417.2", manual=True)))
    assert vanished.status is Status.FAILED


def test_saved_plan_check_compares_assignment_and_manual() -> None:
    """A peak is unchanged since the plan only if its applied key (or element) and manual are as recorded."""
    planned = Item(
        ENTRY, "p1", "Ga_417.2", Status.CHANGE, "o.yaml:3", current="In_451.1", element="In", manual=False
    )
    same = PeakState(peak_id="p1", element="In", manual=False, candidate_key="In_451.1")
    assert unchanged_since_plan(planned, same)
    assert not unchanged_since_plan(planned, same.model_copy(update={"manual": True}))
    assert not unchanged_since_plan(planned, same.model_copy(update={"candidate_key": "Ga_403.3"}))
    by_element = Item(ENTRY, "p1", "Ga_417.2", Status.CHANGE, "o.yaml:3", element="In", manual=False)
    assert unchanged_since_plan(by_element, PeakState(peak_id="p1", element="In", manual=False))
    assert not unchanged_since_plan(by_element, PeakState(peak_id="p1", element="Ga", manual=False))


keys = st.sampled_from(CANDIDATES)


@given(applied=keys, desired=keys, manual=st.booleans(), shape=st.sampled_from(SHAPES))
def test_status_follows_the_in_sync_rule(applied: str, desired: str, manual: bool, shape: object) -> None:
    """For any listed peak: in sync iff applied == desired and pinned, otherwise a change."""
    assert callable(shape)
    peak = shape("p1", applied, manual=manual, candidates=CANDIDATES)
    [item] = diff_entry([override(candidate_key=desired)], result(peak))
    expected = Status.IN_SYNC if applied == desired and manual else Status.CHANGE
    assert item.status is expected


@given(applied=keys, desired=keys, manual=st.booleans())
def test_applying_a_change_then_diffing_again_is_in_sync(applied: str, desired: str, manual: bool) -> None:
    """Convergence: whatever the start, the peak a successful PATCH leaves behind diffs as in sync."""
    [item] = diff_entry(
        [override(candidate_key=desired)], result(peak_with_key("p1", applied, manual=manual))
    )
    after = result(peak_with_key("p1", desired, manual=True))
    if item.status is Status.CHANGE:
        assert verify(item, after).status is Status.APPLIED
    [again] = diff_entry([override(candidate_key=desired)], after)
    assert again.status is Status.IN_SYNC


def test_unlisted_key_is_invalid_even_when_the_element_matches() -> None:
    """A listed peak with nothing selected must not call an unlisted key of its element in sync."""
    peak = {
        "peak_id": "p1",
        "element": "Ga",
        "manual": True,
        "candidates": [{"key": "Ga_417.2"}, {"key": "Ga_403.3"}],
    }
    [item] = diff_entry([override(candidate_key="Ga_999.9")], result(peak))
    assert item.status is Status.INVALID_CANDIDATE
    [listed] = diff_entry([override(candidate_key="Ga_403.3")], result(peak))
    assert (listed.status, listed.message) == (Status.IN_SYNC, ELEMENT_ONLY)


def test_the_items_of_an_entry_share_one_data_id_string() -> None:
    """Overrides of one entry, each with its own copy of the id: their items hold one string between them
    (a million items need not hold a copy each), equal to the id as given."""
    copies = ["".join(ENTRY) for _ in range(3)]
    assert copies[0] is not copies[1]
    wanted = [override(f"p{n}", data_id=copy) for n, copy in enumerate(copies, start=1)]
    peaks = [peak_with_key(f"p{n}", "Ga_417.2", manual=True) for n in (1, 2)]
    items = diff_entry(wanted, result(*peaks))
    assert [item.status for item in items] == [Status.IN_SYNC, Status.IN_SYNC, Status.PEAK_NOT_FOUND]
    assert all(item.data_id is items[0].data_id == ENTRY for item in items)
