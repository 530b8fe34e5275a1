"""Windows of spectra for the review page: a few nm around each peak not in sync; the rest is dropped."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pydantic
from pydantic import BaseModel, ConfigDict

from reconciler.models import Item, Status

log = logging.getLogger(__name__)

HALF_WIDTH_NM = 5.0
# More points than this in one window are thinned (every n-th kept): the plot is ~300 px wide.
MAX_POINTS = 400


@dataclass(frozen=True, slots=True)
class Window:
    """The spectrum within `HALF_WIDTH_NM` of a peak: which series, the peak, and the points in the window."""

    series: str  # "scope_corrected", else "sample"
    peak_nm: float
    wavelengths: tuple[float, ...]
    intensities: tuple[float, ...]

    @property
    def low(self) -> float:
        return self.peak_nm - HALF_WIDTH_NM

    @property
    def high(self) -> float:
        return self.peak_nm + HALF_WIDTH_NM


# (data_id, peak_id) -> the window around that peak.
Windows = Mapping[tuple[str, str], Window]

_SPECTRA = ConfigDict(extra="ignore", frozen=True)
_Series = tuple[float | None, ...] | None


class _Corrected(BaseModel):
    """The grid and the corrected series; parsed only for an entry with a peak to plot, then dropped."""

    model_config = _SPECTRA

    wavelengths: _Series = None
    scope_corrected: _Series = None


class _Sample(BaseModel):
    """The raw sample series, read only when the result has no `scope_corrected`."""

    model_config = _SPECTRA

    sample: _Series = None


def wants_window(item: Item) -> bool:
    """Whether the page plots this item: not in sync, and the server said where its peak was measured."""
    return item.status is not Status.IN_SYNC and item.wavelength_nm is not None


def cut_windows(body: bytes, items: Iterable[Item]) -> dict[tuple[str, str], Window]:
    """The windows of `items` (those the page plots) from one entry's answer `body`; none when it has no
    usable spectrum. Only the windows are kept: the parsed series go when this returns."""
    wanted = [item for item in items if wants_window(item)]
    if not wanted:
        return {}
    try:
        spectra = _Corrected.model_validate_json(body)
        series, values = "scope_corrected", spectra.scope_corrected
        if not values:
            series, values = "sample", _Sample.model_validate_json(body).sample
    except pydantic.ValidationError as exc:
        log.debug("no spectrum to plot for %s: %s", wanted[0].data_id, exc)
        return {}
    if not spectra.wavelengths or not values:
        return {}
    points = [(nm, value) for nm, value in zip(spectra.wavelengths, values, strict=False) if nm is not None]
    windows = {}
    for item in wanted:
        assert item.wavelength_nm is not None
        window = window_of(points, series=series, peak_nm=item.wavelength_nm)
        if window is not None:
            windows[item.sort_key] = window
    return windows


def window_of(points: Sequence[tuple[float, float | None]], *, series: str, peak_nm: float) -> Window | None:
    """The points within `HALF_WIDTH_NM` of `peak_nm`, sorted and thinned to `MAX_POINTS`; None if fewer
    than two fall there."""
    low, high = peak_nm - HALF_WIDTH_NM, peak_nm + HALF_WIDTH_NM
    inside = sorted((nm, value) for nm, value in points if low <= nm <= high and value is not None)
    if len(inside) < 2:
        return None
    step = -(-len(inside) // MAX_POINTS)
    kept = inside[::step]
    return Window(
        series=series,
        peak_nm=peak_nm,
        wavelengths=tuple(nm for nm, _ in kept),
        intensities=tuple(float(value) for _, value in kept if value is not None),
    )
