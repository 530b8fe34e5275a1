"""The record's rows: each PATCH written before it is sent and with its outcome; the look-ups of a plan."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from reconciler.audit import SENDING, UNKNOWN, outcome_of
from reconciler.errors import ConfigError, RecordError
from reconciler.models import EntryMemory, Item, LastSet, PatchRecord

APPLIED = "applied"  # the outcome of a PATCH whose answer showed the wanted candidate, pinned
CHUNK = 500  # ids per look-up query: well under SQLite's limit of bound parameters

Clock = Callable[[], str]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One recorded run; `finished_at` and `exit_code` are None while it runs, or when it was killed."""

    run_id: int
    command: str
    endpoint: str
    started_at: str
    finished_at: str | None
    sources: tuple[str, ...]
    git_commit: str | None
    git_dirty: bool | None
    counts: Mapping[str, int] | None
    exit_code: int | None


@dataclass(frozen=True, slots=True)
class PatchRow:
    """One recorded PATCH: the peak's state before, the target, and the outcome.

    `status` is `applied`, `failed`, `stopped` or `unknown`: a PATCH still `sending` in the database (its
    run was killed, or is still running) reads as `unknown`, as its outcome is.
    """

    id: int
    run_id: int
    data_id: str
    peak_id: str
    from_candidate: str | None
    element: str | None
    manual: bool | None
    wavelength_nm: float | None
    to_candidate: str
    status: str
    http_status: int | None
    attempts: int
    sent_at: str
    finished_at: str | None
    last_updated_after: str | None
    message: str | None

    @property
    def at(self) -> str:
        """When it ended, or when it was sent if its outcome is unknown."""
        return self.finished_at or self.sent_at


def _patch_row(row: sqlite3.Row) -> PatchRow:
    manual = row["manual"]
    return PatchRow(
        id=row["id"],
        run_id=row["run_id"],
        data_id=row["data_id"],
        peak_id=row["peak_id"],
        from_candidate=row["from_candidate"],
        element=row["element"],
        manual=None if manual is None else bool(manual),
        wavelength_nm=row["wavelength_nm"],
        to_candidate=row["to_candidate"],
        status=UNKNOWN if row["status"] == SENDING else row["status"],
        http_status=row["http_status"],
        attempts=row["attempts"],
        sent_at=row["sent_at"],
        finished_at=row["finished_at"],
        last_updated_after=row["last_updated_after"],
        message=row["message"],
    )


