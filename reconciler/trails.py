"""The trails of a run's PATCHes: the audit log and the record each get every event, before and after."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from reconciler.errors import RecordError
from reconciler.models import Item, PatchRecord

if TYPE_CHECKING:
    from reconciler.record import Record

NOT_SENT = "not sent: the PATCH could not be recorded"


class Trail(Protocol):
    """Anything that records a PATCH before it is sent and with its outcome; either may raise RecordError."""

    def sending(self, item: Item) -> None: ...

    def record(self, record: PatchRecord) -> None: ...


class RunRecorder:
    """One run's rows in the record: each PATCH inserted before it is sent, updated with its outcome."""

    def __init__(self, record: Record, run_id: int) -> None:
        self.store = record
        self.run_id = run_id
        # One PATCH per peak at a time (the engine patches an entry's peaks one after another).
        self._pending: dict[tuple[str, str], int] = {}

    def sending(self, item: Item) -> None:
        self._pending[(item.data_id, item.peak_id)] = self.store.sending(self.run_id, item)

    def record(self, record: PatchRecord) -> None:
        patch_id = self._pending.pop((record.item.data_id, record.item.peak_id), None)
        if patch_id is not None:  # an outcome of a PATCH never sent has no row to complete
            self.store.outcome(patch_id, record)


class Trails:
    """Every event to every trail, in order, so that each holds the whole story of the run.

    A trail that cannot write its `sending` line stops the PATCH: the trails before it, which already
    wrote theirs, get a `stopped` outcome. An outcome goes to all trails even when one fails; the first
    failure is raised afterwards (the run then sends nothing more).
    """

    def __init__(self, trails: Sequence[Trail]) -> None:
        self.trails = tuple(trails)

    def sending(self, item: Item) -> None:
        for done, trail in enumerate(self.trails):
            try:
                trail.sending(item)
            except RecordError:
                not_sent = PatchRecord(replace(item, message=NOT_SENT), item.current, None, 0)
                for earlier in self.trails[:done]:
                    with contextlib.suppress(RecordError):  # the first failure is the one to report
                        earlier.record(not_sent)
                raise

    def record(self, record: PatchRecord) -> None:
        failure: RecordError | None = None
        for trail in self.trails:
            try:
                trail.record(record)
            except RecordError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
