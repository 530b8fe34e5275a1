"""The sandbox off the API's happy path: wrong methods, bodies it will not read, and its control endpoints."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import httpx
import pytest

from reconciler.sandbox import Sandbox
from tests.sandbox.conftest import KEY_ID

pytestmark = pytest.mark.slow  # the sandbox on loopback

HEADERS = {"X-API-KEY": "sandbox", "Content-Type": "application/json"}


@pytest.fixture
def connection(sandbox: Sandbox) -> Iterator[http.client.HTTPConnection]:
    """A raw HTTP/1.1 connection to the sandbox, for requests httpx would not send as they are."""
    port = int(sandbox.url.rsplit(":", 1)[1].strip("/"))
    raw = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    yield raw
    raw.close()


def closed_by_the_server(connection: http.client.HTTPConnection) -> bool:
    """Whether the server has closed its end after the answer (the rest of a refused body is never read)."""
    assert connection.sock is not None
    return connection.sock.recv(1) == b""


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", f"oes/{KEY_ID}", "GET"),
        ("POST", f"oes/{KEY_ID}", "GET"),
        ("GET", f"oes/{KEY_ID}/peaks", "PATCH"),
    ],
)
def test_a_wrong_method_is_405_naming_the_allowed_one(
    client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    """A result only answers GET, its peaks only PATCH: anything else is 405 with an `Allow` header."""
    response = client.request(method, path, json={"peak_id": "p1", "candidate_key": "Ga_417.2"})
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}


def test_control_endpoints_count_and_reset(sandbox: Sandbox, client: httpx.Client) -> None:
    """`GET /_sandbox/stats` counts the API's requests (not its own); `POST /_sandbox/reset-stats` clears
    them; another control path is 404."""
    client.get(f"oes/{KEY_ID}")
    stats = client.get("_sandbox/stats").json()
    assert (stats["requests"], stats["by_method"]) == (1, {"GET": 1})
    assert stats == sandbox.stats()
    assert client.post("_sandbox/reset-stats").json()["requests"] == 0
    assert client.get("_sandbox/stats").json()["requests"] == 0
    assert client.post("_sandbox/stats").status_code == 404
    assert client.get("_sandbox/nothing").status_code == 404


def test_a_chunked_body_is_411_and_the_connection_closed(
    sandbox: Sandbox, connection: http.client.HTTPConnection
) -> None:
    """A PATCH body sent chunked (no Content-Length) is refused with 411, and the connection closed."""
    body = b'{"peak_id": "p1", "candidate_key": "Ga_417.2"}'
    head = "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    # One write of the whole request: the server answers after the headers and closes, and a request
    # sent in pieces could meet the closed socket half way (a broken pipe on this side, not a failure).
    connection.connect()
    assert connection.sock is not None
    request = f"PATCH /oes/{KEY_ID}/peaks HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Transfer-Encoding: chunked\r\n"
    connection.sock.sendall(
        f"{request}\r\n".encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    )
    response = http.client.HTTPResponse(connection.sock, method="PATCH")
    response.begin()
    assert response.status == 411
    response.read()
    assert closed_by_the_server(connection)
    assert sandbox.stats()["by_method"] == {}


@pytest.mark.parametrize(("length", "status"), [("many", 400), ("-1", 400), (str(2 << 20), 413)])
def test_a_bad_or_too_large_content_length_is_refused_unread(
    sandbox: Sandbox, connection: http.client.HTTPConnection, length: str, status: int
) -> None:
    """A Content-Length that is no number, negative, or over 1 MiB: 400 or 413 before any body is read."""
    connection.putrequest("PATCH", f"/oes/{KEY_ID}/peaks")
    for name, value in (HEADERS | {"Content-Length": length}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == status
    assert b"Content-Length" in response.read()
    assert closed_by_the_server(connection)
    assert sandbox.stats()["by_method"] == {}