def _run_row(row: sqlite3.Row) -> RunRow:
    dirty = row["git_dirty"]
    return RunRow(
        run_id=row["run_id"],
        command=row["command"],
        endpoint=row["endpoint"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        sources=tuple(json.loads(row["sources"])),
        git_commit=row["git_commit"],
        git_dirty=None if dirty is None else bool(dirty),
        counts=None if row["counts"] is None else json.loads(row["counts"]),
        exit_code=row["exit_code"],
    )


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


class Record:
    """An open record. Writes commit at once (a `kill -9` keeps every row written); reads filter on the
    endpoint, as one database may hold several. Use `open_record` to get one."""

    def __init__(self, connection: sqlite3.Connection, *, path: str, writable: bool, clock: Clock) -> None:
        self._db = connection
        self.path = path
        self.writable = writable
        self._clock = clock

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    # --- Writing: each a single statement, committed when it returns; any failure is a RecordError. ---

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        if not self.writable:
            raise RecordError(
                f"the record {self.path} was opened for reading only", reason="the record is read-only"
            )
        try:
            yield self._db
        except (sqlite3.Error, OSError) as exc:
            raise RecordError(
                f"cannot write the record {self.path}: {exc}; nothing more was sent "
                "(a PATCH that cannot be recorded is not made)",
                reason="the record could not be written",
            ) from None

    def begin_run(
        self,
        *,
        command: str,
        endpoint: str,
        sources: Sequence[str],
        git_commit: str | None,
        git_dirty: bool | None,
        started_at: str,
    ) -> int:
        """Record the start of a run; returns its run id."""
        with self._writing() as db:
            cursor = db.execute(
                "INSERT INTO runs (command, endpoint, started_at, sources, git_commit, git_dirty) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (command, endpoint, started_at, json.dumps(list(sources)), git_commit, git_dirty),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def end_run(self, run_id: int, *, counts: Mapping[str, int], exit_code: int, finished_at: str) -> None:
        with self._writing() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, counts = ?, exit_code = ? WHERE run_id = ?",
                (finished_at, json.dumps(dict(counts)), exit_code, run_id),
            )

    def sending(self, run_id: int, item: Item) -> int:
        """Record a PATCH about to be sent (the item's state before, its target); returns the PATCH's id."""
        with self._writing() as db:
            cursor = db.execute(
                "INSERT INTO patches (run_id, endpoint, data_id, peak_id, from_candidate, element, manual, "
                "wavelength_nm, to_candidate, status, sent_at) "
                "SELECT run_id, endpoint, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM runs WHERE run_id = ?",
                (
                    item.data_id,
                    item.peak_id,
                    item.current,
                    item.element,
                    item.manual,
                    item.wavelength_nm,
                    item.desired,
                    SENDING,
                    self._clock(),
                    run_id,
                ),
            )
            if cursor.rowcount != 1:
                raise sqlite3.IntegrityError(f"no run {run_id} in the record")
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def outcome(self, patch_id: int, record: PatchRecord) -> None:
        """Record how a PATCH ended, and the entry's `last_updated` from the server's answer to it."""
        answered = record.http_status is not None and 200 <= record.http_status < 300
        item = record.item
        with self._writing() as db:
            db.execute(
                "UPDATE patches SET status = ?, http_status = ?, attempts = ?, finished_at = ?, "
                "last_updated_after = ?, message = ? WHERE id = ?",
                (
                    outcome_of(record),
                    record.http_status,
                    record.attempts,
                    self._clock(),
                    item.last_updated if answered else None,
                    item.message,
                    patch_id,
                ),
            )

    # --- Reading: a problem reading is the database's, named with its path. ---

    def _rows(self, sql: str, parameters: Sequence[Any]) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot read the record {self.path}: {exc}") from None

    def memory(self, endpoint: str, data_ids: Iterable[str]) -> dict[str, EntryMemory]:
        """What the record remembers of these entries (those it has applied a PATCH to, the others absent):
        the entry's `last_updated` after its latest applied PATCH, and per peak the latest applied one."""
        found: dict[str, tuple[int, str | None, dict[str, LastSet]]] = {}
        for chunk in _chunks(sorted(set(data_ids))):
            marks = ", ".join("?" * len(chunk))
            rows = self._rows(
                "SELECT id, data_id, peak_id, to_candidate, run_id, finished_at, wavelength_nm, "  # noqa: S608 (placeholders only)
                "last_updated_after FROM patches WHERE id IN (SELECT MAX(id) FROM patches "
                f"WHERE endpoint = ? AND status = 'applied' AND data_id IN ({marks}) "
                "GROUP BY data_id, peak_id)",
                (endpoint, *chunk),
            )
            for row in rows:
                latest, after, peaks = found.get(row["data_id"], (0, None, {}))
                peaks[row["peak_id"]] = LastSet(
                    candidate_key=row["to_candidate"],
                    run_id=row["run_id"],
                    at=row["finished_at"],
                    wavelength_nm=row["wavelength_nm"],
                )
                if row["id"] > latest:
                    latest, after = row["id"], row["last_updated_after"]
                found[row["data_id"]] = (latest, after, peaks)
        return {
            data_id: EntryMemory(last_updated_after=after, peaks=peaks)
            for data_id, (_latest, after, peaks) in found.items()
        }

    def runs(self, endpoint: str, *, command: str | None = None, limit: int | None = None) -> list[RunRow]:
        """The runs at `endpoint` (of one `command`, if given), newest first."""
        where, parameters = "endpoint = ?", [endpoint]
        if command is not None:
            where, parameters = where + " AND command = ?", [*parameters, command]
        rows = self._rows(
            f"SELECT * FROM runs WHERE {where} ORDER BY run_id DESC LIMIT ?",  # noqa: S608 (fixed text)
            (*parameters, -1 if limit is None else limit),
        )
        return [_run_row(row) for row in rows]

    def run(self, endpoint: str, run_id: int) -> RunRow | None:
        rows = self._rows("SELECT * FROM runs WHERE endpoint = ? AND run_id = ?", (endpoint, run_id))
        return _run_row(rows[0]) if rows else None

    def patches(
        self,
        endpoint: str,
        *,
        data_id: str | None = None,
        peak_id: str | None = None,
        run_id: int | None = None,
        limit: int | None = None,
    ) -> list[PatchRow]:
        """The PATCHes recorded at `endpoint`, of one entry, peak or run if given, newest first."""
        where, parameters = ["endpoint = ?"], list[str | int]([endpoint])
        for column, value in (("data_id", data_id), ("peak_id", peak_id), ("run_id", run_id)):
            if value is not None:
                where.append(f"{column} = ?")
                parameters.append(value)
        rows = self._rows(
            f"SELECT * FROM patches WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",  # noqa: S608
            (*parameters, -1 if limit is None else limit),
        )
        return [_patch_row(row) for row in rows]

    def endpoints(self) -> list[str]:
        """Every endpoint the record holds runs of."""
        return [row["endpoint"] for row in self._rows("SELECT DISTINCT endpoint FROM runs ORDER BY 1", ())]

    def applied_later(self, endpoint: str, run_id: int) -> dict[tuple[str, str], int]:
        """The peaks a run patched that a later run applied a PATCH to again, each with that run's id."""
        rows = self._rows(
            "SELECT later.data_id, later.peak_id, MAX(later.run_id) AS run_id FROM patches AS later "
            "JOIN (SELECT DISTINCT data_id, peak_id FROM patches WHERE run_id = ?) AS mine "
            "ON later.data_id = mine.data_id AND later.peak_id = mine.peak_id "
            "WHERE later.endpoint = ? AND later.status = 'applied' AND later.run_id > ? "
            "GROUP BY later.data_id, later.peak_id",
            (run_id, endpoint, run_id),
        )
        return {(row["data_id"], row["peak_id"]): row["run_id"] for row in rows}
