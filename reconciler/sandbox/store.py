"""The sandbox's results, held as pre-encoded JSON, and what GET and PATCH do to them.

Each result is kept as three byte strings that join into the document: the `head` (`data_id`, `id`),
the `spectra` (the big arrays, encoded once and shared between results that share the same list
objects), and the `tail` (the peaks, `last_updated` and the other small fields), the only part an edit
re-encodes. A peak's `_candidates` (the server-side candidate list of a shape that shows none) is kept
aside and never rendered. Every edit (a PATCH, or one of the admin requests) goes through
`StoredResult.update`, which moves `last_updated` strictly forward.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from reconciler.sandbox.keys import element_of

HEAD_FIELDS = ("data_id", "id")
SPECTRA_FIELDS = (
    "wavelengths",
    "wavelength_unit",
    "sample",
    "reference",
    "dark",
    "scope_corrected",
    "spectrum_type",
)
HIDDEN = "_candidates"
TICK = timedelta(milliseconds=1)  # the resolution of `last_updated`

T = TypeVar("T")


class Refused(Exception):
    """A request the API turns down: the HTTP status and the `detail` it answers with."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def encode_fields(fields: Mapping[str, Any]) -> bytes:
    """Fields as the inside of a JSON object (no braces), ready to be joined with others by commas."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[1:-1].encode()


def next_timestamp(previous: Any, *, now: datetime) -> str:
    """The `last_updated` of an edit made at `now`: later than `previous`, even within its millisecond.

    Two edits of one entry never share a timestamp, so a client that compares `last_updated` sees every
    edit. An unreadable `previous` (a data file may hold anything) is simply replaced.
    """
    try:
        before = datetime.fromisoformat(previous) if isinstance(previous, str) else None
    except ValueError:
        before = None
    if before is not None:
        before = before if before.tzinfo else before.replace(tzinfo=UTC)
        now = max(now, before + TICK)
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def listed_keys(peak: Mapping[str, Any]) -> list[str] | None:
    """The candidate keys a rendered peak lists, in any shape, or None when it lists none."""
    candidates = peak.get("candidates")
    if isinstance(candidates, dict):
        return list(candidates)
    if isinstance(candidates, list):
        return [_key_of(item) for item in candidates]
    return None


def _key_of(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("key", item.get("candidate_key")))
    return str(item)


def select_candidate(peak: dict[str, Any], key: str) -> None:
    """Apply `key` to a peak and pin it, in whatever shape the peak has; `Refused` 400 if not a candidate.

    The peak is as `StoredResult.update` hands it over: hidden candidates, if any, under `_candidates`.
    """
    allowed = peak.get(HIDDEN) or listed_keys(peak)
    if allowed is not None and key not in allowed:
        peak_id = peak.get("peak_id")
        raise Refused(400, f"{key!r} is not a candidate of peak {peak_id!r}: {', '.join(allowed)}")
    peak["manual"] = True
    peak["element"] = element_of(key)
    if "candidate_key" in peak:
        peak["candidate_key"] = key
    candidates = peak.get("candidates")
    flagged: Iterable[tuple[str, Any]] = ()
    if isinstance(candidates, dict):
        flagged = candidates.items()
    elif isinstance(candidates, list):
        flagged = ((_key_of(item), item) for item in candidates)
    for candidate, body in flagged:
        if isinstance(body, dict) and "selected" in body:
            body["selected"] = candidate == key


class StoredResult:
    """One result: its three encoded parts, its hidden candidate lists, and the lock PATCHes take."""

    __slots__ = ("data_id", "head", "hidden", "lock", "spectra", "tail")

    def __init__(
        self, data_id: str, *, head: bytes, spectra: bytes, tail: bytes, hidden: dict[str, list[str]]
    ) -> None:
        self.data_id = data_id
        self.head = head
        self.spectra = spectra
        self.tail = tail  # replaced whole, never mutated, so a GET reads it without the lock
        self.hidden = hidden
        self.lock = threading.Lock()

    def body(self) -> bytes:
        return b"{" + b",".join(part for part in (self.head, self.spectra, self.tail) if part) + b"}"

    def update(self, edit: Callable[[list[dict[str, Any]]], T]) -> tuple[T, str]:
        """Run `edit` on the peaks, then bump `last_updated`: what `edit` returned, and the new timestamp.

        `edit` sees each peak as a data file holds it (hidden candidates as `_candidates`) and may change,
        add, reorder or rename peaks in the list it is given. When it raises (`Refused`), nothing changes.
        Atomic: it holds the lock, and a GET sees the result before or after, never halfway.
        """
        with self.lock:
            tail = json.loads(b"{" + self.tail + b"}")
            peaks: list[dict[str, Any]] = tail.get("detected_peaks", [])
            for peak in peaks:
                if peak.get("peak_id") in self.hidden:
                    peak[HIDDEN] = list(self.hidden[peak["peak_id"]])
            outcome = edit(peaks)
            self.hidden = {peak["peak_id"]: list(peak.pop(HIDDEN)) for peak in peaks if HIDDEN in peak}
            tail["detected_peaks"] = peaks
            stamp = next_timestamp(tail.get("last_updated"), now=datetime.now(UTC))
            tail["last_updated"] = stamp
            self.tail = encode_fields(tail)
            return outcome, stamp

    def patch(self, peak_id: str, key: str) -> bool:
        """Select `key` for the peak and pin it; whether the peak changed. Raises `Refused`."""

        def edit(peaks: list[dict[str, Any]]) -> bool:
            peak = self.peak_of(peaks, peak_id)
            before = json.dumps(peak)
            select_candidate(peak, key)
            return json.dumps(peak) != before

        return self.update(edit)[0]

    def peak_of(self, peaks: list[dict[str, Any]], peak_id: str) -> dict[str, Any]:
        """The peak of this result named `peak_id`; `Refused` 404 when there is none."""
        peak = next((p for p in peaks if p.get("peak_id") == peak_id), None)
        if peak is None:
            raise Refused(404, f"peak {peak_id!r} not found in OES result of {self.data_id}")
        return peak

    def document(self) -> dict[str, Any]:
        """The result as a `--data` entry: the rendered document plus the hidden candidate lists."""
        with self.lock:
            document: dict[str, Any] = json.loads(self.body())
            hidden = self.hidden
        for peak in document.get("detected_peaks", ()):
            keys = hidden.get(peak.get("peak_id"))
            if keys is not None:
                peak[HIDDEN] = list(keys)
        return document


class ResultStore:
    """Every result of the sandbox, by `data_id`."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        documents = list(documents)
        problems = entries_problems(documents)
        if problems:
            raise ValueError("invalid sandbox data: " + summarise(problems))
        # Keyed by the identity of the spectra objects; holding them keeps the ids from being reused.
        cache: dict[tuple[int, ...], tuple[bytes, list[Any]]] = {}
        self._results = {document["data_id"]: _store(document, cache) for document in documents}

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[StoredResult]:
        return iter(self._results.values())

    def get(self, data_id: str) -> StoredResult:
        try:
            return self._results[data_id]
        except KeyError:
            raise Refused(404, f"no OES result for data entry {data_id}") from None


