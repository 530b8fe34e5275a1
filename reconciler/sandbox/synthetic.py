"""Synthetic sandbox data for benchmarks and tests: many entries, one shared set of spectra.

Deterministic: the same arguments give the same entries and overrides, byte for byte.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.data import Peak, make_spectra, metadata_for, render_peak, result_document
from reconciler.sandbox.errors import SandboxError
from reconciler.sandbox.keys import line_of

SYNTHETIC_TIMESTAMP = "2024-01-15T10:35:00Z"

# Two lines per element, so a synthetic peak can be offered a line of its own element and one of the next.
SYNTHETIC_LINES = (
    ("Ga_417.2", "Ga_403.3"),
    ("In_451.1", "In_410.2"),
    ("N2_337.1", "N2_357.7"),
    ("Al_396.2", "Al_394.4"),
    ("H_656.3", "H_486.1"),
    ("O_777.4", "O_844.6"),
    ("Ar_750.4", "Ar_811.5"),
    ("Si_288.2", "Si_251.6"),
)


@dataclass(frozen=True, slots=True)
class _SyntheticPeak:
    peak_id: str
    current: str
    wanted: str
    candidates: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return self.current != self.wanted


def _synthetic_layout(
    count: int, *, peaks: int, differing: int, seed: int
) -> Iterator[tuple[str, list[_SyntheticPeak]]]:
    """Each entry's id and peaks; `differing` peaks per entry (chosen by the seed) want another element."""
    if count < 0 or peaks < 1 or not 0 <= differing <= peaks:
        raise SandboxError(
            f"need count >= 0, peaks >= 1 and 0 <= differing <= peaks, got {count}, {peaks}, {differing}"
        )
    rng = random.Random(seed)  # noqa: S311 (reproducible sample data, not security)
    # The random high bits make ids of different seeds distinct; the low 48 bits count entries.
    high = rng.getrandbits(128) & ~((1 << 48) - 1)
    kinds = len(SYNTHETIC_LINES)
    templates = []
    for j in range(peaks):
        own, other, next_element = *SYNTHETIC_LINES[j % kinds], SYNTHETIC_LINES[(j + 1) % kinds][0]
        templates.append((f"p{j + 1}", own, (own, other, next_element), next_element))
    for index in range(count):
        data_id = str(uuid.UUID(int=high | index, version=4))
        chosen = set(rng.sample(range(peaks), differing))
        yield (
            data_id,
            [
                _SyntheticPeak(peak_id, own, nxt if j in chosen else own, candidates)
                for j, (peak_id, own, candidates, nxt) in enumerate(templates)
            ],
        )


def _measured(candidate_key: str) -> float:
    # Measured a little off the line, as real peaks are: `wavelength_nm` never equals the line.
    return round(line_of(candidate_key) - 0.3, 1)


def synthetic_entries(
    count: int,
    *,
    peaks: int = 5,
    points: int = 2048,
    differing: int = 1,
    seed: int = 0,
    shapes: Sequence[str] = ("key",),
) -> list[dict[str, Any]]:
    """`count` results for a benchmark, against which `synthetic_overrides` finds `differing` per entry.

    A differing peak is unpinned and wants a line of another element, so it differs in every shape; the
    others are pinned to the wanted line. Entries take `shapes` in turn. All entries share one set of
    spectra (the same list objects), which the sandbox encodes once.
    """
    centres = [_measured(SYNTHETIC_LINES[j % len(SYNTHETIC_LINES)][0]) for j in range(peaks)]
    shared = make_spectra(centres, points=points, seed=seed).fields()
    metadata = metadata_for("synthetic", points=points)
    entries = []
    for index, (data_id, layout) in enumerate(
        _synthetic_layout(count, peaks=peaks, differing=differing, seed=seed)
    ):
        shape = shapes[index % len(shapes)]
        rendered = [
            render_peak(Peak(p.peak_id, _measured(p.current), p.current, not p.differs, p.candidates), shape)
            for p in layout
        ]
        entries.append(
            result_document(
                data_id,
                peaks=rendered,
                spectra=shared,
                metadata=metadata,
                constrained=None,
                last_updated=SYNTHETIC_TIMESTAMP,
            )
        )
    return entries


def synthetic_overrides(
    count: int, *, peaks: int = 5, differing: int = 1, seed: int = 0
) -> list[tuple[str, str, str]]:
    """`(data_id, peak_id, candidate_key)` for every peak of `synthetic_entries` with the same arguments."""
    return [
        (data_id, peak.peak_id, peak.wanted)
        for data_id, layout in _synthetic_layout(count, peaks=peaks, differing=differing, seed=seed)
        for peak in layout
    ]
