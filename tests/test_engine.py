"""The reconciler's run: one GET per entry, one PATCH per change, verification, limits and stopping."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import asdict, replace
from typing import Any

import httpx
import pytest

from reconciler import engine
from reconciler.api import ApiClient
from reconciler.diff import diff_entry
from reconciler.engine import ABANDONED, Outcome, Reconciler
from reconciler.errors import AuthError, RecordError, SafetyLimitError, UnreachableError
from reconciler.models import EntryMemory, LastSet, Override, PatchRecord, Status
from reconciler.plan import Plan
from reconciler.retry import RetryPolicy
from reconciler.settings import Connection
from reconciler.stop import StopKind
from tests.factories import ENTRY, OTHER, FakeApi, override, peak_by_element, peak_with_key, result_doc

NOT_FETCHED = "not fetched: the run was interrupted"
NOT_PATCHED = "not patched: the run was interrupted"

CANDIDATES = ("Ga_417.2", "In_451.1")


def two_entries() -> FakeApi:
    return FakeApi(
        result_doc(
            peak_with_key("p1", "In_451.1", manual=False, candidates=CANDIDATES),
            peak_with_key("p2", "Ga_417.2", manual=True, candidates=CANDIDATES),
            data_id=ENTRY,
        ),
        result_doc(peak_with_key("p1", "In_451.1", manual=True, candidates=CANDIDATES), data_id=OTHER),
    )


WANTED = [
    override("p1", data_id=ENTRY),
    override("p2", data_id=ENTRY),
    override("p1", data_id=OTHER),
    override("p9", data_id=OTHER),
]


def reconcile(
    api: FakeApi,
    action: str,
    *args: Any,
    concurrency: int = 4,
    options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[Outcome, list[PatchRecord]]:
    """Run the reconciler's `action` against the fake API; `options` are the Reconciler's own."""
    records: list[PatchRecord] = []

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        transport = httpx.MockTransport(api.handle)
        retry = RetryPolicy.without_waits(3)
        async with ApiClient(connection, concurrency=concurrency, retry=retry, transport=transport) as client:
            reconciler = Reconciler(
                client, concurrency=concurrency, on_patch=records.append, **(options or {})
            )
            result: Outcome = await getattr(reconciler, action)(*args, **kwargs)
            return result

    return asyncio.run(go()), records


def statuses(outcome: Outcome) -> list[tuple[str, str, Status]]:
    return [(item.data_id[:4], item.peak_id, item.status) for item in outcome.items]


def test_plan_sends_one_get_per_entry_and_no_patch() -> None:
    """A plan fetches each entry once and changes nothing."""
    api = two_entries()
    outcome, records = reconcile(api, "plan", WANTED)
    assert (api.count("GET"), api.count("PATCH"), records) == (2, 0, [])
    assert statuses(outcome) == [
        ("3c0f", "p1", Status.CHANGE),
        ("3c0f", "p9", Status.PEAK_NOT_FOUND),
        ("d290", "p1", Status.CHANGE),
        ("d290", "p2", Status.IN_SYNC),
    ]
    assert sum(i.status is Status.CHANGE for i in outcome.items) == 2


def test_apply_patches_only_changes_and_verifies_them() -> None:
    """Apply sends one PATCH per differing peak, none for peaks in sync, and reports them applied."""
    api = two_entries()
    outcome, records = reconcile(api, "apply", WANTED)
    assert (api.count("GET"), api.count("PATCH")) == (2, 2)
    assert [s for *_, s in statuses(outcome)] == [
        Status.APPLIED,
        Status.PEAK_NOT_FOUND,
        Status.APPLIED,
        Status.IN_SYNC,
    ]
    assert sorted((r.item.data_id[:4], r.previous, r.http_status, r.attempts) for r in records) == [
        ("3c0f", "In_451.1", 200, 1),
        ("d290", "In_451.1", 200, 1),
    ]


def test_second_apply_is_a_no_op() -> None:
    """After an apply, the same overrides need no PATCH at all."""
    api = two_entries()
    reconcile(api, "apply", WANTED)
    api.requests.clear()
    outcome, _ = reconcile(api, "apply", WANTED)
    assert (api.count("GET"), api.count("PATCH")) == (2, 0)
    assert Status.CHANGE not in {i.status for i in outcome.items}


def test_refused_patch_is_failed_and_others_go_on() -> None:
    """One entry's refused PATCH does not stop the other entry's."""
    api = two_entries()
    api.fail("PATCH", f"/oes/{ENTRY}/peaks", 400)
    outcome, records = reconcile(api, "apply", WANTED)
    failed = next(i for i in outcome.items if i.data_id == ENTRY and i.peak_id == "p1")
    assert failed.status is Status.FAILED
    assert failed.message == "HTTP 400: scripted failure"
    other = next(i for i in outcome.items if i.data_id == OTHER and i.peak_id == "p1")
    assert other.status is Status.APPLIED
    assert {r.item.status for r in records} == {Status.FAILED, Status.APPLIED}


def test_transient_patch_failures_are_retried_to_success() -> None:
    """503 twice then 200: applied, with three attempts on the audit record."""
    api = two_entries()
    api.fail("PATCH", f"/oes/{ENTRY}/peaks", 503, 503)
    outcome, records = reconcile(api, "apply", [override("p1", data_id=ENTRY)])
    assert outcome.items[0].status is Status.APPLIED
    assert records[0].attempts == 3
    assert api.count("PATCH") == 3


def test_fetch_failure_after_retries_marks_the_entry() -> None:
    """An entry whose GET keeps failing is fetch_failed; the other entry is still applied."""
    api = two_entries()
    api.fail("GET", f"/oes/{OTHER}", 503, 503, 503)
    outcome, _ = reconcile(api, "apply", WANTED)
    assert [s for *_, s in statuses(outcome)][:2] == [Status.FETCH_FAILED, Status.FETCH_FAILED]
    assert "gave up after 3 attempts" in (outcome.items[0].message or "")
    assert outcome.items[2].status is Status.APPLIED


def test_unknown_entry_is_entry_not_found() -> None:
    """A 404 on GET makes every override of that entry entry_not_found, with no PATCH."""
    api = FakeApi()
    outcome, _ = reconcile(api, "apply", [override("p1"), override("p2")])
    assert {i.status for i in outcome.items} == {Status.ENTRY_NOT_FOUND}
    assert api.count("PATCH") == 0


def test_max_changes_refuses_a_larger_plan_with_nothing_patched() -> None:
    """More changes than --max-changes: the outcome is refused and no PATCH went out."""
    api = two_entries()
    outcome, _ = reconcile(api, "apply", WANTED, max_changes=1)
    assert isinstance(outcome.refused, SafetyLimitError)
    assert api.count("PATCH") == 0
    assert sum(i.status is Status.CHANGE for i in outcome.items) == 2


def test_max_changes_at_the_limit_applies() -> None:
    """Exactly --max-changes changes are applied."""
    api = two_entries()
    outcome, _ = reconcile(api, "apply", WANTED, max_changes=2)
    assert outcome.refused is None
    assert api.count("PATCH") == 2


def test_patches_to_one_entry_go_one_at_a_time() -> None:
    """Many changes on one entry never overlap, even with spare concurrency."""
    peaks = [peak_with_key(f"p{i}", "In_451.1", manual=False, candidates=CANDIDATES) for i in range(6)]
    api = FakeApi(result_doc(*peaks))
    in_flight = 0
    peak_in_flight = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak_in_flight
        if request.method == "PATCH":
            in_flight += 1
            peak_in_flight = max(peak_in_flight, in_flight)
            await asyncio.sleep(0.002)
            in_flight -= 1
        response: httpx.Response = api.handle(request)
        return response

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        async with ApiClient(connection, concurrency=8, transport=httpx.MockTransport(handle)) as client:
            return await Reconciler(client, concurrency=8).apply([override(f"p{i}") for i in range(6)])

    outcome = asyncio.run(go())
    assert {i.status for i in outcome.items} == {Status.APPLIED}
    assert peak_in_flight == 1


def test_refused_key_stops_the_run_and_keeps_what_was_done() -> None:
    """A 401 stops the run: nothing more is sent, the outcome carries the AuthError and every item."""
    api = two_entries()
    api.fail("GET", f"/oes/{OTHER}", 401)
    outcome, _ = reconcile(api, "apply", WANTED, concurrency=1)
    assert isinstance(outcome.refused, AuthError)
    assert not outcome.interrupted
    assert api.requests == [("GET", f"/oes/{OTHER}")]
    assert {i.message for i in outcome.items} == {"not fetched: the API refused the key"}
    assert len(outcome.items) == len(WANTED)


def test_refused_key_mid_apply_reports_the_patches_already_made() -> None:
    """A key revoked between two entries: the first entry's PATCH is reported applied, the rest not done."""
    api = two_entries()
    api.fail("GET", f"/oes/{ENTRY}", 403)
    outcome, records = reconcile(api, "apply", WANTED, concurrency=1)
    assert isinstance(outcome.refused, AuthError)
    by_peak = {(i.data_id, i.peak_id): i for i in outcome.items}
    assert by_peak[OTHER, "p1"].status is Status.APPLIED
    assert by_peak[ENTRY, "p1"].message == "not fetched: the API refused the key"
    assert [r.item.status for r in records] == [Status.APPLIED]


