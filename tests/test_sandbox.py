"""The sandbox API: auth, the four peak shapes, PATCH semantics, faults, stats, and its data."""

from __future__ import annotations

import csv
import http.client
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import yaml

from reconciler.errors import ConfigError, InputError
from reconciler.models import OESResult, PeakState, element_of
from reconciler.sandbox import Faults, Sandbox, load_entries
from reconciler.sandbox_data import SHAPES, data_file_json, example_data_json, example_entries
from reconciler.sandbox_store import ResultStore
from reconciler.sandbox_synthetic import synthetic_entries, synthetic_overrides

KEY_ID = "d290f1ee-6c54-4b01-90e6-d701748f0851"
MAP_ID = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"
ELEMENT_ID = "5b6e8f2a-9c4d-4e1f-8a7b-2d3c4e5f6a7b"
LIST_ID = "8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b"
DOCUMENTED_FIELDS = {
    "data_id", "id", "wavelengths", "wavelength_unit", "sample", "reference", "dark", "scope_corrected",
    "spectrum_type", "detected_peaks", "constraint_mode", "constrained_elements", "spectral_metadata",
    "last_updated",
}  # fmt: skip
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Building an SSL context per client costs ~40 ms; plain-HTTP loopback clients can share one.
TLS = ssl.create_default_context()


def connect(sandbox: Sandbox, *, key: str | None = "sandbox", timeout: float = 5) -> httpx.Client:
    """A client of the sandbox, sending `key` (none when None)."""
    headers = {"X-API-KEY": key} if key is not None else {}
    return httpx.Client(base_url=sandbox.url, headers=headers, timeout=timeout, verify=TLS)


# Documents are only read when a sandbox is built, so one copy of the seed data serves every test.
SEED = example_entries()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(entries=SEED) as running:
        yield running


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with connect(sandbox) as http:
        yield http


def peak_in(document: dict[str, Any], peak_id: str) -> dict[str, Any]:
    peak: dict[str, Any] = next(p for p in document["detected_peaks"] if p["peak_id"] == peak_id)
    return peak


def client_view(body: bytes, peak_id: str) -> PeakState:
    """The peak as the reconciler's own models read it."""
    peak = OESResult.model_validate_json(body).peak(peak_id)
    assert peak is not None
    return peak


def patch(client: httpx.Client, data_id: str, peak_id: str, key: str) -> httpx.Response:
    return client.patch(f"oes/{data_id}/peaks", json={"peak_id": peak_id, "candidate_key": key})


# --- Auth and routing ---


@pytest.mark.parametrize("key", [None, "wrong"])
@pytest.mark.parametrize("path", [f"oes/{KEY_ID}", "_sandbox/stats"])
def test_a_missing_or_wrong_key_is_401(sandbox: Sandbox, key: str | None, path: str) -> None:
    """Without the configured key every endpoint, control ones included, answers 401 with a detail."""
    with connect(sandbox, key=key) as http:
        response = http.get(path)
    assert response.status_code == 401
    assert "key" in response.json()["detail"]


def test_a_custom_key_is_the_only_one_accepted() -> None:
    """`api_key` replaces the default key."""
    with Sandbox(api_key="s3cret") as sandbox, connect(sandbox) as http:
        assert http.get(f"oes/{KEY_ID}").status_code == 401
        assert http.get(f"oes/{KEY_ID}", headers={"X-API-KEY": "s3cret"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"oes/{uuid.UUID(int=1)}"),
        ("PATCH", f"oes/{uuid.UUID(int=1)}/peaks"),
        ("GET", "nowhere"),
    ],
)
def test_unknown_entries_and_paths_are_404(client: httpx.Client, method: str, path: str) -> None:
    """An unknown data entry or path answers 404 with a JSON detail."""
    response = client.request(method, path, json={"peak_id": "p1", "candidate_key": "Ga_417.2"})
    assert response.status_code == 404
    assert response.json()["detail"]


