"""The API's answers, parsed straight from bytes into lean models that declare only what is used."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


def first_problem(exc: ValidationError, *, top: str | None = None) -> str:
    """The first thing pydantic found wrong, and where (`top` names the document as a whole)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or top
    return f"{first['msg']} at {where}" if where else first["msg"]


_LEAN = ConfigDict(extra="ignore", frozen=True)


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


class OESResultWithSpectra(OESResult):
    """A result with its wavelength grid and corrected series, read when the review page is asked for.

    Read in the same pass as the peaks (a second parse of the body would cost more than these fields) and
    never refused: whatever the server sends there is checked when the windows are cut (`reconciler.windows`),
    and a spectrum that cannot be plotted only goes unplotted. Dropped with the answer, once cut.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (*OESResult.FIELDS, "wavelengths", "scope_corrected", "sample")

    wavelengths: Any = None
    scope_corrected: Any = None
    sample: Any = None  # read only when `scope_corrected` is no list holding something (`kept_document`)


# A raw `scope_corrected` that is a list holding something: the page plots it, so `sample` is not needed.
_FILLED_LIST = re.compile(rb"\[[ \t\r\n]*[^ \t\r\n\]]")


def kept_document(fields: Mapping[str, bytes]) -> bytes:
    """The small JSON object rebuilt from an answer's kept fields (raw text each), for a model to validate.

    `sample` is dropped when `scope_corrected` is a list holding something, which the page plots instead.
    """
    if "sample" in fields and _FILLED_LIST.match(fields.get("scope_corrected", b"")):
        fields = {key: raw for key, raw in fields.items() if key != "sample"}
    return b"{" + b",".join(json.dumps(key).encode() + b":" + raw for key, raw in fields.items()) + b"}"