def test_stop_mid_run_reports_what_was_not_done() -> None:
    """Stopping after the first GET: nothing new is sent, the rest is reported as not fetched or patched."""
    api = two_entries()
    holder: dict[str, ApiClient] = {}
    api.on_request = lambda request: holder["client"].stop()

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        async with ApiClient(connection, concurrency=1, transport=httpx.MockTransport(api.handle)) as client:
            holder["client"] = client
            return await Reconciler(client, concurrency=1).apply(WANTED)

    outcome = asyncio.run(go())
    assert outcome.interrupted
    assert api.requests == [("GET", f"/oes/{OTHER}")]
    by_peak = {(i.data_id, i.peak_id): i for i in outcome.items}
    assert by_peak[OTHER, "p1"].status is Status.CHANGE
    assert by_peak[OTHER, "p1"].message == NOT_PATCHED
    assert by_peak[ENTRY, "p1"].message == NOT_FETCHED


def test_saved_plan_applies_unchanged_peaks_and_skips_moved_ones() -> None:
    """apply --plan patches peaks still as planned and marks a peak that moved since as stale."""
    api = two_entries()
    planned, _ = reconcile(api, "plan", WANTED)
    moved = next(p for p in api.docs[OTHER]["detected_peaks"] if p["peak_id"] == "p1")
    moved["manual"] = False
    api.requests.clear()
    outcome, _ = reconcile(api, "apply_saved", Plan.of(planned.items))
    assert [(i.data_id[:4], i.peak_id, i.status) for i in outcome.items] == [
        ("3c0f", "p1", Status.STALE),
        ("3c0f", "p9", Status.PEAK_NOT_FOUND),
        ("d290", "p1", Status.APPLIED),
        ("d290", "p2", Status.IN_SYNC),
    ]
    assert (
        outcome.items[0].message
        == "changed since the plan: was In_451.1 (manual: true), now In_451.1 (manual: false)"
    )
    assert (api.count("GET"), api.count("PATCH")) == (2, 1)