def test_sandbox_refuses_to_listen_beyond_loopback() -> None:
    """Only loopback addresses are served: the sandbox is never reachable from the network."""
    with pytest.raises(ConfigError, match="loopback"):
        Sandbox(host="0.0.0.0")


def test_a_port_in_use_is_a_config_error(sandbox: Sandbox) -> None:
    """Binding a port another server holds fails with a message naming the port."""
    port = int(sandbox.url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(ConfigError, match=f"port {port}"):
        Sandbox(entries=SEED, port=port).bind()


# --- GET: the documented document and the four peak shapes ---


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


def test_key_shape_has_candidate_key_and_keyed_candidates(client: httpx.Client) -> None:
    """Shape "key": `candidate_key` plus candidates as objects carrying `key`, measured != line."""
    peak = peak_in(client.get(f"oes/{KEY_ID}").json(), "p1")
    assert peak["candidate_key"] == "In_451.1"
    assert [c["key"] for c in peak["candidates"]] == ["Ga_417.2", "In_451.1"]
    assert all(c["wavelength_nm"] != peak["wavelength_nm"] for c in peak["candidates"])


def test_map_shape_marks_exactly_one_selected(client: httpx.Client) -> None:
    """Shape "map": no `candidate_key`; a mapping from key to object, one of them selected."""
    peak = peak_in(client.get(f"oes/{MAP_ID}").json(), "p4")
    assert "candidate_key" not in peak
    assert {key for key, body in peak["candidates"].items() if body["selected"]} == {"In_451.1"}


def test_list_shape_keys_candidates_by_candidate_key(client: httpx.Client) -> None:
    """Shape "list": no `candidate_key`; a list of objects keyed `candidate_key` with `selected` flags."""
    peak = peak_in(client.get(f"oes/{LIST_ID}").json(), "p2")
    assert "candidate_key" not in peak
    assert [(c["candidate_key"], c["selected"]) for c in peak["candidates"]] == [
        ("N2_337.1", False),
        ("N2_391.4", True),
    ]


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


# --- PATCH ---


@pytest.mark.parametrize(
    ("data_id", "peak_id", "key", "applied"),
    [
        (KEY_ID, "p1", "Ga_417.2", "Ga_417.2"),
        (MAP_ID, "p4", "Ga_417.2", "Ga_417.2"),
        (LIST_ID, "p2", "N2_337.1", "N2_337.1"),
        (ELEMENT_ID, "p2", "N2_337.1", None),
    ],
)
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


def test_patch_moves_the_selected_flag(client: httpx.Client) -> None:
    """In the flagged shapes exactly one candidate stays selected: the new one."""
    document = patch(client, MAP_ID, "p4", "Ga_417.2").json()
    assert {k for k, body in peak_in(document, "p4")["candidates"].items() if body["selected"]} == {
        "Ga_417.2"
    }


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
def test_patch_refuses_a_key_that_is_not_a_candidate(
    client: httpx.Client, sandbox: Sandbox, data_id: str, peak_id: str, key: str
) -> None:
    """400 for a key outside the peak's candidates, hidden ones included; nothing changes."""
    before = sandbox.result(data_id)
    response = patch(client, data_id, peak_id, key)
    assert response.status_code == 400
    assert key in response.json()["detail"]
    assert sandbox.result(data_id) == before


def test_patch_of_an_unknown_peak_is_404(client: httpx.Client) -> None:
    """A peak the result does not have answers 404."""
    response = patch(client, MAP_ID, "p9", "N_746.8")
    assert response.status_code == 404
    assert "p9" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"peak_id": "p1"}', b'{"peak_id": 1, "candidate_key": "Ga_417.2"}', b""],
)
def test_malformed_patch_bodies_are_422(client: httpx.Client, body: bytes) -> None:
    """A body that is not `{"peak_id": str, "candidate_key": str}` is 422, with a FastAPI-style detail."""
    response = client.patch(f"oes/{KEY_ID}/peaks", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_a_peak_without_candidate_info_accepts_any_key() -> None:
    """A peak that lists no candidates and has no hidden ones takes whatever key is sent."""
    entry = {"data_id": "e", "detected_peaks": [{"peak_id": "p1", "element": "Ga", "manual": False}]}
    with Sandbox(entries=[entry]) as sandbox, connect(sandbox) as http:
        assert patch(http, "e", "p1", "Zn_481.1").status_code == 200
        assert peak_in(sandbox.result("e"), "p1") == {"peak_id": "p1", "element": "Zn", "manual": True}


# --- Faults ---


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "401"])
def test_status_faults_answer_that_status(sandbox: Sandbox, client: httpx.Client, kind: str) -> None:
    """An HTTP fault answers its status with a JSON detail."""
    sandbox.set_faults(Faults(fail_first=1, fail_kind=kind))
    response = client.get(f"oes/{KEY_ID}")
    assert response.status_code == int(kind)
    assert response.json()["detail"]


