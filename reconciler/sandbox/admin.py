"""What the platform does to a result besides the API's PATCH: an edit in its web UI, and reprocessing.

Each is an admin request, `POST /_sandbox/<name>` with a JSON body and the same key as the API, and a
method of `Sandbox`. Both bump the entry's `last_updated` as any edit does, and are counted in
`stats()["admin"]`, never among the PATCHes.

- `ui-edit` `{"data_id", "peak_id", "candidate_key"}`: someone pins another candidate on a peak in the web
  interface. The key must be one of the peak's candidates (hidden ones included), as for a PATCH.
- `reprocess` `{"data_id", "wavelength_nm", "element"?, "candidates"?}`: reprocessing detects a new,
  unpinned peak at `wavelength_nm`, and numbers all peaks `p1, p2, ...` in wavelength order, so ids
  shift. Every other peak keeps what it had (pins included) under its new id. The new peak is drawn in
  the entry's shape, applying its first candidate of `element` (or its first, when no element is
  given); with `element` alone it lists no candidates and takes any key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.control import Stats
from reconciler.sandbox.data import Peak, render_peak, shape_of
from reconciler.sandbox.keys import element_of, is_candidate_key
from reconciler.sandbox.store import Refused, ResultStore, select_candidate

Problem = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UiEdit:
    """Pin `candidate_key` on peak `peak_id` of entry `data_id`, as a scientist would in the web UI."""

    data_id: str
    peak_id: str
    candidate_key: str


@dataclass(frozen=True, slots=True)
class Reprocess:
    """Reprocess entry `data_id`, which detects a new peak at `wavelength_nm`."""

    data_id: str
    wavelength_nm: float
    element: str | None = None
    candidates: tuple[str, ...] | None = None


def ui_edit(store: ResultStore, stats: Stats, request: UiEdit) -> dict[str, Any]:
    """Apply a UI edit; what it did, with the entry's new `last_updated`. Raises `Refused`."""
    result = store.get(request.data_id)

    def edit(peaks: list[dict[str, Any]]) -> None:
        select_candidate(result.peak_of(peaks, request.peak_id), request.candidate_key)

    _, stamp = result.update(edit)
    stats.admin("ui-edit")
    return {
        "data_id": request.data_id,
        "peak_id": request.peak_id,
        "candidate_key": request.candidate_key,
        "last_updated": stamp,
    }


