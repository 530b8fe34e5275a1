"""The sandbox's data: peaks in the four shapes, spectra, the example entries behind `examples/`, data files.

Every function here is deterministic: the same arguments give the same documents, byte for byte.
Peaks come in the four shapes the client must understand (see `SHAPES` and `render_peak`).
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.sandbox.errors import DataFileError
from reconciler.sandbox.keys import element_of, line_of
from reconciler.sandbox.store import entries_problems, summarise

SHAPES = ("key", "map", "list", "element")
"""How a peak carries its assignment: `candidate_key` + candidate list; a mapping with `selected` flags;
a list keyed `candidate_key` with `selected` flags; or only the documented `element` and `manual`."""

RESULT_NAMESPACE = uuid.UUID("6f1c1f8e-2a4b-4d8a-9c3e-5b7d9e1f2a3c")


@dataclass(frozen=True, slots=True)
class Peak:
    """A detected peak before rendering: where it was measured, what is applied, and its candidates."""

    peak_id: str
    measured_nm: float
    applied: str
    manual: bool
    candidates: tuple[str, ...]


def _score(peak: Peak, key: str) -> float:
    # Closer lines score higher: plausible numbers that need no table.
    return round(max(0.05, 1.0 - abs(peak.measured_nm - line_of(key)) / 40.0), 2)


def render_peak(peak: Peak, shape: str) -> dict[str, Any]:
    """The peak as the server renders it in `shape`; the "element" shape hides its candidates."""
    rendered: dict[str, Any] = {
        "peak_id": peak.peak_id,
        "wavelength_nm": peak.measured_nm,
        "element": element_of(peak.applied),
        "manual": peak.manual,
    }
    line = {key: {"wavelength_nm": line_of(key), "score": _score(peak, key)} for key in peak.candidates}
    if shape == "key":
        rendered["candidate_key"] = peak.applied
        rendered["candidates"] = [{"key": key, **fields} for key, fields in line.items()]
    elif shape == "map":
        rendered["candidates"] = {
            key: {**fields, "selected": key == peak.applied} for key, fields in line.items()
        }
    elif shape == "list":
        rendered["candidates"] = [
            {"candidate_key": key, **fields, "selected": key == peak.applied} for key, fields in line.items()
        ]
    elif shape == "element":
        rendered["_candidates"] = list(peak.candidates)
    else:
        raise ValueError(f"unknown peak shape {shape!r}; expected one of {', '.join(SHAPES)}")
    return rendered


def shape_of(peak: Mapping[str, Any]) -> str:
    """The shape a rendered peak is in (one of `SHAPES`); a peak with no candidate info reads as "element"."""
    if "candidate_key" in peak:
        return "key"
    candidates = peak.get("candidates")
    if isinstance(candidates, dict):
        return "map"
    if isinstance(candidates, list):
        return "list"
    return "element"


@dataclass(frozen=True, slots=True)
class Spectra:
    """The spectra of one result: the wavelength grid and the four intensity series."""

    wavelengths: list[float]
    sample: list[float]
    reference: list[float]
    dark: list[float]
    scope_corrected: list[float]

    def fields(self) -> dict[str, Any]:
        return {
            "wavelengths": self.wavelengths,
            "wavelength_unit": "nm",
            "sample": self.sample,
            "reference": self.reference,
            "dark": self.dark,
            "scope_corrected": self.scope_corrected,
            "spectrum_type": "emission",
        }


def make_spectra(emission_nm: Iterable[float], *, points: int, seed: int) -> Spectra:
    """Spectra over 200-900 nm: dark counts, a lamp reference, and a sample with gaussian lines plus noise.

    `scope_corrected` is the sample less the dark, divided by the instrument response that the reference
    reveals, so the four series agree with one another.
    """
    rng = random.Random(seed)  # noqa: S311 (reproducible sample data, not security)
    centres = [(nm, rng.uniform(600.0, 3000.0)) for nm in emission_nm]
    step = 700.0 / max(points - 1, 1)
    grid = [round(200.0 + i * step, 3) for i in range(points)]
    wavelengths: list[float] = []
    sample: list[float] = []
    reference: list[float] = []
    dark: list[float] = []
    corrected: list[float] = []
    for nm in grid:
        response = 0.3 + 0.7 * math.exp(-(((nm - 600.0) / 220.0) ** 2))
        lamp = 3500.0 * math.exp(-(((nm - 650.0) / 300.0) ** 2))
        glow = 40.0 * math.exp(-(((nm - 550.0) / 250.0) ** 2))
        # Lines 1.5 nm wide: only lines within ~8 nm contribute, the rest is skipped for speed.
        lines = sum(a * math.exp(-(((nm - c) / 1.5) ** 2)) for c, a in centres if abs(nm - c) < 8.0)
        dark_counts = 95.0 + rng.gauss(0.0, 1.5)
        signal = glow + lines + rng.gauss(0.0, 4.0)
        wavelengths.append(nm)
        dark.append(round(dark_counts, 2))
        reference.append(round(dark_counts + response * lamp, 2))
        sample.append(round(dark_counts + response * signal, 2))
        corrected.append(round(signal, 2))
    return Spectra(wavelengths, sample, reference, dark, corrected)


def result_document(
    data_id: str,
    *,
    peaks: Sequence[dict[str, Any]],
    spectra: dict[str, Any],
    metadata: dict[str, Any],
    constrained: Sequence[str] | None,
    last_updated: str,
) -> dict[str, Any]:
    """One result in the documented shape, fields in the documented order."""
    return {
        "data_id": data_id,
        "id": str(uuid.uuid5(RESULT_NAMESPACE, data_id)),
        **spectra,
        "detected_peaks": list(peaks),
        "constraint_mode": "constrained" if constrained else "auto",
        "constrained_elements": list(constrained) if constrained else None,
        "spectral_metadata": metadata,
        "last_updated": last_updated,
    }


def _pinned(peak_id: str, measured_nm: float, applied: str, *candidates: str) -> Peak:
    """A peak pinned by hand (`manual: true`)."""
    return Peak(peak_id, measured_nm, applied, manual=True, candidates=candidates)


def _auto(peak_id: str, measured_nm: float, applied: str, *candidates: str) -> Peak:
    """A peak as the automatic assignment left it: not pinned."""
    return Peak(peak_id, measured_nm, applied, manual=False, candidates=candidates)


@dataclass(frozen=True, slots=True)
class _Example:
    data_id: str
    shape: str
    label: str
    last_updated: str
    constrained: tuple[str, ...] | None
    peaks: tuple[Peak, ...]


# The server side of examples/overrides.yaml and examples/overrides.csv: a plan of `examples/` shows
# 6 changes, 4 in sync and 1 error (3c0f6a7e… has no p9). The last two entries are named by no override.
# fmt: off
_EXAMPLES = (
    _Example("d290f1ee-6c54-4b01-90e6-d701748f0851", "key", "GaN on sapphire, run 14",
             "2024-01-15T10:35:00Z", ("Ga", "N", "In", "Al"), (
        _auto("p1", 416.9, "In_451.1", "Ga_417.2", "In_451.1"),
        _pinned("p2", 337.4, "N2_337.1", "N2_337.1", "N2_357.7"),
        _auto("p3", 403.1, "Ga_403.3", "Ga_403.3", "Ga_417.2"),
        _auto("p5", 396.5, "Al_396.2", "Al_396.2", "Al_394.4"),
    )),
    _Example("3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10", "map", "InGaN quantum wells, run 15",
             "2024-01-16T08:12:00Z", None, (
        _pinned("p1", 451.3, "In_451.1", "In_451.1", "In_410.2"),
        _auto("p2", 336.8, "N2_337.1", "N2_337.1", "N2_357.7"),
        _pinned("p4", 417.9, "In_451.1", "In_451.1", "Ga_417.2"),
    )),
    _Example("5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b", "element", "AlN buffer, run 16",
             "2024-01-17T14:03:00Z", ("Al", "N"), (
        _pinned("p1", 396.0, "Al_396.2", "Al_396.2", "Al_394.4"),
        _auto("p2", 357.4, "N2_357.7", "N2_357.7", "N2_337.1"),
    )),
    _Example("8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b", "list", "N2/H2 plasma clean, run 17",
             "2024-01-18T09:41:00Z", None, (
        _pinned("p1", 417.5, "Ga_417.2", "Ga_417.2", "Ga_403.3"),
        _auto("p2", 391.1, "N2_391.4", "N2_337.1", "N2_391.4"),
        _auto("p3", 656.0, "H_656.3", "H_656.3", "H_486.1"),
    )),
    _Example("a7c3e9d1-2f4b-4c6d-8e0f-1a2b3c4d5e6f", "key", "GaN cap, run 18",
             "2024-01-19T16:20:00Z", ("Ga", "N"), (
        _pinned("p1", 417.0, "Ga_417.2", "Ga_417.2", "Ga_403.3"),
        _pinned("p2", 337.3, "N2_337.1", "N2_337.1", "N2_357.7"),
        _auto("p3", 656.6, "H_656.3", "H_656.3", "H_486.1"),
    )),
    _Example("b8d4f0e2-3a5c-4d7e-9f10-2b3c4d5e6f70", "map", "AlGaN barrier, run 19",
             "2024-01-20T11:05:00Z", ("Al", "Ga", "N"), (
        _pinned("p1", 394.7, "Al_394.4", "Al_394.4", "Al_396.2"),
        _auto("p2", 403.0, "Ga_403.3", "Ga_403.3", "Ga_417.2"),
    )),
)
# fmt: on


def metadata_for(label: str, *, points: int) -> dict[str, Any]:
    return {
        "label": label,
        "integration_time_ms": 100,
        "averages": 8,
        "points": points,
        "grating_lines_per_mm": 600,
        "slit_width_um": 25,
        "detector_temperature_c": -10.0,
    }


def example_entries(*, points: int = 512) -> list[dict[str, Any]]:
    """The seed data: results matching `examples/`, each with its own realistic spectra (fresh copies)."""
    entries = []
    for index, example in enumerate(_EXAMPLES):
        spectra = make_spectra((peak.measured_nm for peak in example.peaks), points=points, seed=index)
        entries.append(
            result_document(
                example.data_id,
                peaks=[render_peak(peak, example.shape) for peak in example.peaks],
                spectra=spectra.fields(),
                metadata=metadata_for(example.label, points=points),
                constrained=example.constrained,
                last_updated=example.last_updated,
            )
        )
    return entries


def data_file_json(entries: Iterable[dict[str, Any]]) -> str:
    """Entries as the text of a `--data` file (`{"entries": [...]}`), spectra one line per entry."""
    lines = [json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in entries]
    return '{"entries": [\n' + ",\n".join(lines) + "\n]}\n"


def example_data_json() -> str:
    """The seed data as a `--data` file: a starting point for data of one's own."""
    return data_file_json(example_entries())


def load_entries(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The results of a sandbox data file; `DataFileError` naming the file and what is wrong with it."""
    where = os.fspath(path)
    try:
        data = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise DataFileError(f"{where}: cannot read the sandbox data file: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{where}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except ValueError:
        raise DataFileError(f"{where}: not a UTF-8 JSON file") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise DataFileError(f'{where}: a sandbox data file holds {{"entries": [<result document>, ...]}}')
    entries: list[dict[str, Any]] = data["entries"]
    problems = entries_problems(entries)
    if problems:
        raise DataFileError(f"{where}: {summarise(problems)}")
    return entries
