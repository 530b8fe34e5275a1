"""The sandbox's admin requests: a UI edit and a reprocess, on every peak shape, apart from the API."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from reconciler.models import element_of
from reconciler.sandbox import Sandbox
from reconciler.sandbox.data import SHAPES, shape_of
from reconciler.sandbox.synthetic import synthetic_entries
from tests.sandbox.conftest import (
    ELEMENT_ID,
    KEY_ID,
    LIST_ID,
    MAP_ID,
    SEED,
    client_view,
    connect,
    patch,
    peak_in,
)

DOCUMENTED_PEAK = {"peak_id", "wavelength_nm", "element", "manual"}
SHAPE_OF_ENTRY = {KEY_ID: "key", MAP_ID: "map", LIST_ID: "list", ELEMENT_ID: "element"}


def admin(client: httpx.Client, name: str, **body: Any) -> httpx.Response:
    return client.post(f"_sandbox/{name}", json=body)


def assert_no_api_requests(sandbox: Sandbox, *, gets: int) -> None:
    """Only `gets` GETs were counted as API requests: admin requests are counted apart, never as PATCHes."""
    stats = sandbox.stats()
    assert stats["by_method"] == ({"GET": gets} if gets else {})
    assert (stats["requests"], stats["patches"], stats["patches_changed"]) == (gets, {}, 0)


# Per shape, a peak and another of its candidates: in the element shape the two share the element.
UI_EDITS = [
    (KEY_ID, "p1", "Ga_417.2"),
    (MAP_ID, "p1", "In_410.2"),
    (LIST_ID, "p1", "Ga_403.3"),
    (ELEMENT_ID, "p2", "N2_337.1"),
]


@pytest.mark.parametrize(("data_id", "peak_id", "key"), UI_EDITS, ids=SHAPE_OF_ENTRY.values())
def test_ui_edit_pins_another_candidate_in_the_shape_of_the_entry(
    sandbox: Sandbox, client: httpx.Client, data_id: str, peak_id: str, key: str
) -> None:
    """A UI edit applies and pins the key as the shape shows it, and bumps `last_updated`; no PATCH."""
    before = sandbox.result(data_id)
    response = admin(client, "ui-edit", data_id=data_id, peak_id=peak_id, candidate_key=key)
    assert response.status_code == 200
    answer = response.json()
    assert answer == {
        "data_id": data_id,
        "peak_id": peak_id,
        "candidate_key": key,
        "last_updated": answer["last_updated"],
    }
    body = client.get(f"oes/{data_id}").content
    peak = client_view(body, peak_id)
    shown = key if data_id != ELEMENT_ID else None  # the documented shape shows the element only
    assert (peak.applied, peak.element, peak.manual) == (shown, element_of(key), True)
    after = sandbox.result(data_id)
    assert after["last_updated"] == answer["last_updated"] > before["last_updated"]
    assert [p for p in after["detected_peaks"] if p["peak_id"] != peak_id] == [
        p for p in before["detected_peaks"] if p["peak_id"] != peak_id
    ]
    if data_id == ELEMENT_ID:
        assert set(peak_in(after, peak_id)) == DOCUMENTED_PEAK
    assert_no_api_requests(sandbox, gets=1)
    assert sandbox.stats()["admin"] == {"ui-edit": 1, "reprocess": 0}


def test_ui_edit_in_process_is_the_same_edit(sandbox: Sandbox) -> None:
    """`Sandbox.ui_edit` does what the admin request does, answers the same, and is counted the same."""
    answer = sandbox.ui_edit(MAP_ID, "p4", "Ga_417.2")
    document = sandbox.result(MAP_ID)
    assert answer["last_updated"] == document["last_updated"]
    candidates = peak_in(document, "p4")["candidates"]
    assert {key for key, body in candidates.items() if body["selected"]} == {"Ga_417.2"}
    assert sandbox.stats()["admin"]["ui-edit"] == 1
    assert_no_api_requests(sandbox, gets=0)


def test_a_ui_edit_after_a_patch_moves_last_updated_on(sandbox: Sandbox, client: httpx.Client) -> None:
    """What the record relies on: GETs show the PATCH's `last_updated` until someone edits the entry."""
    patched = patch(client, ELEMENT_ID, "p1", "Al_396.2").json()["last_updated"]
    assert client.get(f"oes/{ELEMENT_ID}").json()["last_updated"] == patched
    edited = sandbox.ui_edit(ELEMENT_ID, "p1", "Al_394.4")["last_updated"]
    assert edited > patched
    document = client.get(f"oes/{ELEMENT_ID}").json()
    assert document["last_updated"] == edited
    assert peak_in(document, "p1") == {
        "peak_id": "p1",
        "wavelength_nm": 396.0,
        "element": "Al",
        "manual": True,
    }


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"data_id": "nope", "peak_id": "p1", "candidate_key": "Ga_417.2"}, 404, "nope"),
        ({"data_id": MAP_ID, "peak_id": "p9", "candidate_key": "Ga_417.2"}, 404, "p9"),
        ({"data_id": KEY_ID, "peak_id": "p1", "candidate_key": "Ga_403.3"}, 400, "Ga_403.3"),
        ({"data_id": ELEMENT_ID, "peak_id": "p2", "candidate_key": "N2_391.4"}, 400, "N2_391.4"),
    ],
    ids=["entry", "peak", "not-a-candidate", "not-a-hidden-candidate"],
)
def test_ui_edit_refuses_what_a_patch_refuses(
    sandbox: Sandbox, client: httpx.Client, body: dict[str, str], status: int, words: str
) -> None:
    """Unknown entries and peaks are 404, keys outside the candidates 400; nothing changes, nothing counts."""
    before = sandbox.entries()
    response = client.post("_sandbox/ui-edit", json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]
    assert sandbox.entries() == before
    assert sandbox.stats()["admin"] == {"ui-edit": 0, "reprocess": 0}


