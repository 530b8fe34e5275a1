"""Peak identity: whether the peak with an override's id is the peak it meant, and where else to look."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line reads the default below at start-up: no pydantic for that
    from reconciler.answers import PeakState
    from reconciler.models import LastSet, Override

# How far (nm) a peak may sit from where the override file or the record expects it and still be that
# peak: measured positions wander by a few tenths of a nm between runs; neighbouring peaks lie further.
DEFAULT_WAVELENGTH_TOLERANCE = 0.5


def expected_wavelength(override: Override, last: LastSet | None) -> tuple[float, str] | None:
    """Where the override's peak should be, and who says so: the override file's `wavelength_nm`, else
    the peak's wavelength when oes-reconcile last patched it; None when neither knows."""
    if override.wavelength_nm is not None and known(override.wavelength_nm):
        return override.wavelength_nm, "the override's wavelength_nm"
    if last is not None and last.wavelength_nm is not None and known(last.wavelength_nm):
        return last.wavelength_nm, f"where it was when run {last.run_id} patched it"
    return None


def peak_moved(
    override: Override,
    peak: PeakState,
    peaks: Sequence[PeakState],
    *,
    last: LastSet | None,
    tolerance: float,
) -> str | None:
    """Why the peak is not the one the override meant, or None: it sits further than `tolerance` from
    where it is expected (`expected_wavelength`). No expectation: no check. A wavelength the file asks
    for but the server does not give cannot be checked, so it is not taken on trust either."""
    expected = expected_wavelength(override, last)
    now = peak.wavelength_nm
    if expected is None:
        return None
    wavelength, whence = expected
    if now is None or not known(now):
        if override.wavelength_nm is None:  # only the record expected it: the server sends no positions
            return None
        return (
            f"the server gives no wavelength_nm for peak {override.peak_id!r}, so it cannot be checked "
            f"against the {nm(wavelength)} nm of the override file; remove wavelength_nm from the override "
            "to patch it unchecked"
        )
    if abs(now - wavelength) <= tolerance:
        return None
    hint = (
        f"; if {override.peak_id!r} is the peak you mean, write wavelength_nm: {nm(now)} in the override "
        "(export writes it)"
        if override.wavelength_nm is None
        else ""
    )
    return (
        f"peak {override.peak_id!r} is now at {nm(now)} nm, expected within {nm(tolerance)} nm of "
        f"{nm(wavelength)} nm ({whence}): reprocessing may have renumbered the peaks; "
        f"{near(wavelength, peaks, tolerance=tolerance)}{hint}"
    )


def near(expected: float, peaks: Iterable[PeakState], *, tolerance: float) -> str:
    """The peaks now within `tolerance` of `expected`, nearest first: where the meant peak may be now."""
    found = sorted(
        (abs(wavelength - expected), peak.peak_id, wavelength)
        for peak in peaks
        if (wavelength := peak.wavelength_nm) is not None
        and known(wavelength)
        and abs(wavelength - expected) <= tolerance
    )
    listed = ", ".join(f"{peak_id} ({nm(wavelength)} nm)" for _distance, peak_id, wavelength in found)
    return f"peaks near {nm(expected)} nm now: {listed or 'none'}"


def known(wavelength: float) -> bool:
    """A wavelength to compare with: a server may send NaN, which is never near anything."""
    return math.isfinite(wavelength)


def nm(wavelength: float) -> str:
    """A wavelength as messages show it: up to 3 decimals, no trailing zeros (417.21, 452.1, 0.5)."""
    return f"{wavelength:.3f}".rstrip("0").rstrip(".")


def peak_not_found(
    override: Override, peaks: Sequence[PeakState], *, last: LastSet | None = None, tolerance: float
) -> str:
    """Why no peak matched, with the peaks there are, any that differ from the id only in form, and the
    peaks near where it is expected (when that is known)."""
    peak_id = override.peak_id
    there = ", ".join(p.peak_id for p in peaks) or "none"
    message = f"the result has no peak {peak_id!r} (peaks: {there})"
    similar = lookalikes(peak_id, peaks)
    if similar:
        message = f"{message}; did you mean {' or '.join(map(repr, similar))}?"
    expected = expected_wavelength(override, last)
    return message if expected is None else f"{message}; {near(expected[0], peaks, tolerance=tolerance)}"


def lookalikes(peak_id: str, peaks: Iterable[PeakState]) -> list[str]:
    """Ids of `peaks` that read as `peak_id` once Unicode forms, case and surrounding spaces are set aside."""
    wanted = _as_read(peak_id)
    return list(
        dict.fromkeys(p.peak_id for p in peaks if p.peak_id != peak_id and _as_read(p.peak_id) == wanted)
    )


def _as_read(peak_id: str) -> str:
    """A peak id as a person reads it: compatibility forms unified (NFKC: full-width letters and
    digits read as ASCII), invisible format characters (zero-width space, BOM) dropped, case folded,
    spaces around it trimmed.
    """
    text = unicodedata.normalize("NFKC", peak_id)
    text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return unicodedata.normalize("NFKC", text.casefold()).strip()
