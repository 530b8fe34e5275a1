"""One small SVG plot, written by hand: a window of a spectrum, its peak, and the current and wanted lines."""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.identity import nm
from reconciler.windows import Window

WIDTH, HEIGHT = 320, 120
LEFT, RIGHT = 34, 312  # the plot area, x
TOP, BOTTOM = 24, 96  # the plot area, y; two label rows above it, the nm axis below
LABEL_ROWS = (10, 20)
# Okabe-Ito colours (safe for colour blindness), told apart by dash pattern and weight too (greyscale).
CURRENT = ("current", "#d55e00", "5 3", "1.5")
WANTED = ("wanted", "#0072b2", "", "2")
LABEL_CHARS_PX = 5.6  # width of one character of the 9 px labels, roughly


@dataclass(frozen=True, slots=True)
class Line:
    """A candidate line to mark: its role (`current`, `wanted`), key, and wavelength (None: unknown)."""

    role: str
    key: str
    nm: float | None


def line_of(key: str | None, role: str) -> Line | None:
    """The line of a candidate key, its wavelength the number after the last `_` (`Ga_417.2`: 417.2 nm)."""
    if not key:
        return None
    _element, sep, number = key.rpartition("_")
    try:
        wavelength = float(number) if sep else None
    except ValueError:
        wavelength = None
    return Line(role, key, wavelength if wavelength is not None and math.isfinite(wavelength) else None)


def inside(window: Window, line: Line) -> bool:
    return line.nm is not None and window.low <= line.nm <= window.high


def _x(window: Window, wavelength: float) -> float:
    return LEFT + (wavelength - window.low) / (window.high - window.low) * (RIGHT - LEFT)


def _ticks(window: Window) -> list[float]:
    """Every 2 nm: five or six ticks over the 10 nm window."""
    step = 2.0
    first = math.ceil(window.low / step) * step
    return [first + i * step for i in range(int((window.high - first) // step) + 1)]


def _f(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _compact(value: float) -> str:
    """An intensity as an axis label: 3 significant digits, k for thousands."""
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def describe(window: Window, lines: Sequence[Line], *, data_id: str, peak_id: str) -> str:
    """The plot in words: its accessible title."""
    parts = [
        f"Spectrum ({window.series}) of entry {data_id} around peak {peak_id} at {nm(window.peak_nm)} nm"
    ]
    for line in lines:
        where = "unknown wavelength" if line.nm is None else f"{nm(line.nm)} nm"
        off = "" if inside(window, line) else ", outside the window"
        parts.append(f"{line.role} line {line.key} at {where}{off}")
    return "; ".join(parts)


def svg(window: Window, lines: Sequence[Line], *, title: str) -> str:
    """The plot: axes with nm ticks, the spectrum, the peak marked, the lines that fall in the window."""
    low_i, high_i = min(window.intensities), max(window.intensities)
    span = (high_i - low_i) or 1.0

    def y(value: float) -> float:
        return BOTTOM - (value - low_i) / span * (BOTTOM - TOP - 4)

    label = html.escape(title, quote=True)
    out = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"><title>{label}</title>',
        f'<path class="axis" d="M{LEFT} {TOP - 2}V{BOTTOM}H{RIGHT}"/>',
    ]
    for tick in _ticks(window):
        x = _x(window, tick)
        out.append(f'<path class="axis" d="M{x:.1f} {BOTTOM}v4"/>')
        out.append(f'<text x="{x:.1f}" y="{BOTTOM + 13}" text-anchor="middle">{_f(tick)}</text>')
    out.append(f'<text x="{RIGHT}" y="{HEIGHT - 2}" text-anchor="end">nm</text>')
    out.append(f'<text x="{LEFT - 3}" y="{TOP + 3}" text-anchor="end">{_compact(high_i)}</text>')
    out.append(f'<text x="{LEFT - 3}" y="{BOTTOM}" text-anchor="end">{_compact(low_i)}</text>')
    points = " ".join(
        f"{_x(window, w):.1f},{y(v):.1f}" for w, v in zip(window.wavelengths, window.intensities, strict=True)
    )
    out.append(f'<polyline class="spectrum" points="{points}"/>')
    out.extend(_lines(window, lines))
    peak_x = _x(window, window.peak_nm)
    peak_y = y(_intensity_at(window, window.peak_nm)) - 3
    out.append(
        f'<path class="peak" d="M{peak_x:.1f} {peak_y:.1f}l-4 -7h8z"><title>peak at {nm(window.peak_nm)} nm'
        "</title></path>"
    )
    out.append("</svg>")
    return "".join(out)


def _lines(window: Window, lines: Sequence[Line]) -> list[str]:
    """Each line in the window as a vertical line with its key above; a second label row when two meet."""
    out: list[str] = []
    taken: list[tuple[float, float]] = []  # label extents on the first row
    for line in lines:
        if line.nm is None or not inside(window, line):
            continue
        x = _x(window, line.nm)
        _role, colour, dash, weight = CURRENT if line.role == "current" else WANTED
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<path class="{line.role}" d="M{x:.1f} {TOP - 2}V{BOTTOM}" stroke="{colour}" '
            f'stroke-width="{weight}"{dashes}/>'
        )
        text = f"{line.role}: {line.key}"
        width = len(text) * LABEL_CHARS_PX
        anchor, start = ("end", x - width) if x + width > WIDTH else ("start", x + 2)
        extent = (start, start + width)
        row = 0 if all(extent[1] < a or extent[0] > b for a, b in taken) else 1
        taken.append(extent)
        text_x = x if anchor == "end" else x + 2
        out.append(
            f'<text x="{text_x:.1f}" y="{LABEL_ROWS[row]}" text-anchor="{anchor}" fill="{colour}">'
            f"{html.escape(text)}</text>"
        )
    return out


def _intensity_at(window: Window, wavelength: float) -> float:
    """The spectrum at `wavelength`, interpolated between its nearest points."""
    pairs = list(zip(window.wavelengths, window.intensities, strict=True))
    for (w0, v0), (w1, v1) in itertools.pairwise(pairs):
        if w0 <= wavelength <= w1:
            return v0 if w1 == w0 else v0 + (v1 - v0) * (wavelength - w0) / (w1 - w0)
    return pairs[0][1] if wavelength < pairs[0][0] else pairs[-1][1]