def test_ui_edit_in_process_raises_what_the_server_refuses(sandbox: Sandbox) -> None:
    """In-process, an unknown entry or peak is a KeyError and a key outside the candidates a ValueError."""
    with pytest.raises(KeyError, match="nope"):
        sandbox.ui_edit("nope", "p1", "Ga_417.2")
    with pytest.raises(KeyError, match="p9"):
        sandbox.ui_edit(KEY_ID, "p9", "Ga_417.2")
    with pytest.raises(ValueError, match=r"Ga_403\.3"):
        sandbox.ui_edit(KEY_ID, "p1", "Ga_403.3")


# Per shape, a wavelength between the entry's peaks, and the new peak's candidates.
REPROCESSES = [
    (KEY_ID, 400.0, {"candidates": ["Ga_403.3", "Al_396.2"]}),
    (MAP_ID, 420.0, {"element": "Ga", "candidates": ["In_410.2", "Ga_417.2"]}),
    (LIST_ID, 486.0, {"candidates": ["H_486.1"]}),
    (ELEMENT_ID, 337.0, {"element": "N2", "candidates": ["N2_337.1", "N2_357.7"]}),
]


@pytest.mark.parametrize(("data_id", "wavelength_nm", "new"), REPROCESSES, ids=SHAPE_OF_ENTRY.values())
def test_reprocess_renumbers_by_wavelength_and_pins_follow_their_peaks(
    sandbox: Sandbox, client: httpx.Client, data_id: str, wavelength_nm: float, new: dict[str, Any]
) -> None:
    """A new peak is detected, ids follow wavelength order, each old peak keeps its state under its new id."""
    previous = sandbox.result(data_id)
    before = {p["peak_id"]: p for p in previous["detected_peaks"]}
    response = admin(client, "reprocess", data_id=data_id, wavelength_nm=wavelength_nm, **new)
    assert response.status_code == 200
    answer = response.json()
    body = client.get(f"oes/{data_id}").content
    document = json.loads(body)
    peaks = document["detected_peaks"]
    assert [p["peak_id"] for p in peaks] == [f"p{n}" for n in range(1, len(before) + 2)]
    assert [p["wavelength_nm"] for p in peaks] == sorted(p["wavelength_nm"] for p in peaks)
    assert sorted(answer["renumbered"]) == sorted(before)
    assert any(old != now for old, now in answer["renumbered"].items())  # ids did shift
    for old, now in answer["renumbered"].items():
        assert peak_in(document, now) == {**before[old], "peak_id": now}  # pins and selections included
    added = client_view(body, answer["peak_id"])
    wanted = next(k for k in new["candidates"] if element_of(k) == new.get("element", element_of(k)))
    shown = wanted if data_id != ELEMENT_ID else None
    assert (added.wavelength_nm, added.applied, added.element, added.manual) == (
        wavelength_nm,
        shown,
        element_of(wanted),
        False,
    )
    assert {shape_of(p) for p in peaks} == {SHAPE_OF_ENTRY[data_id]}
    if data_id == ELEMENT_ID:
        assert all(set(p) == DOCUMENTED_PEAK for p in peaks)
    assert document["last_updated"] == answer["last_updated"] > previous["last_updated"]
    assert_no_api_requests(sandbox, gets=1)
    assert sandbox.stats()["admin"] == {"ui-edit": 0, "reprocess": 1}