def test_saved_plan_applied_twice_finds_its_peaks_in_sync() -> None:
    """Rerunning a saved plan (say after an interruption): peaks already as wanted are in sync, not stale."""
    api = two_entries()
    planned, _ = reconcile(api, "plan", WANTED)
    reconcile(api, "apply_saved", Plan.of(planned.items))
    api.requests.clear()
    again, _ = reconcile(api, "apply_saved", Plan.of(planned.items))
    changes = {(i.data_id, i.peak_id) for i in planned.items if i.status is Status.CHANGE}
    redone = {(i.status, i.message) for i in again.items if (i.data_id, i.peak_id) in changes}
    assert redone == {(Status.IN_SYNC, "already as wanted")}
    assert api.count("PATCH") == 0


def many_entries(count: int) -> tuple[FakeApi, list[Any]]:
    """`count` entries of one differing peak each, and the overrides that want them changed."""
    ids = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(count)]
    api = FakeApi(
        *(
            result_doc(peak_with_key("p1", "In_451.1", manual=False, candidates=CANDIDATES), data_id=i)
            for i in ids
        )
    )
    return api, [override("p1", data_id=i) for i in ids]


def test_a_bug_in_one_entry_stops_all_others_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception in one entry's work: no new request anywhere, the outcome keeps what was
    done and carries the bug (raised after the report), the undone items say why."""
    api, wanted = many_entries(6)
    broken = wanted[2].data_id
    real = diff_entry

    def buggy(overrides: Any, result: Any, **options: Any) -> Any:
        if overrides[0].data_id == broken:
            raise ZeroDivisionError("a bug")
        return real(overrides, result, **options)

    monkeypatch.setattr(engine, "diff_entry", buggy)
    outcome, _ = reconcile(api, "apply", wanted, concurrency=1)
    assert isinstance(outcome.refused, ZeroDivisionError)
    assert outcome.stop is not None
    assert outcome.stop.kind is StopKind.INTERNAL_ERROR
    # Entries 0 and 1 were done before the bug; entry 2's GET was its last request; nothing after it.
    assert api.requests[-1] == ("GET", f"/oes/{broken}")
    assert (api.count("GET"), api.count("PATCH")) == (3, 2)
    assert [i.status for i in outcome.items[:2]] == [Status.APPLIED, Status.APPLIED]
    assert {i.message for i in outcome.items[2:]} == {"not fetched: an internal error stopped the run"}
    assert len(outcome.items) == 6


def test_a_patch_that_cannot_be_recorded_is_not_sent() -> None:
    """The audit log fails before the third PATCH: that PATCH and every later one are not sent."""
    api, wanted = many_entries(5)
    sent: list[str] = []

    def sending(item: Any) -> None:
        if len(sent) == 2:
            raise RecordError("cannot write --audit-log a.jsonl: No space left on device")
        sent.append(item.data_id)

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        transport = httpx.MockTransport(api.handle)
        async with ApiClient(connection, concurrency=1, transport=transport) as client:
            return await Reconciler(client, concurrency=1, on_sending=sending).apply(wanted)

    outcome = asyncio.run(go())
    assert api.count("PATCH") == 2
    assert api.count("GET") == 3  # the entry whose PATCH could not be recorded was fetched, no more
    assert isinstance(outcome.refused, RecordError)
    assert [i.status for i in outcome.items] == [Status.APPLIED] * 2 + [Status.CHANGE] + [
        Status.FETCH_FAILED
    ] * 2
    assert outcome.items[2].message == "not patched: the audit log could not be written"
    assert outcome.items[4].message == "not fetched: the audit log could not be written"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_api_that_never_answers_stops_after_three_failures_per_slot(concurrency: int) -> None:
    """Connection refused on every request, none ever answered: the run stops after 3 x concurrency
    attempts as "API unreachable", instead of retrying every entry."""
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        retry = RetryPolicy.without_waits(6)
        transport = httpx.MockTransport(refuse)
        async with ApiClient(connection, concurrency=concurrency, retry=retry, transport=transport) as client:
            return await Reconciler(client, concurrency=concurrency).plan(many_entries(20)[1])

    outcome = asyncio.run(go())
    assert len(attempts) == 3 * concurrency  # 20 entries x 6 attempts without the rule
    assert isinstance(outcome.refused, UnreachableError)
    assert "API unreachable at https://api.example.test/: " in str(outcome.refused)
    assert {i.status for i in outcome.items} == {Status.FETCH_FAILED}
    assert len(outcome.items) == 20


def test_an_api_that_answered_once_is_retried_per_request_as_before() -> None:
    """Once the API has answered, connection failures are an outage: each request is retried in full."""
    api, wanted = many_entries(3)
    first = wanted[0].data_id

    def flaky(request: httpx.Request) -> httpx.Response:
        if first not in request.url.path:
            api.requests.append((request.method, request.url.path))
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        answer: httpx.Response = api.handle(request)
        return answer

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        retry = RetryPolicy.without_waits(4)
        async with ApiClient(
            connection, concurrency=1, retry=retry, transport=httpx.MockTransport(flaky)
        ) as client:
            return await Reconciler(client, concurrency=1).plan(wanted)

    outcome = asyncio.run(go())
    assert outcome.stop is None
    assert api.count("GET") == 1 + 2 * 4
    assert [i.status for i in outcome.items] == [Status.CHANGE, Status.FETCH_FAILED, Status.FETCH_FAILED]


def test_saved_plan_carries_its_other_items_as_they_were() -> None:
    """apply --plan reports the plan's in-sync and error items unchanged, and counts every entry named."""
    api = two_entries()
    planned, _ = reconcile(api, "plan", WANTED)
    api.requests.clear()
    outcome, _ = reconcile(api, "apply_saved", Plan.of(planned.items))
    kept = {i.sort_key: i for i in planned.items if i.status is not Status.CHANGE}
    assert [i for i in outcome.items if i.sort_key in kept] == list(kept.values())
    assert outcome.entries == 2
    assert (api.count("GET"), api.count("PATCH")) == (2, 2)