def reprocess(store: ResultStore, stats: Stats, request: Reprocess) -> dict[str, Any]:
    """Reprocess an entry; the new peak's id, every old id's new one, and the new `last_updated`.

    Raises `Refused`: 422 for unusable values, 404 for an unknown entry, 409 when the entry cannot be
    ordered by wavelength (a peak without `wavelength_nm`, or one already at the new wavelength).
    """
    problems = list(_reprocess_problems(request))
    if problems:
        raise Refused(422, problems)
    result, at = store.get(request.data_id), float(request.wavelength_nm)  # 400 from Python reads 400.0

    def edit(peaks: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
        for peak in peaks:
            where, peak_id = _number(peak.get("wavelength_nm")), peak.get("peak_id")
            if where is None:
                raise Refused(409, f"peak {peak_id!r} has no wavelength_nm: peaks cannot be ordered")
            if where == at:
                raise Refused(409, f"peak {peak_id!r} is already at {where} nm")
        shape = next((s for s in map(shape_of, peaks) if s != "element"), "element")
        new = _new_peak(request, at, shape)
        peaks.append(new)
        peaks.sort(key=lambda peak: float(peak["wavelength_nm"]))  # stable: equal wavelengths keep order
        renumbered: dict[str, str] = {}
        for number, peak in enumerate(peaks, start=1):
            if peak is not new:
                renumbered[peak["peak_id"]] = f"p{number}"
            peak["peak_id"] = f"p{number}"
        return new["peak_id"], renumbered

    (peak_id, renumbered), stamp = result.update(edit)
    stats.admin("reprocess")
    return {
        "data_id": request.data_id,
        "peak_id": peak_id,
        "wavelength_nm": at,
        "renumbered": renumbered,
        "last_updated": stamp,
    }


def _number(value: Any) -> float | None:
    """`value` as a finite number, or None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _new_peak(request: Reprocess, at: float, shape: str) -> dict[str, Any]:
    """The newly detected peak, unpinned, in `shape`; its id is given when the peaks are numbered."""
    if not request.candidates:
        return {
            "peak_id": "",
            "wavelength_nm": at,
            "element": request.element,
            "manual": False,
        }
    applied = next(
        key for key in request.candidates if request.element in (None, element_of(key))
    )  # _reprocess_problems made sure there is one
    peak = Peak("", at, applied, manual=False, candidates=request.candidates)
    return render_peak(peak, shape)


def _reprocess_problems(request: Reprocess) -> Iterator[Problem]:
    if _number(request.wavelength_nm) is None or request.wavelength_nm <= 0:
        yield _problem("wavelength_nm", "Input should be a positive number of nm", "greater_than")
    if not request.element and not request.candidates:
        yield _problem("element", "Give `element`, `candidates`, or both", "missing")
        return
    keys = request.candidates or ()
    bad = [key for key in keys if not is_candidate_key(key)]
    if bad:
        yield _problem("candidates", f"Not a candidate key like Ga_417.2: {bad[0]!r}", "value_error")
    elif len(set(keys)) != len(keys):
        yield _problem("candidates", "A candidate key appears twice", "value_error")
    elif keys and request.element and all(element_of(key) != request.element for key in keys):
        yield _problem("candidates", f"None is a line of element {request.element!r}", "value_error")


def _problem(field: str, msg: str, kind: str) -> Problem:
    """One problem with a request body, as FastAPI words it."""
    return {"loc": ["body", field], "msg": msg, "type": kind}


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; `Refused` 422 in the style of FastAPI otherwise."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise Refused(422, [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]) from None
    if not isinstance(payload, dict):
        raise Refused(422, [{"loc": ["body"], "msg": "Input should be an object", "type": "model_type"}])
    return payload


def read_ui_edit(body: bytes) -> UiEdit:
    """The UI edit a request body asks for; `Refused` 422 naming each field that is wrong."""
    payload = _fields(body, ("data_id", "peak_id", "candidate_key"))
    problems = [
        _not_text(name) for name in ("data_id", "peak_id", "candidate_key") if not _text(payload.get(name))
    ]
    if problems:
        raise Refused(422, problems)
    return UiEdit(payload["data_id"], payload["peak_id"], payload["candidate_key"])


def read_reprocess(body: bytes) -> Reprocess:
    """The reprocessing a request body asks for; `Refused` 422 naming each field that is wrong."""
    payload = _fields(body, ("data_id", "wavelength_nm", "element", "candidates"))
    data_id, element, keys = payload.get("data_id"), payload.get("element"), payload.get("candidates")
    wavelength_nm = _number(payload.get("wavelength_nm"))
    problems = [_not_text("data_id")] if not _text(data_id) else []
    if wavelength_nm is None:
        problems.append(_problem("wavelength_nm", "Input should be a number of nm", "float_type"))
    if element is not None and not _text(element):
        problems.append(_not_text("element"))
    if keys is not None and not (isinstance(keys, list) and all(_text(key) for key in keys)):
        problems.append(_problem("candidates", "Input should be a list of candidate keys", "list_type"))
    if problems or not isinstance(data_id, str) or wavelength_nm is None:  # the last two for mypy
        raise Refused(422, problems)
    return Reprocess(data_id, wavelength_nm, element, None if keys is None else tuple(keys))


def _fields(body: bytes, known: tuple[str, ...]) -> dict[str, Any]:
    """The body's JSON object, refusing fields it does not know: a misspelt one would be ignored silently."""
    payload = json_object(body)
    extra = [
        _problem(name, "Extra inputs are not permitted", "extra_forbidden")
        for name in payload
        if name not in known
    ]
    if extra:
        raise Refused(422, extra)
    return payload


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _not_text(field: str) -> Problem:
    return _problem(field, "Input should be a non-empty string", "string_type")


ADMIN_REQUESTS: dict[str, Callable[[ResultStore, Stats, bytes], dict[str, Any]]] = {
    "ui-edit": lambda store, stats, body: ui_edit(store, stats, read_ui_edit(body)),
    "reprocess": lambda store, stats, body: reprocess(store, stats, read_reprocess(body)),
}
"""Each admin request, by the name after `/_sandbox/`: what it answers, given the body it was sent."""