def _store(
    document: Mapping[str, Any], cache: dict[tuple[int, ...], tuple[bytes, list[Any]]]
) -> StoredResult:
    head = {name: document[name] for name in HEAD_FIELDS if name in document}
    spectra = {name: document[name] for name in SPECTRA_FIELDS if name in document}
    tail = {name: value for name, value in document.items() if name not in head and name not in spectra}
    peaks = tail.get("detected_peaks", ())
    hidden = {peak["peak_id"]: list(peak[HIDDEN]) for peak in peaks if HIDDEN in peak}
    if hidden:
        tail["detected_peaks"] = [{k: v for k, v in peak.items() if k != HIDDEN} for peak in peaks]
    identity = tuple(id(value) for value in spectra.values())
    if identity not in cache:
        cache[identity] = (encode_fields(spectra), list(spectra.values()))
    return StoredResult(
        document["data_id"],
        head=encode_fields(head),
        spectra=cache[identity][0],
        tail=encode_fields(tail),
        hidden=hidden,
    )


def summarise(problems: list[str], *, limit: int = 10) -> str:
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


def entries_problems(documents: list[Any]) -> list[str]:
    """What is wrong with a list of result documents, each problem naming the entry; empty when none."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, document in enumerate(documents):
        found = [f"entries[{index}]{problem}" for problem in document_problems(document)]
        data_id = document.get("data_id") if isinstance(document, dict) else None
        if not found and data_id in seen:
            found.append(f"entries[{index}].data_id: {data_id!r} appears twice")
        seen.add(str(data_id))
        problems += found
    return problems


def document_problems(document: Any) -> Iterator[str]:
    """What is wrong with a result document, each as `.<where>: <problem>`; nothing when it will serve."""
    if not isinstance(document, dict):
        yield ": must be a JSON object (a result document)"
        return
    data_id = document.get("data_id")
    if not isinstance(data_id, str) or not data_id:
        yield ".data_id: must be a non-empty string"
    peaks = document.get("detected_peaks")
    if not isinstance(peaks, list):
        yield ".detected_peaks: must be a list of peaks"
        return
    seen: set[str] = set()
    for index, peak in enumerate(peaks):
        where = f".detected_peaks[{index}]"
        if not isinstance(peak, dict):
            yield f"{where}: must be an object"
            continue
        peak_id = peak.get("peak_id")
        if not isinstance(peak_id, str) or not peak_id:
            yield f"{where}.peak_id: must be a non-empty string"
        elif peak_id in seen:
            yield f"{where}.peak_id: {peak_id!r} appears twice"
        else:
            seen.add(peak_id)
        yield from _candidate_problems(peak, where)


def _candidate_problems(peak: Mapping[str, Any], where: str) -> Iterator[str]:
    hidden = peak.get(HIDDEN)
    if hidden is not None and not (isinstance(hidden, list) and all(isinstance(k, str) for k in hidden)):
        yield f"{where}.{HIDDEN}: must be a list of candidate keys"
    candidates = peak.get("candidates")
    if candidates is None or isinstance(candidates, dict):
        return
    if not isinstance(candidates, list):
        yield f"{where}.candidates: must be a list or a mapping"
        return
    for item in candidates:
        if isinstance(item, dict) and not isinstance(item.get("key", item.get("candidate_key")), str):
            yield f"{where}.candidates: an object without a `key` or `candidate_key` string"
            return