def test_reprocess_bumps_last_updated_of_that_entry_only(sandbox: Sandbox, client: httpx.Client) -> None:
    """Reprocessing is an edit of the entry: its `last_updated` moves, other entries' stay."""
    before = {entry["data_id"]: entry["last_updated"] for entry in sandbox.entries()}
    answer = sandbox.reprocess(KEY_ID, wavelength_nm=500, element="In")
    assert repr(peak_in(sandbox.result(KEY_ID), answer["peak_id"])["wavelength_nm"]) == "500.0"
    after = {entry["data_id"]: entry["last_updated"] for entry in sandbox.entries()}
    assert after[KEY_ID] == answer["last_updated"] > before[KEY_ID]
    assert {k: v for k, v in after.items() if k != KEY_ID} == {k: v for k, v in before.items() if k != KEY_ID}
    assert client.get(f"oes/{KEY_ID}").json()["last_updated"] == answer["last_updated"]


def test_patches_after_a_reprocess_name_the_new_ids(sandbox: Sandbox, client: httpx.Client) -> None:
    """The old `p1` is now `p3` and `p1` the new peak: PATCHes land by the new ids, hidden candidates hold."""
    answer = sandbox.reprocess(ELEMENT_ID, wavelength_nm=337.0, candidates=["N2_337.1"])
    assert (answer["peak_id"], answer["renumbered"]) == ("p1", {"p2": "p2", "p1": "p3"})
    assert patch(client, ELEMENT_ID, "p1", "Al_396.2").status_code == 400
    assert patch(client, ELEMENT_ID, "p1", "N2_337.1").status_code == 200
    assert patch(client, ELEMENT_ID, "p3", "Al_394.4").status_code == 200
    assert sandbox.stats()["patches"] == {
        ELEMENT_ID: {"p1": {"requests": 2, "changed": 1}, "p3": {"requests": 1, "changed": 0}}
    }


def test_a_new_peak_with_an_element_only_lists_no_candidates(sandbox: Sandbox, client: httpx.Client) -> None:
    """Given `element` alone, the new peak shows the documented fields and accepts any key."""
    peak_id = sandbox.reprocess(KEY_ID, wavelength_nm=700.0, element="H")["peak_id"]
    assert peak_in(sandbox.result(KEY_ID), peak_id) == {
        "peak_id": peak_id,
        "wavelength_nm": 700.0,
        "element": "H",
        "manual": False,
    }
    assert patch(client, KEY_ID, peak_id, "H_656.3").status_code == 200
    assert client_view(client.get(f"oes/{KEY_ID}").content, peak_id).element == "H"


def test_a_ui_edit_after_a_reprocess_pins_the_peak_now_at_that_id(sandbox: Sandbox) -> None:
    """After ids shift, a UI edit of `p1` pins whichever peak is now `p1`."""
    sandbox.reprocess(LIST_ID, wavelength_nm=380.0, candidates=["N2_391.4", "N2_337.1"])
    sandbox.ui_edit(LIST_ID, "p1", "N2_337.1")
    peak = peak_in(sandbox.result(LIST_ID), "p1")
    assert (peak["wavelength_nm"], peak["manual"]) == (380.0, True)
    assert [c["candidate_key"] for c in peak["candidates"] if c["selected"]] == ["N2_337.1"]


