"""The JSON document in both directions: the report (and saved plan) written, the saved plan read back."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.answers import first_problem
from reconciler.errors import InputError
from reconciler.models import Item, Status
from reconciler.overrides.rules import (
    candidate_key_problem,
    data_id_problem,
    normalise_data_id,
    peak_id_problem,
    shown,
)
from reconciler.report import Report, summary
from reconciler.schemas import FORMAT_VERSION, ITEM_FIELDS, PLANNED_STATUSES

MAKE_A_NEW_PLAN = "make a new plan"


class _PlanHeader(BaseModel):
    """Read first, so a plan of another version is named as such whatever its items look like."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    format_version: str
    command: str


class _PlanDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    endpoint: str
    sources: tuple[str, ...] = ()
    overrides_digest: str | None = None
    interrupted: bool = False
    # Why the run stopped early (a signal, a refused key, an unreachable API...), when it did.
    stopped: str | None = None
    items_digest: str | None = None
    # Item is a stdlib dataclass: pydantic checks its fields (status words too) and drops unknown keys.
    items: tuple[Item, ...]


@dataclass(frozen=True)
class SavedPlan:
    """A plan as it was saved: where it was made, from which files, and each item with its planned state."""

    endpoint: str
    sources: tuple[str, ...]
    overrides_digest: str | None
    items: tuple[Item, ...]