def test_sending_is_recorded_just_before_the_wire_and_a_stopped_retry_gets_an_outcome() -> None:
    """A PATCH answered 503, then the run stops during the back-off: one `sending` event (the first
    attempt went out) and one outcome, still a change, with the 1 attempt made; an entry stopped before
    its PATCH left records nothing at all."""
    api, wanted = many_entries(2)
    first, second = (o.data_id for o in wanted)
    api.fail("PATCH", f"/oes/{first}/peaks", 503)
    holder: dict[str, ApiClient] = {}

    def stop_after_the_patch(request: httpx.Request) -> None:
        if request.method == "PATCH":
            holder["client"].stop()

    api.on_request = stop_after_the_patch
    sending: list[str] = []
    records: list[PatchRecord] = []

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        retry = RetryPolicy.without_waits(3)
        async with ApiClient(
            connection, concurrency=1, retry=retry, transport=httpx.MockTransport(api.handle)
        ) as client:
            holder["client"] = client
            reconciler = Reconciler(
                client,
                concurrency=1,
                on_sending=lambda item: sending.append(item.data_id),
                on_patch=records.append,
            )
            return await reconciler.apply(wanted)

    outcome = asyncio.run(go())
    assert api.requests == [("GET", f"/oes/{first}"), ("PATCH", f"/oes/{first}/peaks")]
    assert sending == [first]
    [record] = records
    assert (record.item.status, record.attempts, record.http_status) == (Status.CHANGE, 1, None)
    assert record.item.message == NOT_PATCHED
    assert second not in sending
    assert outcome.interrupted


