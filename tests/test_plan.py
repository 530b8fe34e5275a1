"""The plan value: items grouped by entry, what an apply visits, and the change limit."""

from __future__ import annotations

from reconciler.models import Item, Status
from reconciler.plan import Plan
from tests.factories import ENTRY, OTHER


def item(data_id: str, peak_id: str, status: Status) -> Item:
    return Item(data_id, peak_id, "Ga_417.2", status, "o.yaml:1")


PLAN = Plan.of(
    [
        item(ENTRY, "p2", Status.CHANGE),
        item(OTHER, "p1", Status.IN_SYNC),
        item(ENTRY, "p1", Status.PEAK_NOT_FOUND),
        item(OTHER, "p3", Status.CHANGE),
        item(ENTRY, "p3", Status.CHANGE),
    ]
)


def test_items_are_sorted_and_grouped_by_entry() -> None:
    """Entries and peaks in sorted order; every item in its entry's group."""
    assert [(i.data_id, i.peak_id) for i in PLAN.items] == sorted((i.data_id, i.peak_id) for i in PLAN.items)
    assert {data_id: [i.peak_id for i in items] for data_id, items in PLAN.by_entry.items()} == {
        OTHER: ["p1", "p3"],
        ENTRY: ["p1", "p2", "p3"],
    }
    assert PLAN.entries == 2


def test_an_apply_visits_only_entries_with_changes_and_carries_the_rest() -> None:
    """to_patch holds the change items by entry (what progress counts); others are carried unchanged."""
    assert {data_id: [i.peak_id for i in items] for data_id, items in PLAN.to_patch.items()} == {
        OTHER: ["p3"],
        ENTRY: ["p2", "p3"],
    }
    assert PLAN.changes == 3
    assert [(i.peak_id, i.status) for i in PLAN.others] == [
        ("p1", Status.IN_SYNC),
        ("p1", Status.PEAK_NOT_FOUND),
    ]
    assert len(Plan.of(i for i in PLAN.items if i.status is not Status.CHANGE).to_patch) == 0


def test_the_change_limit_refuses_only_what_is_over_it() -> None:
    """At the limit or without one: no error; over it: one message with both numbers and where."""
    assert PLAN.over_limit(None) is None
    assert PLAN.over_limit(3) is None
    error = PLAN.over_limit(2, where=" in the saved plan")
    assert error is not None
    assert str(error).startswith("3 changes pending in the saved plan, more than --max-changes 2; nothing")
