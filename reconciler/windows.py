"""Windows of spectra for the review page: a few nm around each peak not in sync; the rest is dropped."""

from __future__ import annotations

import bisect
import logging
import math
import operator
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeAlias

from reconciler.answers import OESResultWithSpectra
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


def wants_window(item: Item) -> bool:
    """Whether the page plots this item: not in sync, and the server said where its peak was measured."""
    return item.status is not Status.IN_SYNC and item.wavelength_nm is not None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# A series as read (`reconciler.answers.series`): plain numbers in an array('d'), anything else in a list.
Series: TypeAlias = "list[Any] | array[float]"  # array is subscriptable at run time from 3.12


def _series(result: OESResultWithSpectra) -> tuple[str, Series]:
    """The series to plot: `scope_corrected`, else the raw `sample` (read only for such results)."""
    if isinstance(result.scope_corrected, list | array) and result.scope_corrected:
        return "scope_corrected", result.scope_corrected
    sample = result.sample
    return "sample", sample if isinstance(sample, list | array) else []


def _ascending(grid: Series) -> bool:
    """Whether the grid is numbers in ascending order (as instruments write it), so that bisecting finds a
    window; the check runs in C (sorting a sorted list is one pass; an array is compared pairwise)."""
    if isinstance(grid, array):
        return _number(grid[0]) and _number(grid[-1]) and all(map(operator.le, grid, islice(grid, 1, None)))
    try:
        return None not in grid and grid == sorted(grid) and _number(grid[0]) and _number(grid[-1])
    except TypeError:  # numbers mixed with text
        return False


def cut_windows(result: OESResultWithSpectra, items: Iterable[Item]) -> dict[tuple[str, str], Window]:
    """The windows of `items` (those the page plots) from one entry's result; none when it has no usable
    spectrum. Only the windows are kept: the series go with the result."""
    wanted = [item for item in items if wants_window(item)]
    grid = result.wavelengths
    if not wanted or not isinstance(grid, list | array) or not grid:
        return {}
    series, values = _series(result)
    ascending = _ascending(grid)
    windows = {}
    for item in wanted:
        assert item.wavelength_nm is not None
        peak_nm = item.wavelength_nm
        points = _near(grid, values, peak_nm - HALF_WIDTH_NM, peak_nm + HALF_WIDTH_NM, ascending=ascending)
        window = window_of(points, series=series, peak_nm=peak_nm)
        if window is not None:
            windows[item.sort_key] = window
    if not windows:
        log.debug("no spectrum to plot for %s", wanted[0].data_id)
    return windows


def _near(
    grid: Series, values: Series, low: float, high: float, *, ascending: bool
) -> list[tuple[float, float]]:
    """The numeric points from `low` to `high` nm, in order: bisected on an ascending grid (the window's
    few dozen points are all that is looked at), else found by a scan."""
    if ascending:
        start, end = bisect.bisect_left(grid, low), bisect.bisect_right(grid, high)
        pairs = zip(grid[start:end], values[start:end], strict=False)
    else:
        pairs = zip(grid, values, strict=False)
    points = [
        (float(nm), float(value))
        for nm, value in pairs
        if _number(nm) and _number(value) and low <= nm <= high
    ]
    return points if ascending else sorted(points)


def window_of(points: Sequence[tuple[float, float]], *, series: str, peak_nm: float) -> Window | None:
    """A window of `points` (in order, within reach of the peak), thinned to `MAX_POINTS`; None if fewer
    than two."""
    if len(points) < 2:
        return None
    step = -(-len(points) // MAX_POINTS)
    kept = points[::step]
    return Window(
        series=series,
        peak_nm=peak_nm,
        wavelengths=tuple(nm for nm, _ in kept),
        intensities=tuple(value for _, value in kept),
    )
