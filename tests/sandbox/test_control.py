"""The sandbox's fault knobs and its counters of what was asked."""

from __future__ import annotations

import threading
import time

import httpx
import pydantic
import pytest

from reconciler.answers import OESResult
from reconciler.sandbox import Faults, Sandbox, SandboxError
from tests.sandbox.conftest import KEY_ID, MAP_ID, connect, patch, peak_in

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`


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
    with pytest.raises(SandboxError, match="unknown fault kind"):
        Faults(fail_first=1, fail_kind="timout")


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
