"""The sandbox's stored results: what PATCH does to them in every shape, and what they may hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from reconciler.models import element_of
from reconciler.sandbox import Sandbox
from reconciler.sandbox.store import ResultStore, next_timestamp
from reconciler.sandbox.synthetic import synthetic_entries
from tests.sandbox.conftest import (
    DOCUMENTED_FIELDS,
    ELEMENT_ID,
    KEY_ID,
    LIST_ID,
    MAP_ID,
    client_view,
    connect,
    patch,
    peak_in,
)


@pytest.mark.parametrize(
    ("data_id", "peak_id", "key", "applied"),
    [
        (KEY_ID, "p1", "Ga_417.2", "Ga_417.2"),
        (MAP_ID, "p4", "Ga_417.2", "Ga_417.2"),
        (LIST_ID, "p2", "N2_337.1", "N2_337.1"),
        (ELEMENT_ID, "p2", "N2_337.1", None),
    ],
)
@pytest.mark.slow
def test_patch_applies_and_pins_in_every_shape(
    client: httpx.Client, data_id: str, peak_id: str, key: str, applied: str | None
) -> None:
    """A PATCH applies the key, pins the peak, bumps `last_updated`, and the next GET shows the same."""
    before = client.get(f"oes/{data_id}").json()
    response = patch(client, data_id, peak_id, key)
    assert response.status_code == 200
    for body in (response.content, client.get(f"oes/{data_id}").content):
        peak = client_view(body, peak_id)
        assert (peak.applied, peak.element, peak.manual) == (applied, element_of(key), True)
        document = json.loads(body)
        assert set(document) == DOCUMENTED_FIELDS
        assert document["last_updated"] != before["last_updated"]
        assert document["sample"] == before["sample"]


@pytest.mark.slow
def test_patch_moves_the_selected_flag(client: httpx.Client) -> None:
    """In the flagged shapes exactly one candidate stays selected: the new one."""
    document = patch(client, MAP_ID, "p4", "Ga_417.2").json()
    assert {k for k, body in peak_in(document, "p4")["candidates"].items() if body["selected"]} == {
        "Ga_417.2"
    }


@pytest.mark.slow
def test_patch_leaves_other_peaks_alone(client: httpx.Client, sandbox: Sandbox) -> None:
    """Only the named peak changes."""
    before = sandbox.result(KEY_ID)["detected_peaks"]
    patch(client, KEY_ID, "p1", "Ga_417.2")
    after = sandbox.result(KEY_ID)["detected_peaks"]
    assert [p for p in after if p["peak_id"] != "p1"] == [p for p in before if p["peak_id"] != "p1"]


@pytest.mark.parametrize(
    ("data_id", "peak_id", "key"),
    [
        (KEY_ID, "p1", "Ga_403.3"),
        (MAP_ID, "p4", "N_746.8"),
        (LIST_ID, "p3", "H_434.0"),
        (ELEMENT_ID, "p2", "N2_391.4"),
    ],
)
@pytest.mark.slow
def test_patch_refuses_a_key_that_is_not_a_candidate(
    client: httpx.Client, sandbox: Sandbox, data_id: str, peak_id: str, key: str
) -> None:
    """400 for a key outside the peak's candidates, hidden ones included; nothing changes."""
    before = sandbox.result(data_id)
    response = patch(client, data_id, peak_id, key)
    assert response.status_code == 400
    assert key in response.json()["detail"]
    assert sandbox.result(data_id) == before


@pytest.mark.slow
def test_patch_of_an_unknown_peak_is_404(client: httpx.Client) -> None:
    """A peak the result does not have answers 404."""
    response = patch(client, MAP_ID, "p9", "N_746.8")
    assert response.status_code == 404
    assert "p9" in response.json()["detail"]


@pytest.mark.slow
def test_a_peak_without_candidate_info_accepts_any_key() -> None:
    """A peak that lists no candidates and has no hidden ones takes whatever key is sent."""
    entry = {"data_id": "e", "detected_peaks": [{"peak_id": "p1", "element": "Ga", "manual": False}]}
    with Sandbox(entries=[entry]) as sandbox, connect(sandbox) as http:
        assert patch(http, "e", "p1", "Zn_481.1").status_code == 200
        assert peak_in(sandbox.result("e"), "p1") == {"peak_id": "p1", "element": "Zn", "manual": True}


def test_sandbox_refuses_invalid_entries() -> None:
    """Entries given in Python are checked as a data file is."""
    with pytest.raises(ValueError, match=r"entries\[0\]\.data_id"):
        Sandbox(entries=[{"detected_peaks": []}])


def test_synthetic_results_share_one_encoded_spectra_copy() -> None:
    """Thousands of 2,048-point results cost one copy of the spectra, not one each."""
    store = ResultStore(synthetic_entries(200, points=2048))
    assert len({id(stored.spectra) for stored in store}) == 1
    assert len(json.loads(next(iter(store)).body())["sample"]) == 2048


@pytest.mark.parametrize(
    ("previous", "now", "expected"),
    [
        ("2024-01-15T10:35:00Z", "2024-01-15T10:36:00.000", "2024-01-15T10:36:00.000Z"),
        ("2024-01-15T10:35:00.250Z", "2024-01-15T10:35:00.250", "2024-01-15T10:35:00.251Z"),
        ("2024-01-15T10:35:00.250Z", "2024-01-15T10:34:00.000", "2024-01-15T10:35:00.251Z"),
        ("2024-01-15T10:35:00", "2024-01-15T10:35:00.000", "2024-01-15T10:35:00.001Z"),
        ("yesterday", "2024-01-15T10:35:00.000", "2024-01-15T10:35:00.000Z"),
        (None, "2024-01-15T10:35:00.000", "2024-01-15T10:35:00.000Z"),
    ],
    ids=["later", "same-millisecond", "clock-behind", "naive", "unreadable", "none"],
)
def test_last_updated_always_moves_forward(previous: object, now: str, expected: str) -> None:
    """An edit's `last_updated` is later than the one before, even within its millisecond or clock skew."""
    clock = datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert next_timestamp(previous, now=clock) == expected


def test_last_updated_is_what_the_patch_answered_until_the_entry_is_edited(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    """The PATCH answer's `last_updated` is what GETs show after it; only an edit of that entry moves it."""
    stamps = [patch(client, ELEMENT_ID, "p1", "Al_396.2").json()["last_updated"]]
    client.get(f"oes/{ELEMENT_ID}")
    patch(client, KEY_ID, "p1", "Ga_417.2")
    client.get("_sandbox/stats")
    assert client.get(f"oes/{ELEMENT_ID}").json()["last_updated"] == stamps[0]
    assert sandbox.result(ELEMENT_ID)["last_updated"] == stamps[0]
    # Re-selecting what is applied is an edit too; back to back, no two share a timestamp.
    stamps += [patch(client, ELEMENT_ID, "p1", "Al_396.2").json()["last_updated"] for _ in range(5)]
    assert stamps == sorted(set(stamps))
    assert client.get(f"oes/{ELEMENT_ID}").json()["last_updated"] == stamps[-1]


def test_a_refused_patch_leaves_last_updated_alone(client: httpx.Client, sandbox: Sandbox) -> None:
    """A PATCH the server turns down (unknown peak, key not a candidate) is no edit."""
    before = sandbox.result(MAP_ID)["last_updated"]
    assert patch(client, MAP_ID, "p9", "N_746.8").status_code == 404
    assert patch(client, MAP_ID, "p4", "N_746.8").status_code == 400
    assert sandbox.result(MAP_ID)["last_updated"] == before