def test_429_carries_retry_after(sandbox: Sandbox, client: httpx.Client) -> None:
    """A 429 fault sends the configured `Retry-After`."""
    sandbox.set_faults(Faults(fail_first=1, fail_kind="429", retry_after="7"))
    response = client.get(f"oes/{KEY_ID}")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")


def test_drop_closes_the_connection_without_an_answer(sandbox: Sandbox, client: httpx.Client) -> None:
    """A "drop" fault hangs up; the client sees a transport error, and the next request is served."""
    sandbox.set_faults(Faults(fail_first=1, fail_kind="drop"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(f"oes/{KEY_ID}")
    assert client.get(f"oes/{KEY_ID}").status_code == 200
    assert sandbox.stats()["statuses"] == {"drop": 1, "200": 1}


def test_timeout_stalls_past_the_client_timeout(sandbox: Sandbox) -> None:
    """A "timeout" fault stalls `timeout_delay` seconds, so a shorter client timeout fires."""
    sandbox.set_faults(Faults(fail_first=1, fail_kind="timeout", timeout_delay=0.3))
    with connect(sandbox, timeout=0.05) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get(f"oes/{KEY_ID}")
        assert http.get(f"oes/{KEY_ID}").status_code == 200


def test_apply_then_500_changes_state_yet_answers_500(sandbox: Sandbox, client: httpx.Client) -> None:
    """ "apply_then_500" performs the PATCH, then answers 500: a retry finds the work already done."""
    sandbox.set_faults(Faults(fail_first=1, fail_kind="apply_then_500"))
    assert patch(client, KEY_ID, "p1", "Ga_417.2").status_code == 500
    assert peak_in(sandbox.result(KEY_ID), "p1")["candidate_key"] == "Ga_417.2"
    assert patch(client, KEY_ID, "p1", "Ga_417.2").status_code == 200


@pytest.mark.parametrize("kind", ["html", "empty", "garbage"])
def test_bad_body_faults_answer_200_with_something_that_is_not_a_result(
    sandbox: Sandbox, client: httpx.Client, kind: str
) -> None:
    """ "html", "empty" and "garbage" answer 200 with a body the client models cannot read."""
    sandbox.set_faults(Faults(fail_first=1, fail_kind=kind))
    response = client.get(f"oes/{KEY_ID}")
    assert response.status_code == 200
    assert ("html" in response.headers["Content-Type"]) is (kind == "html")
    with pytest.raises(pydantic.ValidationError):
        OESResult.model_validate_json(response.content)


def test_fail_first_counts_each_distinct_request(sandbox: Sandbox, client: httpx.Client) -> None:
    """`fail_first` fails each (method, path, peak) that many times, then serves it."""
    sandbox.set_faults(Faults(fail_first=2, fail_kind="503"))
    assert [client.get(f"oes/{KEY_ID}").status_code for _ in range(3)] == [503, 503, 200]
    assert [patch(client, KEY_ID, "p1", "Ga_417.2").status_code for _ in range(3)] == [503, 503, 200]
    assert patch(client, KEY_ID, "p3", "Ga_403.3").status_code == 503
    assert client.get(f"oes/{MAP_ID}").status_code == 503


def test_random_faults_follow_the_seed() -> None:
    """`fault_rate` draws from a seeded generator: the same seed gives the same answers."""
    faults = Faults(fault_rate=0.5, fault_kinds=("500", "503"), seed=7)

    def statuses() -> list[int]:
        with Sandbox(faults=faults) as sandbox, connect(sandbox) as http:
            return [http.get(f"oes/{KEY_ID}").status_code for _ in range(20)]

    first = statuses()
    assert first == statuses()
    assert {200, 500, 503} <= set(first)


def test_faults_change_at_runtime_and_latency_delays(sandbox: Sandbox, client: httpx.Client) -> None:
    """`set_faults` takes effect on the next request; `latency` delays every answer."""
    sandbox.set_faults(Faults(fault_rate=1.0, fault_kinds=("502",)))
    assert client.get(f"oes/{KEY_ID}").status_code == 502
    sandbox.set_faults(Faults(latency=0.05))
    started = time.perf_counter()
    assert client.get(f"oes/{KEY_ID}").status_code == 200
    assert time.perf_counter() - started >= 0.05


def test_faults_refuse_unknown_kinds() -> None:
    """A misspelt fault kind is an error, not a silent no-op."""
    with pytest.raises(ConfigError, match="unknown fault kind"):
        Faults(fail_first=1, fail_kind="timout")


# --- Stats, concurrency, keep-alive ---


def test_stats_count_requests_patches_and_changes(sandbox: Sandbox, client: httpx.Client) -> None:
    """Stats count requests by method and path, PATCHes per peak and those that changed a peak, statuses."""
    client.get(f"oes/{KEY_ID}")
    patch(client, KEY_ID, "p1", "Ga_417.2")
    patch(client, KEY_ID, "p1", "Ga_417.2")
    patch(client, KEY_ID, "p2", "Ga_417.2")
    stats = sandbox.stats()
    assert stats["by_method"] == {"GET": 1, "PATCH": 3}
    assert stats["by_path"][f"PATCH /oes/{KEY_ID}/peaks"] == 3
    assert stats["patches"] == {
        KEY_ID: {"p1": {"requests": 2, "changed": 1}, "p2": {"requests": 1, "changed": 0}}
    }
    assert stats["statuses"] == {"200": 3, "400": 1}
    sandbox.reset_stats()
    assert sandbox.stats()["requests"] == 0


def test_stats_are_served_over_http(sandbox: Sandbox, client: httpx.Client) -> None:
    """`GET /_sandbox/stats` serves the same counters and `POST /_sandbox/reset-stats` clears them."""
    client.get(f"oes/{KEY_ID}")
    assert client.get("_sandbox/stats").json() == sandbox.stats()
    assert client.post("_sandbox/reset-stats").status_code == 200
    assert sandbox.stats()["requests"] == 0


def test_stats_see_requests_in_flight_at_once(sandbox: Sandbox) -> None:
    """`max_in_flight` shows how many requests the server held at the same time."""
    sandbox.set_faults(Faults(latency=0.2))
    barrier = threading.Barrier(4)

    def fetch() -> None:
        with connect(sandbox) as http:
            barrier.wait()
            http.get(f"oes/{KEY_ID}")

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sandbox.stats()["max_in_flight"] == 4


def test_one_connection_carries_many_requests(sandbox: Sandbox) -> None:
    """HTTP/1.1 keep-alive: several requests and answers, errors included, on one connection."""
    port = int(sandbox.url.rsplit(":", 1)[1].strip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        sockets = []
        for path in (f"/oes/{KEY_ID}", "/oes/unknown", f"/oes/{MAP_ID}"):
            connection.request("GET", path, headers={"X-API-KEY": "sandbox"})
            response = connection.getresponse()
            response.read()
            assert response.getheader("Content-Length") is not None
            assert response.getheader("Connection") != "close"
            sockets.append(connection.sock)
        assert sockets[0] is not None
        assert all(sock is sockets[0] for sock in sockets)
    finally:
        connection.close()


def test_stop_closes_idle_connections(sandbox: Sandbox, client: httpx.Client) -> None:
    """After stop() nothing is served, not even on a connection kept alive from before."""
    assert client.get(f"oes/{KEY_ID}").status_code == 200
    sandbox.stop()
    with pytest.raises(httpx.TransportError):
        client.get(f"oes/{KEY_ID}")


# --- Seed data, synthetic data, data files ---


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


def _is_in_sync(peak: PeakState, key: str) -> bool:
    """SPEC "When a peak is in sync", restated so the seed data is pinned independently of the diff."""
    applied = peak.applied
    return peak.manual and (applied == key if applied is not None else peak.element == element_of(key))


def test_seed_data_gives_the_documented_plan_of_the_examples() -> None:
    """Against the seed data the example overrides are 6 changes and 4 in sync, with no error."""
    results = {entry["data_id"]: OESResult.model_validate(entry) for entry in example_entries()}
    outcomes: dict[str, int] = {"change": 0, "in_sync": 0, "peak_not_found": 0}
    for data_id, peak_id, key in _overrides_of_examples():
        peak = results[data_id].peak(peak_id)
        outcome = "peak_not_found" if peak is None else "in_sync" if _is_in_sync(peak, key) else "change"
        outcomes[outcome] += 1
    assert outcomes == {"change": 6, "in_sync": 4, "peak_not_found": 0}


def test_seed_data_is_deterministic() -> None:
    """The seed data is the same on every call, byte for byte."""
    assert example_data_json() == example_data_json()


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
        out_of_sync[data_id] += not _is_in_sync(peak, key)
    assert set(out_of_sync.values()) == {differing}


def test_synthetic_data_refuses_more_differing_peaks_than_peaks() -> None:
    """`differing` cannot exceed `peaks`: a benchmark would otherwise measure something else than asked."""
    with pytest.raises(ConfigError, match="differing"):
        synthetic_overrides(1, peaks=2, differing=3)


def test_synthetic_ids_are_deterministic_uuids() -> None:
    """The same arguments give the same ids; another seed gives others; all are distinct UUIDs."""
    ids = [entry["data_id"] for entry in synthetic_entries(50, points=8)]
    assert ids == [entry["data_id"] for entry in synthetic_entries(50, points=8)]
    assert ids == sorted({data_id for data_id, _, _ in synthetic_overrides(50)}, key=ids.index)
    assert len(set(ids)) == 50
    assert all(str(uuid.UUID(data_id)) == data_id for data_id in ids)
    assert not set(ids) & {entry["data_id"] for entry in synthetic_entries(50, points=8, seed=1)}


def test_synthetic_results_share_one_encoded_spectra_copy() -> None:
    """Thousands of 2,048-point results cost one copy of the spectra, not one each."""
    store = ResultStore(synthetic_entries(200, points=2048))
    assert len({id(stored.spectra) for stored in store}) == 1
    assert len(json.loads(next(iter(store)).body())["sample"]) == 2048


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
    """A bad data file is an InputError naming the file and what is wrong, by entry."""
    path = tmp_path / "data.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as raised:
        load_entries(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)


def test_sandbox_refuses_invalid_entries() -> None:
    """Entries given in Python are checked as a data file is."""
    with pytest.raises(ValueError, match=r"entries\[0\]\.data_id"):
        Sandbox(entries=[{"detected_peaks": []}])
