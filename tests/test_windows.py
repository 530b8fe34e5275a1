"""Windows of spectra: only the points within 5 nm of a plotted peak are kept, of the series plotted."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from reconciler.answers import OESResultWithSpectra, result_of
from reconciler.fields import FieldReader
from reconciler.models import Item, Status
from reconciler.windows import MAX_POINTS, Window, cut_windows, wants_window, window_of
from tests.factories import change, peak_with_key, result_doc


def cut(doc: dict[str, Any], items: list[Item]) -> dict[tuple[str, str], Window]:
    """The windows as the engine cuts them: from the fields the client keeps of the answer, with spectra."""
    reader = FieldReader(OESResultWithSpectra.FIELDS)
    reader.feed(json.dumps(doc).encode())
    result = result_of(OESResultWithSpectra, reader.finish())
    return cut_windows(result, items)


def spectrum_doc(points: int = 701, **fields: Any) -> dict[str, Any]:
    """A result whose grid runs 200-900 nm by 1 nm, intensities equal to the wavelength."""
    doc = result_doc(peak_with_key("p1", "In_451.1", manual=True))
    grid = [200.0 + i * 700 / (points - 1) for i in range(points)]
    doc |= {"wavelengths": grid, "scope_corrected": grid, "sample": [-x for x in grid]}
    return doc | fields


def test_a_window_holds_only_the_points_within_five_nm_of_the_peak() -> None:
    """Around a peak at 417.1 nm the window keeps 413-422 nm of the scope-corrected series, nothing else."""
    windows = cut(spectrum_doc(), [change(wavelength_nm=417.1)])
    window = windows[(change().data_id, "p1")]
    assert window.series == "scope_corrected"
    assert window.wavelengths == tuple(float(nm) for nm in range(413, 423))
    assert window.intensities == window.wavelengths
    assert (window.low, window.high) == (412.1, 422.1)


def test_without_scope_corrected_the_sample_is_plotted() -> None:
    """A result without `scope_corrected` (or an empty or malformed one) is plotted from its raw `sample`."""
    missing: dict[str, Any]
    for missing in ({"scope_corrected": None}, {"scope_corrected": []}, {"scope_corrected": "noise"}):
        window = cut(spectrum_doc(**missing), [change()])[(change().data_id, "p1")]
        assert window.series == "sample"
        assert window.intensities[0] == -window.wavelengths[0]


def test_in_sync_items_and_items_without_a_wavelength_get_no_window() -> None:
    """Only items the page lists (not in sync) whose peak the server placed are plotted."""
    in_sync = replace(change(), status=Status.IN_SYNC)
    unplaced = change(peak_id="p2", wavelength_nm=None)
    assert not wants_window(in_sync)
    assert not wants_window(unplaced)
    assert cut(spectrum_doc(), [in_sync, unplaced]) == {}


def test_no_usable_spectrum_means_no_window() -> None:
    """No grid, a malformed series, or a peak outside the grid: no window, and no error."""
    assert cut(spectrum_doc(wavelengths=None), [change()]) == {}
    assert cut(spectrum_doc(scope_corrected=None, sample=[]), [change()]) == {}
    assert cut(spectrum_doc(), [change(wavelength_nm=1500.0)]) == {}


def test_null_points_are_skipped() -> None:
    """A null (or non-numeric) wavelength or intensity drops that point only."""
    doc = spectrum_doc()
    doc["wavelengths"][215] = None  # 415 nm
    doc["scope_corrected"][216] = None  # 416 nm
    doc["scope_corrected"][217] = "n/a"  # 417 nm
    doc["scope_corrected"][218] = True  # 418 nm
    window = cut(doc, [change()])[(change().data_id, "p1")]
    assert not {415.0, 416.0, 417.0, 418.0} & set(window.wavelengths)
    assert len(window.wavelengths) == len(window.intensities) == 6


def test_a_dense_window_is_thinned_to_a_few_hundred_points() -> None:
    """However fine the grid, a window keeps at most MAX_POINTS points, sorted by wavelength."""
    points = [(400.0 + i / 1000, float(i)) for i in range(10_000)]
    window = window_of(points, series="sample", peak_nm=405.0)
    assert window is not None
    assert MAX_POINTS // 2 <= len(window.wavelengths) <= MAX_POINTS
    assert list(window.wavelengths) == sorted(window.wavelengths)


def test_a_grid_out_of_order_or_with_text_is_scanned_point_by_point() -> None:
    """A grid that is not ascending numbers still gives the same window, in order, its bad points dropped."""
    reference = cut(spectrum_doc(), [change()])
    doc = spectrum_doc()
    points = list(zip(doc["wavelengths"], doc["scope_corrected"], strict=True))[::-1]
    points[0] = ("end", 0.0)
    doc["wavelengths"], doc["scope_corrected"] = [nm for nm, _ in points], [value for _, value in points]
    assert cut(doc, [change()]) == reference
    assert window_of([(405.0, 1.0)], series="sample", peak_nm=405.0) is None
