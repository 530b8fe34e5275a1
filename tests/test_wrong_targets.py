"""A run pointed at the wrong place, end to end against real loopback servers: a wrong path prefix,
redirects (never followed, so the key goes nowhere else), and peak ids that only look right."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from tests.conftest import Cli

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"  # an entry of the example data (peaks p1, p2, p3, p5)
KEY = "loopback-key-0123456789"
Answer = tuple[int, dict[str, str], bytes]
WANTS_CHANGE = json.dumps(
    {"detected_peaks": [{"peak_id": "p1", "element": "In", "manual": False, "candidate_key": "In_451.1"}]}
).encode()


class Recorded:
    """A loopback server's URL and the requests it received: (method, path, X-API-KEY)."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[tuple[str, str, str | None]] = []


@contextmanager
def serving(answer: Callable[[str, str], Answer]) -> Iterator[Recorded]:
    """A real HTTP server on 127.0.0.1 that answers each request with `answer(method, path)`."""
    record = Recorded()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            record.requests.append((self.command, self.path, self.headers.get("X-API-KEY")))
            status, headers, body = answer(self.command, self.path)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PATCH = _serve  # noqa: N815 (the names http.server dispatches to)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    record.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    path = tmp_path / "overrides.yaml"
    path.write_text(f"version: 1\noverrides:\n  {GAN}:\n    p1: Ga_417.2\n")
    return path


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AS_API_KEY", KEY)
    monkeypatch.delenv("ATOMSCALE_API_KEY", raising=False)


def items_of(out: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_a_wrong_path_prefix_is_fetch_failed_not_entry_not_found(
    sandbox: Sandbox, cli: Cli, overrides: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the sandbox under a wrong prefix (/v2/), its generic 404 makes fetch_failed naming the URL."""
    wrong = sandbox.url + "v2/"
    monkeypatch.setenv("AS_API_ENDPOINT", wrong)
    ran = cli("apply", "--format", "json", str(overrides))
    [item] = items_of(ran.out)
    assert ran.code == 1
    assert item["status"] == "fetch_failed"
    assert item["message"] == (
        "HTTP 404 but not the API's 'not found' for an entry (server said: Not Found); "
        f"is the endpoint's path right? (GET {wrong}oes/{GAN})"
    )
    assert sandbox.stats()["patches"] == {}


def test_the_apis_own_404_is_still_entry_not_found(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """At the right prefix, the sandbox's 404 naming the entry stays entry_not_found."""
    missing = "00000000-0000-4000-8000-000000000000"
    path = tmp_path / "o.yaml"
    path.write_text(f"version: 1\noverrides:\n  {missing}:\n    p1: Ga_417.2\n")
    [item] = items_of(cli("plan", "--format", "json", str(path)).out)
    assert item["status"] == "entry_not_found"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        pytest.param(
            (404, {"Content-Type": "text/html"}, b"<html><body><h1>404 Not Found</h1>nginx</body></html>"),
            "an HTML page",
            id="proxy-html",
        ),
        pytest.param((404, {}, b""), "no body", id="empty"),
        pytest.param(
            (404, {"Content-Type": "application/json"}, b'{"detail":"Not Found"}'), "Not Found", id="json"
        ),
    ],
)
def test_a_generic_404_from_a_real_server_says_what_it_said(
    cli: Cli, overrides: Path, keyed: None, answer: Answer, said: str
) -> None:
    """A proxy's HTML 404, an empty one or FastAPI's generic one: fetch_failed in the server's words."""
    with serving(lambda method, path: answer) as server:
        ran = cli("plan", "--endpoint", server.url + "api/", "--format", "json", str(overrides))
    [item] = items_of(ran.out)
    assert (ran.code, item["status"]) == (1, "fetch_failed")
    assert (
        f"(server said: {said}); is the endpoint's path right? (GET {server.url}api/oes/{GAN})"
        in item["message"]
    )
    assert len(server.requests) == 1  # a 404 is not retried


def test_a_redirected_get_is_not_followed_and_names_the_location(
    cli: Cli, overrides: Path, keyed: None
) -> None:
    """A 301 to another server is reported with its Location; that server receives nothing (nor the key)."""
    with (
        serving(lambda method, path: (200, {}, WANTS_CHANGE)) as elsewhere,
        serving(lambda method, path: (301, {"Location": elsewhere.url + path.lstrip("/")}, b"")) as endpoint,
    ):
        ran = cli("plan", "--endpoint", endpoint.url, "--format", "json", str(overrides))
    [item] = items_of(ran.out)
    assert (ran.code, item["status"]) == (1, "fetch_failed")
    assert item["message"] == (
        f"HTTP 301 redirect to {elsewhere.url}oes/{GAN}; set --endpoint to where the API lives: "
        "redirects are not followed, so the key is never sent elsewhere"
    )
    assert elsewhere.requests == []
    assert endpoint.requests == [("GET", f"/oes/{GAN}", KEY)]


def test_a_redirected_patch_is_not_followed(cli: Cli, overrides: Path, keyed: None) -> None:
    """A 308 on PATCH (followed, it would resend body and key) fails the item; nothing goes elsewhere."""

    def endpoint_answer(method: str, path: str) -> Answer:
        if method == "GET":
            return 200, {"Content-Type": "application/json"}, WANTS_CHANGE
        return 308, {"Location": f"{elsewhere.url}oes/{GAN}/peaks"}, b""

    with (
        serving(lambda method, path: (200, {}, WANTS_CHANGE)) as elsewhere,
        serving(endpoint_answer) as endpoint,
    ):
        ran = cli("apply", "--endpoint", endpoint.url, "--format", "json", str(overrides))
    [item] = items_of(ran.out)
    assert (ran.code, item["status"]) == (1, "failed")
    assert item["message"].startswith(f"HTTP 308 redirect to {elsewhere.url}oes/{GAN}/peaks; set --endpoint")
    assert elsewhere.requests == []
    assert [method for method, _path, _key in endpoint.requests] == ["GET", "PATCH"]


def test_a_look_alike_peak_id_is_named_in_the_report(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """An override for `P1` on an entry with `p1` is peak_not_found; the report asks: did you mean 'p1'?"""
    path = tmp_path / "o.yaml"
    path.write_text(f"version: 1\noverrides:\n  {GAN}:\n    P1: Ga_417.2\n")
    ran = cli("plan", str(path))
    assert ran.code == 1
    assert "the result has no peak 'P1' (peaks: p1, p2, p3, p5); did you mean 'p1'?" in ran.out


def test_a_redirect_to_no_url_is_reported_once_not_retried(cli: Cli, overrides: Path, keyed: None) -> None:
    """A 301 whose Location is no URL: one request, then `fetch_failed` saying so (not "connection dropped",
    retried six times)."""
    with serving(lambda method, path: (301, {"Location": "http://[::1"}, b"")) as endpoint:
        ran = cli("plan", "--endpoint", endpoint.url, "--format", "json", str(overrides))
    [item] = items_of(ran.out)
    assert (ran.code, item["status"]) == (1, "fetch_failed")
    assert item["message"].startswith("a redirect whose Location is not a URL; set --endpoint")
    assert endpoint.requests == [("GET", f"/oes/{GAN}", KEY)]