AT_400 = {"data_id": KEY_ID, "wavelength_nm": 400.0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"wavelength_nm": 400.0}, "data_id"),
        ({"data_id": KEY_ID, "element": "Ga"}, "wavelength_nm"),
        ({**AT_400, "wavelength_nm": "400", "element": "Ga"}, "wavelength_nm"),
        ({**AT_400, "wavelength_nm": True, "element": "Ga"}, "wavelength_nm"),
        ({**AT_400, "wavelength_nm": -4.0, "element": "Ga"}, "wavelength_nm"),
        (AT_400, "element"),
        ({**AT_400, "element": ""}, "element"),
        ({**AT_400, "candidates": "Ga_403.3"}, "candidates"),
        ({**AT_400, "candidates": ["Ga"]}, "candidates"),
        ({**AT_400, "candidates": ["Ga_403.3", "Ga_403.3"]}, "candidates"),
        ({**AT_400, "element": "In", "candidates": ["Ga_403.3"]}, "candidates"),
        ({"data_id": KEY_ID, "wavelength": 400.0, "element": "Ga"}, "wavelength"),
    ],
    ids=[
        "no-entry", "no-wavelength", "text", "bool", "negative", "nothing-detected", "empty-element",
        "candidates-not-a-list", "not-a-key", "twice", "element-not-among-candidates", "misspelt-field",
    ],
)  # fmt: skip
def test_bad_reprocess_bodies_are_422_naming_the_field(
    sandbox: Sandbox, client: httpx.Client, body: dict[str, Any], field: str
) -> None:
    """A reprocess body that cannot be served is 422, FastAPI-style, naming the field; nothing changes."""
    before = sandbox.entries()
    response = client.post("_sandbox/reprocess", json=body)
    assert response.status_code == 422
    assert field in [problem["loc"][-1] for problem in response.json()["detail"]]
    assert sandbox.entries() == before
    assert sandbox.stats()["admin"]["reprocess"] == 0


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ui-edit", b"not json"),
        ("ui-edit", b"[]"),
        ("ui-edit", b""),
        ("ui-edit", b'{"data_id": "x", "peak_id": "p1"}'),
        ("ui-edit", b'{"data_id": "x", "peak_id": 1, "candidate_key": "Ga_417.2"}'),
        ("ui-edit", b'{"data_id": "x", "peak_id": "p1", "candidate_key": "Ga_417.2", "manual": false}'),
        ("reprocess", b"not json"),
    ],
)
def test_malformed_admin_bodies_are_422(client: httpx.Client, name: str, body: bytes) -> None:
    """A body that is not the JSON object the request takes is 422 with a list of problems, as PATCH's are."""
    response = client.post(f"_sandbox/{name}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_reprocess_refuses_an_unknown_entry_and_a_wavelength_taken(client: httpx.Client) -> None:
    """404 for an entry the sandbox does not have, 409 for a wavelength where a peak already is."""
    missing = admin(client, "reprocess", data_id="nope", wavelength_nm=400.0, element="Ga")
    assert (missing.status_code, "nope" in missing.json()["detail"]) == (404, True)
    taken = admin(client, "reprocess", data_id=KEY_ID, wavelength_nm=403.1, element="Ga")
    assert (taken.status_code, "403.1" in taken.json()["detail"]) == (409, True)


def test_reprocess_refuses_an_entry_with_a_peak_of_unknown_wavelength() -> None:
    """Peaks of a data file may lack `wavelength_nm`: such an entry cannot be ordered, so it is a 409."""
    entry = {"data_id": "e", "detected_peaks": [{"peak_id": "p1", "element": "Ga", "manual": False}]}
    with Sandbox(entries=[entry]) as sandbox, connect(sandbox) as http:
        response = admin(http, "reprocess", data_id="e", wavelength_nm=400.0, element="Ga")
        assert (response.status_code, "wavelength_nm" in response.json()["detail"]) == (409, True)
        with pytest.raises(ValueError, match="p1"):
            sandbox.reprocess("e", wavelength_nm=400.0, element="Ga")


def test_reprocess_in_process_raises_what_the_server_refuses(sandbox: Sandbox) -> None:
    """In-process, an unknown entry is a KeyError and unusable values a ValueError naming the field."""
    with pytest.raises(KeyError, match="nope"):
        sandbox.reprocess("nope", wavelength_nm=400.0, element="Ga")
    with pytest.raises(ValueError, match="wavelength_nm"):
        sandbox.reprocess(KEY_ID, wavelength_nm=float("nan"), element="Ga")


@pytest.mark.parametrize("name", ["ui-edit", "reprocess"])
@pytest.mark.parametrize("key", [None, "wrong"])
def test_admin_requests_need_the_key(sandbox: Sandbox, name: str, key: str | None) -> None:
    """As every request to the sandbox, an admin request without the right key is 401 and changes nothing."""
    before = sandbox.entries()
    body: dict[str, Any] = {"data_id": KEY_ID, "peak_id": "p1", "candidate_key": "Ga_417.2"}
    if name == "reprocess":
        body = {"data_id": KEY_ID, "wavelength_nm": 400.0, "element": "Ga"}
    with connect(sandbox, key=key) as http:
        response = http.post(f"_sandbox/{name}", json=body)
    assert response.status_code == 401
    assert "key" in response.json()["detail"]
    assert sandbox.entries() == before


@pytest.mark.parametrize("name", ["ui-edit", "reprocess"])
def test_admin_requests_are_posts(client: httpx.Client, name: str) -> None:
    """Another method on an admin path is 405 naming POST; an unknown control path is 404."""
    response = client.get(f"_sandbox/{name}")
    assert (response.status_code, response.headers["Allow"]) == (405, "POST")
    assert client.post("_sandbox/rewind").status_code == 404


def test_reset_stats_clears_the_admin_counts(sandbox: Sandbox, client: httpx.Client) -> None:
    """`POST /_sandbox/reset-stats` clears the admin counts too; `GET /_sandbox/stats` serves them."""
    sandbox.ui_edit(KEY_ID, "p1", "Ga_417.2")
    assert client.get("_sandbox/stats").json()["admin"] == {"ui-edit": 1, "reprocess": 0}
    client.post("_sandbox/reset-stats")
    assert sandbox.stats()["admin"] == {"ui-edit": 0, "reprocess": 0}


def test_every_served_peak_has_a_wavelength_so_every_entry_can_be_reprocessed() -> None:
    """Seed and synthetic peaks, in every shape, carry distinct measured wavelengths to order them by."""
    entries = [*SEED, *synthetic_entries(4, peaks=3, points=8, shapes=SHAPES)]
    for entry in entries:
        wavelengths = [peak["wavelength_nm"] for peak in entry["detected_peaks"]]
        assert all(isinstance(nm, float) for nm in wavelengths)
        assert len(set(wavelengths)) == len(wavelengths)
    sandbox = Sandbox(entries=entries)  # in-process edits need no socket
    for entry in entries:
        answer = sandbox.reprocess(entry["data_id"], wavelength_nm=199.5, element="Si")
        assert answer["peak_id"] == "p1"
        renumbered = answer["renumbered"]
        assert sorted(renumbered.values()) == sorted(f"p{n}" for n in range(2, len(renumbered) + 2))


def test_edits_racing_on_one_entry_are_all_kept(sandbox: Sandbox) -> None:
    """PATCHes and UI edits of one entry from two threads never overwrite each other's peaks."""
    barrier = threading.Barrier(2)

    def patches() -> None:
        with connect(sandbox) as http:
            barrier.wait()
            for key in ["Ga_417.2", "In_451.1"] * 10 + ["Ga_417.2"]:
                assert patch(http, KEY_ID, "p1", key).status_code == 200

    def ui_edits() -> None:
        barrier.wait()
        for key in ["Ga_417.2", "Ga_403.3"] * 10 + ["Ga_417.2"]:
            sandbox.ui_edit(KEY_ID, "p3", key)

    threads = [threading.Thread(target=patches), threading.Thread(target=ui_edits)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    document = sandbox.result(KEY_ID)
    assert [peak_in(document, p)["candidate_key"] for p in ("p1", "p3")] == ["Ga_417.2", "Ga_417.2"]
    assert sandbox.stats()["admin"]["ui-edit"] == 21