def read_plan(path: str) -> SavedPlan:
    """Read a saved plan, refusing anything that is not a whole, untouched plan of this format version."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read plan {path}: {exc.strerror}") from None
    try:
        header = _PlanHeader.model_validate_json(raw)
    except ValidationError as exc:
        raise InputError(f"{path} is not a saved plan: {first_problem(exc, top='top level')}") from None
    _check_header(path, header)
    try:
        document = _PlanDocument.model_validate_json(raw)
    except ValidationError as exc:
        raise InputError(f"{path} is not a saved plan: {first_problem(exc, top='top level')}") from None
    _check_complete(path, document)
    items = _checked_items(path, document)
    return SavedPlan(
        endpoint=document.endpoint,
        sources=document.sources,
        overrides_digest=document.overrides_digest,
        items=items,
    )


def _check_header(path: str, header: _PlanHeader) -> None:
    if header.format_version == "1":
        raise InputError(
            f"{path} was made by an older oes-reconcile (plan format version '1', without a digest of its "
            f"items); {MAKE_A_NEW_PLAN} with this version"
        )
    if header.format_version != FORMAT_VERSION:
        raise InputError(
            f"{path} is a plan of format version {header.format_version!r}; this oes-reconcile reads "
            f"version {FORMAT_VERSION!r}: {MAKE_A_NEW_PLAN} with this version"
        )
    if header.command != "plan":
        raise InputError(f"{path} is the report of an {header.command!r} run, not a saved plan")


def _check_complete(path: str, document: _PlanDocument) -> None:
    """A plan run cut short saw only part of the entries: applying it would act on half a picture."""
    if document.interrupted:
        raise InputError(f"{path} was saved by a plan run that was interrupted; {MAKE_A_NEW_PLAN}")
    if document.stopped is not None:
        raise InputError(
            f"{path} was saved by a plan run that stopped early ({document.stopped}); {MAKE_A_NEW_PLAN}"
        )
    if document.items_digest is None:
        raise InputError(f"{path} carries no items_digest (edited by hand?); {MAKE_A_NEW_PLAN}")


def _checked_items(path: str, document: _PlanDocument) -> tuple[Item, ...]:
    """The items with ids as the loader would take them; refused if one is wrong, doubled or edited.

    A plan written before items carried `wavelength_nm` and `verified_by` has its digest over lines
    without them: it is still read, as long as none of its items holds either (they are unknown then).
    """
    digest, earlier = ItemsDigest(), ItemsDigest()
    seen: dict[tuple[str, str], int] = {}
    items: list[Item] = []
    for number, item in enumerate(document.items, start=1):
        digest.add(item_line(item))
        earlier.add(item_line(item, fields=EARLIER_ITEM_FIELDS))
        where = f"{path}: item {number} (data_id {shown(item.data_id)}, peak_id {shown(item.peak_id)})"
        problem = (
            data_id_problem(item.data_id)
            or peak_id_problem(item.peak_id)
            or _desired_problem(item.desired)
            or _status_problem(item.status)
        )
        if problem:
            raise InputError(f"{where}: {problem}; {MAKE_A_NEW_PLAN}")
        taken = replace(item, data_id=normalise_data_id(item.data_id))
        first = seen.setdefault(taken.sort_key, number)
        if first != number:
            raise InputError(
                f"{where}: a second item for that peak (the first is item {first}); {MAKE_A_NEW_PLAN}"
            )
        items.append(taken)
    written_earlier = earlier.value == document.items_digest and not any(
        item.wavelength_nm is not None or item.verified_by is not None for item in items
    )
    if digest.value != document.items_digest and not written_earlier:
        raise InputError(
            f"{path}: its items do not match its items_digest (edited by hand?); {MAKE_A_NEW_PLAN}"
        )
    return tuple(items)


def _desired_problem(desired: str) -> str | None:
    problem = candidate_key_problem(desired)
    return None if problem is None else f"desired: {problem}"


def _status_problem(status: Status) -> str | None:
    if status in PLANNED_STATUSES:
        return None
    return f"status {status.value!r} is not one a plan writes"


# --- Writing: the report, which `plan --out` also writes as the saved plan. ---


def item_json(item: Item) -> dict[str, Any]:
    """An item as the JSON report (and saved plan) writes it: the fields of its model (schemas.py), in order.

    `wavelength_nm` is where the server measured the peak; `verified_by` the run whose PATCH the record
    verifies an element-only match by (None: not verified, or compared by candidate key).
    """
    written = {name: getattr(item, name) for name in ITEM_FIELDS}
    written["status"] = item.status.value
    return written


# The fields of an item in plans written before the record: their digest covers these only.
EARLIER_ITEM_FIELDS = (
    "data_id",
    "peak_id",
    "desired",
    "current",
    "element",
    "manual",
    "status",
    "source",
    "note",
    "message",
    "last_updated",
)


def item_line(item: Item, *, fields: tuple[str, ...] | None = None) -> str:
    """An item as the JSON report writes it, on one line: the canonical encoding its digest covers
    (`fields`: only those, as an earlier version wrote it)."""
    written = item_json(item)
    if fields is not None:
        written = {name: written[name] for name in fields}
    return json.dumps(written, ensure_ascii=False)


class ItemsDigest:
    """sha256 over the items' lines, fed one at a time so a streamed report stays single-pass."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, line: str) -> None:
        self._hash.update(line.encode("utf-8"))
        self._hash.update(b"\n")

    @property
    def value(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"


def write_json(report: Report, out: TextIO, *, ascii_only: bool = False) -> None:
    """The JSON report (also the saved plan), streamed item by item so memory stays flat.

    `items_digest` comes last, after the items it covers, so that writing stays one pass; JSON readers
    do not care about key order. `ascii_only` escapes every other character as JSON does (`\u00c5`), for a
    stdout whose encoding cannot show them: the same document, losslessly.
    """
    head: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "command": report.command,
        "generated_at": report.generated_at,
        "endpoint": report.endpoint,
        "sources": list(report.sources),
    }
    head["summary"] = summary(report)
    # Beyond the specified keys, after them: readers ignore what they do not know.
    if report.interrupted:
        head["interrupted"] = True
    if report.stopped is not None:
        head["stopped"] = report.stopped
    if report.overrides_digest is not None:
        head["overrides_digest"] = report.overrides_digest
    out.write(json.dumps(head, ensure_ascii=ascii_only)[:-1] + ', "items": [')
    digest = ItemsDigest()
    for index, item in enumerate(report.items):
        line = item_line(item)
        digest.add(line)
        if ascii_only:
            line = json.dumps(item_json(item))
        out.write(("\n  " if index == 0 else ",\n  ") + line)
    out.write("\n]" if report.items else "]")
    out.write(f', "items_digest": {json.dumps(digest.value)}}}\n')


# Every character outside printable ASCII. In the JSON we write it occurs only inside strings (the structure
# is ASCII), where control characters are escaped already, so escaping the rest there is lossless.
_NOT_ASCII = re.compile("[^\\x00-\\x7e]")
COPY_CHUNK = 1 << 20  # characters per read when a written report is copied


def _json_escape(match: re.Match[str]) -> str:
    """One character as `json.dumps` escapes it: `\\u00c5`, a surrogate pair beyond the BMP."""
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def ascii_json(text: str) -> str:
    """JSON text with every non-ASCII character escaped, as `json.dumps(..., ensure_ascii=True)` writes it."""
    return _NOT_ASCII.sub(_json_escape, text)


def copy_json(path: str, out: TextIO, *, ascii_only: bool = False) -> None:
    """Copy a report `write_json` wrote to `path`, chunk by chunk, so it is serialised once however many
    places take it; `ascii_only` gives the bytes `write_json(..., ascii_only=True)` would have written."""
    with Path(path).open(encoding="utf-8", newline="") as written:
        while chunk := written.read(COPY_CHUNK):
            out.write(ascii_json(chunk) if ascii_only else chunk)
