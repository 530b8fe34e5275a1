"""The engine: one GET per entry, then its PATCHes one at a time, entries overlapped and bounded; stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from reconciler.answers import OESResultWithSpectra
from reconciler.api import Answer, ApiClient
from reconciler.diff import ELEMENT_ONLY, diff_entry, fetch_failed, recheck, verify
from reconciler.errors import AuthError, RecordError, RequestFailed, RunStopped
from reconciler.identity import DEFAULT_WAVELENGTH_TOLERANCE
from reconciler.models import EntryMemory, Item, Override, PatchRecord, Status, by_entry
from reconciler.plan import Plan
from reconciler.settings import DEFAULT_CONCURRENCY
from reconciler.stop import Stop, StopKind
from reconciler.windows import Window, Windows, cut_windows

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What a run did: every item (sorted), and what stopped it early, if anything.

    The stop's error (a refused key, an unreachable API, an audit log or record that cannot be written, more
    changes than `--max-changes`, a bug) ends the run once the report of what was done is written.
    """

    items: list[Item]
    entries: int
    stop: Stop | None = None
    # With `windows` on: the spectrum around each plotted peak, for the review page (empty otherwise).
    windows: Windows = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.stop is not None and self.stop.kind is StopKind.SIGNAL

    @property
    def refused(self) -> BaseException | None:
        """The error the run ends with, once its report is written."""
        return self.stop.error if self.stop is not None else None


INTERNAL_ERROR = "an internal error stopped the run"
ABANDONED = (
    "outcome unknown: the PATCH was on its way when a second signal stopped the wait for it; "
    "the next run sees what the server holds"
)

SendingHook = Callable[[Item], None]
PatchHook = Callable[[PatchRecord], None]
ProgressHook = Callable[[int], None]
# What the record holds, per data id; an entry it lacks has an empty memory. None: no record at all.
Memory = Mapping[str, EntryMemory]


