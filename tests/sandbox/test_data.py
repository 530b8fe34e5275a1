"""The sandbox's seed data: the documented fields, the four peak shapes, the plan of examples/; data files."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest
import yaml

from reconciler.answers import OESResult
from reconciler.sandbox import DataFileError, Sandbox, load_entries
from reconciler.sandbox.data import data_file_json, example_data_json, example_entries
from tests.sandbox.conftest import (
    DOCUMENTED_FIELDS,
    ELEMENT_ID,
    KEY_ID,
    LIST_ID,
    MAP_ID,
    SEED,
    client_view,
    connect,
    is_in_sync,
    patch,
    peak_in,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("data_id", [entry["data_id"] for entry in SEED])
def test_results_carry_the_documented_fields(client: httpx.Client, data_id: str) -> None:
    """Every result has the documented top-level fields, with spectra of equal length."""
    document = client.get(f"oes/{data_id}").json()
    assert set(document) == DOCUMENTED_FIELDS
    assert document["data_id"] == data_id
    lengths = {len(document[name]) for name in ("wavelengths", "sample", "reference", "dark")}
    assert lengths == {len(document["scope_corrected"])}
    assert lengths.pop() >= 256
    assert document["last_updated"].endswith("Z")


@pytest.mark.slow
def test_key_shape_has_candidate_key_and_keyed_candidates(client: httpx.Client) -> None:
    """Shape "key": `candidate_key` plus candidates as objects carrying `key`, measured != line."""
    peak = peak_in(client.get(f"oes/{KEY_ID}").json(), "p1")
    assert peak["candidate_key"] == "In_451.1"
    assert [c["key"] for c in peak["candidates"]] == ["Ga_417.2", "In_451.1"]
    assert all(c["wavelength_nm"] != peak["wavelength_nm"] for c in peak["candidates"])


@pytest.mark.slow
def test_map_shape_marks_exactly_one_selected(client: httpx.Client) -> None:
    """Shape "map": no `candidate_key`; a mapping from key to object, one of them selected."""
    peak = peak_in(client.get(f"oes/{MAP_ID}").json(), "p4")
    assert "candidate_key" not in peak
    assert {key for key, body in peak["candidates"].items() if body["selected"]} == {"In_451.1"}


@pytest.mark.slow
def test_list_shape_keys_candidates_by_candidate_key(client: httpx.Client) -> None:
    """Shape "list": no `candidate_key`; a list of objects keyed `candidate_key` with `selected` flags."""
    peak = peak_in(client.get(f"oes/{LIST_ID}").json(), "p2")
    assert "candidate_key" not in peak
    assert [(c["candidate_key"], c["selected"]) for c in peak["candidates"]] == [
        ("N2_337.1", False),
        ("N2_391.4", True),
    ]


@pytest.mark.slow
def test_element_shape_renders_only_the_documented_fields(client: httpx.Client) -> None:
    """Shape "element": exactly `{peak_id, wavelength_nm, element, manual}`; hidden candidates stay hidden."""
    document = client.get(f"oes/{ELEMENT_ID}").json()
    assert all(
        set(peak) == {"peak_id", "wavelength_nm", "element", "manual"} for peak in document["detected_peaks"]
    )
    assert peak_in(document, "p2") == {
        "peak_id": "p2",
        "wavelength_nm": 357.4,
        "element": "N2",
        "manual": False,
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data_id", "peak_id", "seen"),
    [
        (KEY_ID, "p1", ("In_451.1", {"Ga_417.2", "In_451.1"}, False)),
        (KEY_ID, "p2", ("N2_337.1", {"N2_337.1", "N2_357.7"}, True)),
        (MAP_ID, "p4", ("In_451.1", {"In_451.1", "Ga_417.2"}, True)),
        (LIST_ID, "p2", ("N2_391.4", {"N2_337.1", "N2_391.4"}, False)),
        (ELEMENT_ID, "p2", (None, None, False)),
    ],
)
def test_client_models_read_every_shape(
    client: httpx.Client, data_id: str, peak_id: str, seen: tuple[str | None, set[str] | None, bool]
) -> None:
    """The client's models see the applied candidate, candidate keys and pin the sandbox means to serve."""
    peak = client_view(client.get(f"oes/{data_id}").content, peak_id)
    assert (peak.applied, peak.candidate_keys, peak.manual) == seen


def _overrides_of_examples() -> list[tuple[str, str, str]]:
    document = yaml.safe_load((EXAMPLES / "overrides.yaml").read_text())
    wanted = [
        (data_id, peak_id, value if isinstance(value, str) else value["candidate_key"])
        for data_id, peaks in document["overrides"].items()
        for peak_id, value in peaks.items()
    ]
    with (EXAMPLES / "overrides.csv").open(newline="") as rows:
        wanted += [(row["data_id"], row["peak_id"], row["candidate_key"]) for row in csv.DictReader(rows)]
    return wanted


def test_seed_data_gives_the_documented_plan_of_the_examples() -> None:
    """Against the seed data the example overrides are 6 changes and 4 in sync, with no error."""
    results = {entry["data_id"]: OESResult.model_validate(entry) for entry in example_entries()}
    outcomes: dict[str, int] = {"change": 0, "in_sync": 0, "peak_not_found": 0}
    for data_id, peak_id, key in _overrides_of_examples():
        peak = results[data_id].peak(peak_id)
        outcome = "peak_not_found" if peak is None else "in_sync" if is_in_sync(peak, key) else "change"
        outcomes[outcome] += 1
    assert outcomes == {"change": 6, "in_sync": 4, "peak_not_found": 0}


def test_seed_data_is_deterministic() -> None:
    """The seed data is the same on every call, byte for byte."""
    assert example_data_json() == example_data_json()


@pytest.mark.slow
def test_data_files_round_trip(tmp_path: Path) -> None:
    """The printed seed data and a sandbox's current entries are data files `load_entries` reads back."""
    path = tmp_path / "data.json"
    path.write_text(example_data_json())
    with Sandbox(entries=load_entries(path)) as sandbox, connect(sandbox) as http:
        assert patch(http, ELEMENT_ID, "p2", "N2_391.4").status_code == 400
        assert patch(http, ELEMENT_ID, "p2", "N2_337.1").status_code == 200
        path.write_text(data_file_json(sandbox.entries()))
    with Sandbox(entries=load_entries(path)) as sandbox:
        assert peak_in(sandbox.result(ELEMENT_ID), "p2")["manual"] is True
        assert sandbox.entries() == load_entries(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ('{"entries": [}', ":1: not valid JSON"),
        ("[]", '{"entries": [<result document>, ...]}'),
        ('{"entries": [{"detected_peaks": []}]}', "entries[0].data_id"),
        ('{"entries": [{"data_id": "a"}]}', "entries[0].detected_peaks"),
        (
            '{"entries": [{"data_id": "a", "detected_peaks": [{"peak_id": "p1"}, {"peak_id": "p1"}]}]}',
            "twice",
        ),
        (
            '{"entries": [{"data_id": "a", "detected_peaks": [{"peak_id": "p1", "_candidates": "Ga"}]}]}',
            "_candidates",
        ),
        (
            data_file_json([{"data_id": "a", "detected_peaks": []}] * 2),
            "entries[1].data_id: 'a' appears twice",
        ),
    ],
)
def test_load_entries_names_the_file_and_the_problem(
    tmp_path: Path, content: str | None, message: str
) -> None:
    """A bad data file is a DataFileError naming the file and what is wrong, by entry."""
    path = tmp_path / "data.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError) as raised:
        load_entries(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)
