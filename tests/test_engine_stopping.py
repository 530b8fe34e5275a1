"""The engine when a run stops part way, when a saved plan meets entries that changed, and its progress."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from reconciler.api import ApiClient
from reconciler.engine import Outcome, Reconciler
from reconciler.errors import AuthError, RecordError
from reconciler.models import Override, PatchRecord, Status
from reconciler.plan import Plan
from reconciler.settings import Connection
from reconciler.stop import StopKind
from tests.factories import ENTRY, OTHER, FakeApi
from tests.test_engine import WANTED, many_entries, reconcile, statuses, two_entries

UNRECORDED = "the audit log could not be written"
REFUSED = "the API refused the key"


def run(
    api: FakeApi,
    wanted: list[Override],
    *,
    on_patch: Any = None,
    on_sending: Any = None,
    max_changes: int | None = None,
    progress: list[int] | None = None,
) -> Outcome:
    """`apply` of `wanted` against `api`, one entry at a time, with the given hooks."""

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        transport = httpx.MockTransport(api.handle)
        async with ApiClient(connection, concurrency=1, transport=transport) as client:
            reconciler = Reconciler(
                client,
                concurrency=1,
                on_patch=on_patch,
                on_sending=on_sending,
                on_progress=None if progress is None else progress.append,
            )
            return await reconciler.apply(wanted, max_changes=max_changes)

    return asyncio.run(go())


def test_an_outcome_that_cannot_be_recorded_stops_the_run() -> None:
    """The audit log fails to take a PATCH's outcome: that PATCH stays applied, nothing more is sent, and
    the entries left say why."""
    api, wanted = many_entries(4)
    recorded: list[PatchRecord] = []

    def record(patch: PatchRecord) -> None:
        if recorded:
            raise RecordError("cannot write --audit-log a.jsonl: No space left on device")
        recorded.append(patch)

    outcome = run(api, wanted, on_patch=record)
    assert (api.count("GET"), api.count("PATCH")) == (2, 2)
    assert isinstance(outcome.refused, RecordError)
    assert outcome.stop is not None
    assert outcome.stop.kind is StopKind.UNRECORDABLE
    assert [i.status for i in outcome.items] == [Status.APPLIED] * 2 + [Status.FETCH_FAILED] * 2
    assert {i.message for i in outcome.items[2:]} == {f"not fetched: {UNRECORDED}"}


def test_max_changes_with_a_refused_key_patches_nothing() -> None:
    """`apply --max-changes` whose key is refused while it counts the changes: no PATCH, the refusal kept."""
    api = two_entries()
    api.fail("GET", f"/oes/{ENTRY}", 401)
    outcome = run(api, WANTED, max_changes=10)
    assert isinstance(outcome.refused, AuthError)
    assert api.count("PATCH") == 0
    assert {i.message for i in outcome.items if i.data_id == ENTRY} == {f"not fetched: {REFUSED}"}


def test_max_changes_stopped_while_patching_says_what_was_not_patched() -> None:
    """`apply --max-changes` within its limit, stopped at its second PATCH: that change and the entry after
    it are reported `change`, "not patched", with the reason; the first stays applied."""
    api, wanted = many_entries(3)
    sent: list[str] = []

    def sending(item: Any) -> None:
        if sent:
            raise RecordError("cannot write --audit-log a.jsonl: No space left on device")
        sent.append(item.peak_id)

    outcome = run(api, wanted, on_sending=sending, max_changes=3)
    assert (api.count("GET"), api.count("PATCH")) == (3, 1)
    assert [(i.status, i.message) for i in outcome.items] == [
        (Status.APPLIED, None),
        (Status.CHANGE, f"not patched: {UNRECORDED}"),
        (Status.CHANGE, f"not patched: {UNRECORDED}"),
    ]


def test_progress_counts_every_entry_once_even_when_the_run_stops() -> None:
    """The progress callback advances once per entry, to the number of entries, skipped entries included."""
    api, wanted = many_entries(5)
    api.fail("GET", f"/oes/{wanted[1].data_id}", 401)
    progress: list[int] = []
    outcome = run(api, wanted, progress=progress)
    assert isinstance(outcome.refused, AuthError)
    assert progress == [1, 2, 3, 4, 5]


def test_a_saved_plan_meets_an_entry_and_a_peak_that_are_gone() -> None:
    """`apply --plan` after the entry was deleted and a planned peak removed: entry_not_found and
    peak_not_found, nothing patched there."""
    api = two_entries()
    planned, _ = reconcile(api, "plan", WANTED)
    del api.docs[OTHER]
    entry = api.docs[ENTRY]
    entry["detected_peaks"] = [p for p in entry["detected_peaks"] if p["peak_id"] != "p1"]
    api.requests.clear()
    outcome, _ = reconcile(api, "apply_saved", Plan.of(planned.items))
    assert statuses(outcome) == [
        ("3c0f", "p1", Status.ENTRY_NOT_FOUND),
        ("3c0f", "p9", Status.PEAK_NOT_FOUND),
        ("d290", "p1", Status.PEAK_NOT_FOUND),
        ("d290", "p2", Status.IN_SYNC),
    ]
    assert outcome.items[2].message == "the result no longer has this peak"
    assert api.count("PATCH") == 0


def test_a_saved_plan_whose_fetch_fails_or_is_refused() -> None:
    """`apply --plan`: an entry whose GET keeps failing is fetch_failed with the reason; once the key is
    refused, the entries left are not fetched and say why."""
    api = two_entries()
    planned, _ = reconcile(api, "plan", WANTED)
    plan = Plan.of(planned.items)
    api.fail("GET", f"/oes/{OTHER}", 503, 503, 503)
    failed, _ = reconcile(api, "apply_saved", plan, concurrency=1)
    by_peak = {(i.data_id, i.peak_id): i for i in failed.items}
    assert by_peak[OTHER, "p1"].status is Status.FETCH_FAILED
    assert "gave up after 3 attempts" in (by_peak[OTHER, "p1"].message or "")
    assert by_peak[ENTRY, "p1"].status is Status.APPLIED

    api = two_entries()
    api.fail("GET", f"/oes/{OTHER}", 401)
    refused, _ = reconcile(api, "apply_saved", plan, concurrency=1)
    assert isinstance(refused.refused, AuthError)
    assert api.count("PATCH") == 0
    messages = {i.message for i in refused.items if (i.data_id, i.peak_id) in {(OTHER, "p1"), (ENTRY, "p1")}}
    assert messages == {f"not fetched: {REFUSED}"}
