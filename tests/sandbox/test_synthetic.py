"""The sandbox's synthetic data: as many entries as asked, out of sync exactly as asked, deterministic."""

from __future__ import annotations

import uuid

import pytest

from reconciler.answers import OESResult
from reconciler.sandbox import SandboxError
from reconciler.sandbox.data import SHAPES
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from tests.sandbox.conftest import is_in_sync


@pytest.mark.parametrize("differing", [0, 1, 3])
def test_synthetic_overrides_differ_from_exactly_as_many_peaks_as_asked(differing: int) -> None:
    """Every peak is declared, and per entry exactly `differing` are out of sync, in every shape."""
    entries = synthetic_entries(8, peaks=5, points=16, differing=differing, seed=3, shapes=SHAPES)
    results = {entry["data_id"]: OESResult.model_validate(entry) for entry in entries}
    overrides = synthetic_overrides(8, peaks=5, differing=differing, seed=3)
    assert len(overrides) == 8 * 5
    out_of_sync: dict[str, int] = dict.fromkeys(results, 0)
    for data_id, peak_id, key in overrides:
        peak = results[data_id].peak(peak_id)
        assert peak is not None
        out_of_sync[data_id] += not is_in_sync(peak, key)
    assert set(out_of_sync.values()) == {differing}


def test_synthetic_data_refuses_more_differing_peaks_than_peaks() -> None:
    """`differing` cannot exceed `peaks`: a benchmark would otherwise measure something else than asked."""
    with pytest.raises(SandboxError, match="differing"):
        synthetic_overrides(1, peaks=2, differing=3)


def test_synthetic_ids_are_deterministic_uuids() -> None:
    """The same arguments give the same ids; another seed gives others; all are distinct UUIDs."""
    ids = [entry["data_id"] for entry in synthetic_entries(50, points=8)]
    assert ids == [entry["data_id"] for entry in synthetic_entries(50, points=8)]
    assert ids == sorted({data_id for data_id, _, _ in synthetic_overrides(50)}, key=ids.index)
    assert len(set(ids)) == 50
    assert all(str(uuid.UUID(data_id)) == data_id for data_id in ids)
    assert not set(ids) & {entry["data_id"] for entry in synthetic_entries(50, points=8, seed=1)}