def test_a_patch_abandoned_on_the_wire_has_an_unknown_outcome() -> None:
    """A second signal abandons a PATCH in flight: the item and its audit record say the outcome is
    unknown (the server may have made it), and the run ends at once instead of waiting for the answer."""
    api, wanted = many_entries(1)
    started = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            started.set()
            await asyncio.Event().wait()  # an answer that never comes
        answer: httpx.Response = api.handle(request)
        return answer

    records: list[PatchRecord] = []

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        async with ApiClient(connection, concurrency=1, transport=httpx.MockTransport(handle)) as client:
            reconciler = Reconciler(client, concurrency=1, on_sending=lambda _: None, on_patch=records.append)
            running = asyncio.create_task(reconciler.apply(wanted))
            await started.wait()
            client.abandon()
            return await running

    outcome = asyncio.run(go())
    [item] = outcome.items
    assert (item.status, item.message) == (Status.CHANGE, ABANDONED)
    [record] = records
    assert (record.known, record.attempts) == (False, 1)
    assert outcome.interrupted


def by_element_entries() -> FakeApi:
    """Two entries whose peaks show only their element, Ga and pinned: element-only matches."""
    return FakeApi(
        result_doc(peak_by_element("p1", "Ga", manual=True), data_id=ENTRY),
        result_doc(peak_by_element("p1", "Ga", manual=True), data_id=OTHER),
    )


def test_the_record_is_handed_to_each_entry() -> None:
    """With a record, each entry is decided against its own memory (none: an empty one); element-only
    matches the record vouches for are in sync, the others are patched to make sure."""
    api = by_element_entries()
    set_here = LastSet("Ga_417.2", 3, "2026-11-30T07:00:00Z")
    memory = {ENTRY: EntryMemory(last_updated_after="2024-01-15T10:35:00Z", peaks={"p1": set_here})}
    wanted = [override("p1", data_id=ENTRY), override("p1", data_id=OTHER)]
    outcome, _ = reconcile(api, "apply", wanted, memory=memory)
    assert statuses(outcome) == [("3c0f", "p1", Status.APPLIED), ("d290", "p1", Status.IN_SYNC)]
    assert [item.verified_by for item in outcome.items] == [None, 3]
    assert api.requests.count(("PATCH", f"/oes/{OTHER}/peaks")) == 1


def test_without_a_record_element_matches_are_trusted() -> None:
    """memory None (no record): the first-wave element comparison, nothing patched."""
    api = by_element_entries()
    outcome, _ = reconcile(api, "plan", [override("p1", data_id=ENTRY), override("p1", data_id=OTHER)])
    assert {item.status for item in outcome.items} == {Status.IN_SYNC}
    with_limit, _ = reconcile(api, "apply", [override("p1", data_id=OTHER)], max_changes=0, memory={})
    assert with_limit.refused is not None  # the empty record makes it a change, over the limit


