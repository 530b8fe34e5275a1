"""The sandbox's HTTP side: the key, routing, request bodies, keep-alive, and serving on loopback only."""

from __future__ import annotations

import http.client
import uuid

import httpx
import pytest

from reconciler.sandbox import Sandbox, SandboxError
from tests.sandbox.conftest import KEY_ID, MAP_ID, SEED, connect

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`


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


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"peak_id": "p1"}', b'{"peak_id": 1, "candidate_key": "Ga_417.2"}', b""],
)
def test_malformed_patch_bodies_are_422(client: httpx.Client, body: bytes) -> None:
    """A body that is not `{"peak_id": str, "candidate_key": str}` is 422, with a FastAPI-style detail."""
    response = client.patch(f"oes/{KEY_ID}/peaks", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_sandbox_refuses_to_listen_beyond_loopback() -> None:
    """Only loopback addresses are served: the sandbox is never reachable from the network."""
    with pytest.raises(SandboxError, match="loopback"):
        Sandbox(host="0.0.0.0")


def test_a_port_in_use_is_refused_naming_it(sandbox: Sandbox) -> None:
    """Binding a port another server holds fails with a message naming the port."""
    port = int(sandbox.url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(SandboxError, match=f"port {port}"):
        Sandbox(entries=SEED, port=port).bind()


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