class Reconciler:
    """Drives the client: one GET per entry, then that entry's PATCHes one at a time, entries in parallel."""

    def __init__(
        self,
        client: ApiClient,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_sending: SendingHook | None = None,
        on_patch: PatchHook | None = None,
        on_progress: ProgressHook | None = None,
        wavelength_tolerance: float = DEFAULT_WAVELENGTH_TOLERANCE,
        overwrite_conflicts: bool = False,
        windows: bool = False,
    ) -> None:
        """`on_sending` and `on_patch` record each PATCH before it is sent and with its outcome; either
        may raise RecordError, and then nothing more is sent. `wavelength_tolerance` and
        `overwrite_conflicts` are the diff's (`diff_entry`). `windows` keeps, per entry fetched, the
        spectrum around each peak not in sync (the review page's plots); nothing more of the spectra."""
        self.client = client
        self.concurrency = concurrency
        self.wavelength_tolerance = wavelength_tolerance
        self.overwrite_conflicts = overwrite_conflicts
        self.on_sending = on_sending
        self.on_patch = on_patch
        self.on_progress = on_progress
        self.windows = windows
        self._windows: dict[tuple[str, str], Window] = {}

    async def plan(self, overrides: Sequence[Override], *, memory: Memory | None = None) -> Outcome:
        """Fetch and diff against `memory`, the record (None: no record); send no PATCH.

        Each entry's overrides are let go once it is decided: a caller that hands over the only reference
        (as a run does) keeps a million overrides from being held beside a million items."""
        groups = by_entry(overrides)
        del overrides
        entries = len(groups)

        async def plan_entry(data_id: str, group: list[Override]) -> list[Item]:
            return await self._plan_entry(data_id, group, memory=memory)

        items = await self._each_entry(groups, plan_entry, self._skip_overrides)
        return self._outcome(items, entries)

    async def apply(
        self,
        overrides: Sequence[Override],
        *,
        max_changes: int | None = None,
        memory: Memory | None = None,
    ) -> Outcome:
        """Fetch, diff against `memory` (None: no record) and PATCH; an entry's PATCHes go out as soon as
        its own GET is back."""
        if max_changes is not None:
            return await self._apply_within(overrides, max_changes, memory=memory)
        groups = by_entry(overrides)
        del overrides
        entries = len(groups)

        async def apply_entry(data_id: str, group: list[Override]) -> list[Item]:
            return await self._patch_all(data_id, await self._plan_entry(data_id, group, memory=memory))

        items = await self._each_entry(groups, apply_entry, self._skip_overrides)
        return self._outcome(items, entries)

    async def apply_saved(self, plan: Plan) -> Outcome:
        """Apply exactly the `change` items of a saved plan; a peak that moved since is `stale`, untouched.

        The plan's other items (in sync, or errors) are reported again as the plan saw them, so an error
        in the plan still makes the run exit 1; entries count every entry the plan names.
        """
        items = await self._each_entry(dict(plan.to_patch), self._apply_saved_entry, self._skip_saved)
        return self._outcome(items + plan.others, plan.entries)

    async def _apply_within(
        self, overrides: Sequence[Override], max_changes: int, *, memory: Memory | None
    ) -> Outcome:
        """With a change limit the whole plan must be known first: fetch everything, count, then patch."""
        planned = await self.plan(overrides, memory=memory)
        if planned.stop is not None:
            return planned
        plan = Plan.of(planned.items)
        limit = plan.over_limit(max_changes)
        if limit is not None:
            return replace(
                planned, stop=Stop(StopKind.CHANGE_LIMIT, "more changes than --max-changes", limit)
            )
        items = await self._each_entry(dict(plan.by_entry), self._patch_all, self._skip_patches)
        return self._outcome(items, planned.entries)

    def _outcome(self, items: list[Item], entries: int) -> Outcome:
        items.sort(key=lambda item: item.sort_key)
        return Outcome(items, entries, stop=self.client.stopped, windows=dict(self._windows))

    def _not_done(self, verb: str) -> str:
        """Why an item was left undone, in the words of what stopped the run."""
        stopped = self.client.stopped
        return f"not {verb}: {stopped.reason if stopped else 'the run was interrupted'}"

    def _skip_overrides(self, _data_id: str, overrides: list[Override]) -> list[Item]:
        return fetch_failed(overrides, self._not_done("fetched"))

    def _skip_saved(self, _data_id: str, items: list[Item]) -> list[Item]:
        return [replace(item, message=self._not_done("fetched")) for item in items]

    def _skip_patches(self, _data_id: str, items: list[Item]) -> list[Item]:
        return [
            replace(item, message=self._not_done("patched")) if item.status is Status.CHANGE else item
            for item in items
        ]

    async def _each_entry(
        self,
        groups: dict[str, list[T]],
        handle: Callable[[str, list[T]], Awaitable[list[Item]]],
        skipped: Callable[[str, list[T]], list[Item]],
    ) -> list[Item]:
        """Work through the entries with `concurrency` workers; entries left when stopping are `skipped`.

        `groups` is consumed: each entry's values are dropped from it as a worker takes them, so that
        what is done with can be freed (the caller passes a dict of its own).

        Each worker has one request in flight at most. (Twice as many workers, to fill the slots while
        some parse and diff, measured 0.2-0.4 s slower on the 1,000-entry benchmark: more contention.)
        A bug in one entry's work stops the run at once: nothing new is sent, requests in flight finish,
        and the outcome carries the bug, so the report of what was done is written before it is raised.
        """
        queue = iter(list(groups))
        workers_wanted = max(1, min(self.concurrency, len(groups)))
        items: list[Item] = []
        done = 0

        async def worker() -> None:
            nonlocal done
            for data_id in queue:
                group = groups.pop(data_id)
                if self.client.stopping.is_set():
                    items.extend(skipped(data_id, group))
                else:
                    try:
                        items.extend(await handle(data_id, group))
                    except Exception as bug:  # noqa: BLE001 (a bug: stop everything, keep the report)
                        self.client.stop(Stop(StopKind.INTERNAL_ERROR, INTERNAL_ERROR, bug))
                        items.extend(skipped(data_id, group))
                done += 1
                if self.on_progress is not None:
                    self.on_progress(done)

        async with asyncio.TaskGroup() as workers:
            for _ in range(workers_wanted):
                workers.create_task(worker())
        return items

    async def _plan_entry(
        self, data_id: str, overrides: list[Override], *, memory: Memory | None
    ) -> list[Item]:
        try:
            answer = await self.client.get_result(data_id, spectra=self.windows)
        except RequestFailed as exc:
            return fetch_failed(overrides, exc.reason)
        except (RunStopped, AuthError):
            return fetch_failed(overrides, self._not_done("fetched"))
        items = diff_entry(
            overrides,
            answer.result,
            memory=None if memory is None else memory.get(data_id, EntryMemory()),
            tolerance=self.wavelength_tolerance,
            overwrite_conflicts=self.overwrite_conflicts,
        )
        return self._windowed(answer, items)

    def _windowed(self, answer: Answer, items: list[Item]) -> list[Item]:
        """Keep the windows of the entry's spectrum that the page plots, when it is asked for."""
        if self.windows and isinstance(answer.result, OESResultWithSpectra):
            self._windows.update(cut_windows(answer.result, items))
        return items

    async def _patch_all(self, _data_id: str, items: list[Item]) -> list[Item]:
        """PATCH the entry's `change` items one at a time (the server sees one writer per entry)."""
        return [await self._patch(item) if item.status is Status.CHANGE else item for item in items]

    async def _patch(self, item: Item) -> Item:
        if self.client.stopping.is_set():
            return replace(item, message=self._not_done("patched"))
        on_sending = self.on_sending
        try:
            answer = await self.client.patch_peak(
                item.data_id,
                item.peak_id,
                item.desired,
                before_send=None if on_sending is None else lambda: on_sending(item),
            )
        except RecordError as exc:  # the `sending` line could not be written: the PATCH was not sent
            self.client.stop(Stop(StopKind.UNRECORDABLE, exc.reason, exc))
            return replace(item, message=self._not_done("patched"))
        except RequestFailed as exc:
            reason = exc.reason
            if item.current is None and item.element is not None:
                # Compared by element, the key could not be checked against candidates beforehand.
                reason = f"{reason}; {ELEMENT_ONLY}"
            done = replace(item, status=Status.FAILED, message=reason)
            status, attempts = exc.status, exc.attempts
        except (RunStopped, AuthError) as exc:
            abandoned = isinstance(exc, RunStopped) and exc.abandoned
            undone = replace(item, message=ABANDONED if abandoned else self._not_done("patched"))
            attempts = exc.attempts if isinstance(exc, RunStopped) else 1
            if attempts and on_sending is not None:  # its `sending` line gets an outcome
                record = PatchRecord(undone, item.current, None, attempts, known=not abandoned)
                self._recorded(self.on_patch, record)
            return undone
        else:
            assert answer.result is not None
            done = verify(item, answer.result)
            status, attempts = answer.status, answer.attempts
        log.info("%s %s %s: %s", done.data_id, done.peak_id, done.status, done.message or done.desired)
        self._recorded(self.on_patch, PatchRecord(done, item.current, status, attempts))
        return done

    def _recorded(self, hook: Callable[[T], None] | None, event: T) -> bool:
        """Record a PATCH event; if it cannot be recorded, stop the run (nothing more is sent)."""
        if hook is None:
            return True
        try:
            hook(event)
        except RecordError as exc:
            self.client.stop(Stop(StopKind.UNRECORDABLE, exc.reason, exc))
            return False
        return True

    async def _apply_saved_entry(self, data_id: str, planned: list[Item]) -> list[Item]:
        try:
            answer = await self.client.get_result(data_id, spectra=self.windows)
        except RequestFailed as exc:
            return [replace(item, status=Status.FETCH_FAILED, message=exc.reason) for item in planned]
        except (RunStopped, AuthError):
            return self._skip_saved(data_id, planned)
        rechecked = recheck(planned, answer.result, tolerance=self.wavelength_tolerance)
        return await self._patch_all(data_id, self._windowed(answer, rechecked))
