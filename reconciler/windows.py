"""Windows of spectra for the review page: a few nm around each peak not in sync; the rest is dropped."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from reconciler.models import Item, OESResultWithSpectra, Status

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


class _Sample(BaseModel):
    """The raw sample series, parsed from the body only when the result has no `scope_corrected`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sample: Any = None


def wants_window(item: Item) -> bool:
    """Whether the page plots this item: not in sync, and the server said where its peak was measured."""
    return item.status is not Status.IN_SYNC and item.wavelength_nm is not None


def _numbers(series: Any) -> list[float | None] | None:
    """A series as numbers, a point that is none (null, text, true) as None; None when it is no list."""
    if not isinstance(series, list) or not series:
        return None
    return [
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        for value in series
    ]


def _series(result: OESResultWithSpectra, body: bytes) -> tuple[str, list[float | None] | None]:
    """The series to plot: `scope_corrected`, else the raw `sample` (parsed again, for such results only)."""
    corrected = _numbers(result.scope_corrected)
    if corrected is not None:
        return "scope_corrected", corrected
    try:
        return "sample", _numbers(_Sample.model_validate_json(body).sample)
    except pydantic.ValidationError:  # pragma: no cover (the body parsed once already)
        return "sample", None


def cut_windows(
    result: OESResultWithSpectra, body: bytes, items: Iterable[Item]
) -> dict[tuple[str, str], Window]:
    """The windows of `items` (those the page plots) from one entry's result (`body`, its answer); none when
    it has no usable spectrum. Only the windows are kept: the series go with the result."""
    wanted = [item for item in items if wants_window(item)]
    grid = _numbers(result.wavelengths) if wanted else None
    if grid is None:
        return {}
    series, values = _series(result, body)
    if values is None:
        log.debug("no spectrum to plot for %s", wanted[0].data_id)
        return {}
    points = [(nm, value) for nm, value in zip(grid, values, strict=False) if nm is not None]
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