def test_conflicts_are_left_alone_unless_overwritten() -> None:
    """A conflict is not patched; with overwrite_conflicts it is, and the applied item says so."""
    wanted = [override("p1", data_id=OTHER)]
    memory = {OTHER: EntryMemory(peaks={"p1": LastSet("Ga_417.2", 9, "2026-11-30T07:00:00Z")})}
    api = two_entries()
    outcome, _ = reconcile(api, "apply", wanted, memory=memory)
    assert (statuses(outcome), api.count("PATCH")) == ([("3c0f", "p1", Status.CONFLICT)], 0)
    outcome, records = reconcile(api, "apply", wanted, memory=memory, options={"overwrite_conflicts": True})
    assert statuses(outcome) == [("3c0f", "p1", Status.APPLIED)]
    assert (outcome.items[0].message or "").startswith(
        "overwrites the platform edit: set to Ga_417.2 by run 9"
    )
    assert len(records) == 1


def test_the_wavelength_tolerance_reaches_the_diff() -> None:
    """A peak 10 nm off the file's wavelength is moved at the default tolerance, not at 20 nm."""
    api = two_entries()  # the factories' peaks are measured at 401.0 nm
    wanted = [replace(override("p1", data_id=OTHER), wavelength_nm=411.0)]
    outcome, _ = reconcile(api, "plan", wanted)
    assert statuses(outcome) == [("3c0f", "p1", Status.PEAK_MOVED)]
    wide, _ = reconcile(api, "plan", wanted, options={"wavelength_tolerance": 20.0})
    assert statuses(wide) == [("3c0f", "p1", Status.CHANGE)]


def with_spectrum(api: FakeApi) -> FakeApi:
    """The entries' spectra run 396-406 nm, around the factories' peaks at 401 nm."""
    for doc in api.docs.values():
        doc["wavelengths"] = [396.0 + i / 2 for i in range(21)]
        doc["scope_corrected"] = [float(i) for i in range(21)]
    return api


def test_windows_are_kept_only_when_asked_and_only_for_items_not_in_sync() -> None:
    """With `windows` on, each change gets its window; in-sync peaks and runs without it keep none."""
    plain, _ = reconcile(with_spectrum(two_entries()), "plan", WANTED)
    assert plain.windows == {}
    outcome, _ = reconcile(with_spectrum(two_entries()), "plan", WANTED, options={"windows": True})
    changes = {item.sort_key for item in outcome.items if item.status is Status.CHANGE}
    assert set(outcome.windows) == changes
    assert changes
    assert all(len(window.wavelengths) == 21 for window in outcome.windows.values())


def test_an_apply_of_a_saved_plan_keeps_the_windows_its_gets_saw() -> None:
    """Applying a saved plan plots each patched peak from the entry as fetched before the PATCH."""
    api = with_spectrum(two_entries())
    planned, _ = reconcile(api, "plan", WANTED)
    outcome, _ = reconcile(api, "apply_saved", Plan.of(planned.items), options={"windows": True})
    applied = {item.sort_key for item in outcome.items if item.status is Status.APPLIED}
    assert applied
    assert set(outcome.windows) == applied


class _Tracked(Override):
    """An override a weak reference can follow (Override's slots leave no room for one)."""


def test_a_plan_lets_go_of_an_entrys_overrides_once_it_is_decided() -> None:
    """Overrides handed over whole (as a run does): by the time the second entry is fetched, the first
    entry's overrides are freed, while its items stay; a million overrides are not held beside the items."""
    wanted = [[_Tracked(**asdict(o)) for o in WANTED]]
    first = [weakref.ref(o) for o in wanted[0] if o.data_id == min(ENTRY, OTHER)]
    alive: list[int] = []
    api = two_entries()
    api.on_request = lambda _request: alive.append(sum(ref() is not None for ref in first))

    async def go() -> Outcome:
        connection = Connection(endpoint="https://api.example.test/", api_key="k")
        transport = httpx.MockTransport(api.handle)
        async with ApiClient(
            connection, concurrency=1, retry=RetryPolicy.without_waits(3), transport=transport
        ) as client:
            return await Reconciler(client, concurrency=1).plan(wanted.pop())

    outcome = asyncio.run(go())
    assert alive == [len(first), 0]
    assert len(outcome.items) == len(WANTED)
