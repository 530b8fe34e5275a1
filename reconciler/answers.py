"""The API's answers, parsed straight from bytes into lean models that declare only what is used."""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import from_json


def first_problem(exc: ValidationError, *, top: str | None = None) -> str:
    """The first thing pydantic found wrong, and where (`top` names the document as a whole)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or top
    return f"{first['msg']} at {where}" if where else first["msg"]


_LEAN = ConfigDict(extra="ignore", frozen=True)
# The top-level fields of an answer that hold spectra: read only for the review page.
SPECTRA = ("wavelengths", "scope_corrected", "sample")


class Candidate(BaseModel):
    """One candidate assignment of a peak, from either shape the server may send."""

    model_config = _LEAN

    key: str
    selected: bool = False


def _candidate_from(key: Any, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {"key": key}
    return {"key": key, "selected": value.get("selected") is True}


class PeakState(BaseModel):
    """A detected peak as the reconciler sees it: its applied candidate, element, and whether it is pinned."""

    model_config = _LEAN

    peak_id: str
    wavelength_nm: float | None = None
    element: str | None = None
    manual: bool = False
    candidate_key: str | None = None
    candidates: tuple[Candidate, ...] | None = None

    @field_validator("candidates", mode="before")
    @classmethod
    def _normalise_candidates(cls, value: Any) -> Any:
        """Accept a list of objects keyed `key` or `candidate_key`, or a mapping from key to object."""
        if isinstance(value, dict):
            return [_candidate_from(key, body) for key, body in value.items()]
        if isinstance(value, list):
            return [
                _candidate_from(item.get("key", item.get("candidate_key")), item)
                if isinstance(item, dict)
                else {"key": item}
                for item in value
            ]
        return value

    @property
    def applied(self) -> str | None:
        """The applied candidate key: the peak's own, else the one marked selected, else unknown."""
        if self.candidate_key:
            return self.candidate_key
        for candidate in self.candidates or ():
            if candidate.selected:
                return candidate.key
        return None

    @property
    def candidate_keys(self) -> frozenset[str] | None:
        """The keys the server lists for this peak, or None when it lists none."""
        if not self.candidates:
            return None
        return frozenset(candidate.key for candidate in self.candidates)


class OESResult(BaseModel):
    """The parts of `GET /oes/{data_id}` the reconciler uses; spectra are parsed past, never kept."""

    model_config = _LEAN
    # The top-level fields read from an answer (as raw text, by `reconciler.fields`); the rest is skipped.
    FIELDS: ClassVar[tuple[str, ...]] = ("detected_peaks", "last_updated")

    detected_peaks: tuple[PeakState, ...] = Field(default=())
    last_updated: str | None = None

    @field_validator("last_updated", mode="before")
    @classmethod
    def _stringify_timestamp(cls, value: Any) -> Any:
        return None if value is None else str(value)

    def peak(self, peak_id: str) -> PeakState | None:
        """The peak with this id (the first, should the server list one twice), found by a dict: a scan
        per override made an entry of many peaks and overrides quadratic."""
        return self._by_id.get(peak_id)

    @cached_property
    def _by_id(self) -> dict[str, PeakState]:
        by_id: dict[str, PeakState] = {}
        for peak in self.detected_peaks:
            by_id.setdefault(peak.peak_id, peak)
        return by_id


R = TypeVar("R", bound=OESResult)


class OESResultWithSpectra(OESResult):
    """A result with its wavelength grid and corrected series, read when the review page is asked for.

    Read in the same pass as the peaks (a second parse of the body would cost more than these fields) and
    never refused: whatever the server sends there is checked when the windows are cut (`reconciler.windows`),
    and a spectrum that cannot be plotted only goes unplotted. A series of plain numbers is held as an
    `array('d')`, 8 bytes a point (as Python floats in a list it took 32, and 5x the answer in all); anything
    else as JSON reads it. Dropped with the answer, once cut.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (*OESResult.FIELDS, *SPECTRA)

    wavelengths: Any = None
    scope_corrected: Any = None
    sample: Any = None  # read only when `scope_corrected` is no list holding something


def result_of(model: type[R], fields: Mapping[str, bytes]) -> R:
    """The model of an answer from its kept fields (raw JSON text each): the peaks validated by pydantic,
    the spectra (if the model has them) read on their own; a ValidationError when the peaks are wrong."""
    spectra = {name: fields[name] for name in SPECTRA if name in fields and name in model.model_fields}
    rest = b",".join(
        json.dumps(key).encode() + b":" + raw for key, raw in fields.items() if key not in spectra
    )
    result = model.model_validate_json(b"{" + rest + b"}")
    if not spectra:
        return result
    if "sample" in spectra and _FILLED_LIST.match(spectra.get("scope_corrected", b"")):
        del spectra["sample"]  # the page plots the corrected series instead
    return result.model_copy(update={name: series(raw) for name, raw in spectra.items()})


# A raw `scope_corrected` that is a list holding something: the page plots it, so `sample` is not needed.
_FILLED_LIST = re.compile(rb"\[[ \t\r\n]*[^ \t\r\n\]]")
# A byte that shows a list holds more than plain numbers (or is nested): a string, an object, a list, `true`,
# `false`, `null`, `NaN`, `Infinity`. Each is looked for by memchr, far faster than a regex over the text.
_NOT_NUMBERS = (b'"', b"[", b"{", b"t", b"f", b"n", b"N", b"I")
# A series is converted this many bytes at a time: the pieces `split` makes stay small.
_SLICE = 1 << 20


def series(raw: bytes) -> Any:
    """A spectrum's JSON text as the page reads it: a flat list of numbers as an `array('d')`; anything else
    as JSON reads it; None when it is no JSON at all."""
    text = raw.strip()
    last = len(text) - 1  # the closing bracket's place: the numbers are read in place, never copied whole
    plain = text[:1] == b"[" and text[-1:] == b"]"
    if plain and all(text.find(needle, 1, last) < 0 for needle in _NOT_NUMBERS):
        before = last - 1
        while before > 0 and text[before] in b" \t\r\n":
            before -= 1
        if text[before] == ord(","):  # `[1, 2,]`: no JSON (a piece's end would hide it)
            return None
        values = array("d")
        try:
            start = 1
            while start < last:
                end = text.find(b",", start + _SLICE, last)
                end = last if end < 0 else end
                # pydantic's JSON parser makes the piece's floats (faster than float() one by one); the
                # array keeps them at 8 bytes each, and the piece's list goes.
                values.extend(from_json(b"[" + text[start:end] + b"]"))
                start = end + 1
        except ValueError:  # `1,,2`, a trailing comma, `01`: not JSON
            return None
        return values
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None
