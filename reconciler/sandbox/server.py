"""The sandbox's HTTP side: routing, the key check, faults applied request by request, answers written.

`Sandbox` (reconciler.sandbox) owns a `Server`; every connection gets a `Handler` thread.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler import __version__
from reconciler.sandbox.admin import ADMIN_REQUESTS, json_object
from reconciler.sandbox.control import HTTP_FAULTS, FaultInjector, Stats
from reconciler.sandbox.store import Refused, ResultStore

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox/"
MAX_BODY = 1 << 20
IDLE_TIMEOUT = 120.0  # seconds an idle keep-alive connection is kept open
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to write: status, body, and any headers beyond Content-Type and Content-Length."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, payload: Any, *headers: tuple[str, str]) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers=headers)


UNAUTHORISED = json_reply(401, {"detail": "missing or invalid API key (X-API-KEY)"})
MISBEHAVIOUR = {
    "html": Reply(
        200, b"<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>", "text/html"
    ),
    "empty": Reply(200, b""),
    "garbage": Reply(200, b"\x00\xff{not json"),
}


@dataclass(slots=True)
class Shared:
    """What every handler thread shares: the results, the key, the faults, the counters."""

    store: ResultStore
    api_key: bytes
    faults: FaultInjector
    stats: Stats


def _patch_request(body: bytes) -> tuple[str, str]:
    """`peak_id` and `candidate_key` from a PATCH body; a 422 in the style of FastAPI when malformed."""
    payload = json_object(body)
    problems = [
        {"loc": ["body", name], "msg": "Input should be a non-empty string", "type": "string_type"}
        for name in ("peak_id", "candidate_key")
        if not isinstance(payload.get(name), str) or not payload[name]
    ]
    if problems:
        raise Refused(422, problems)
    return payload["peak_id"], payload["candidate_key"]


def _peak_of(body: bytes) -> str | None:
    """The `peak_id` a PATCH body names, if it names one; never fails."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    peak_id = payload.get("peak_id") if isinstance(payload, dict) else None
    return peak_id if isinstance(peak_id, str) else None


def route(app: Shared, method: str, path: str, body: bytes) -> Reply:
    """The API proper: what a well-behaved server answers."""
    parts = path.split("/")
    try:
        if len(parts) == 3 and parts[1] == "oes" and parts[2]:
            if method != "GET":
                return json_reply(405, {"detail": "Method Not Allowed"}, ("Allow", "GET"))
            return Reply(200, app.store.get(unquote(parts[2])).body())
        if len(parts) == 4 and parts[1] == "oes" and parts[2] and parts[3] == "peaks":
            if method != "PATCH":
                return json_reply(405, {"detail": "Method Not Allowed"}, ("Allow", "PATCH"))
            peak_id, key = _patch_request(body)
            data_id = unquote(parts[2])
            result = app.store.get(data_id)
            if result.patch(peak_id, key):
                app.stats.peak_changed(data_id, peak_id)
            return Reply(200, result.body())
        return json_reply(404, {"detail": "Not Found"})
    except Refused as refused:
        return json_reply(refused.status, {"detail": refused.detail})


class Handler(BaseHTTPRequestHandler):
    """One connection: parses requests, applies latency, auth and faults, and writes the answers."""

    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body go out in two writes: with Nagle on, each answer can wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server_version = f"oes-sandbox/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    @property
    def app(self) -> Shared:
        assert isinstance(self.server, Server)
        return self.server.app

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        presented = self.headers.get("X-API-KEY", "").encode("utf-8", "surrogateescape")
        authorised = hmac.compare_digest(presented, self.app.api_key)
        if path.startswith(CONTROL_PREFIX):
            self._send(self._control(path, body) if authorised else UNAUTHORISED)
            return
        stats = self.app.stats
        with stats.request(self.command, path):
            try:
                reply = self._api(path, body, authorised=authorised)
            except Exception:
                # A bug in the sandbox answers 500, like a real server's, rather than dropping the line.
                log.exception("sandbox: error serving %s %s", self.command, path)
                reply = json_reply(500, {"detail": "sandbox error"})
            # Counted before the client can see the answer, so what it reads next includes this request.
            stats.answered(reply.status if reply else "drop")
        if reply is None:
            self._drop()
        else:
            self._send(reply)

    def _api(self, path: str, body: bytes, *, authorised: bool) -> Reply | None:
        """The answer to one API request, misbehaving as the faults say; None to hang up instead."""
        app, method = self.app, self.command
        latency = app.faults.faults.latency
        if latency:
            time.sleep(latency)
        if not authorised:
            return UNAUTHORISED
        peak_id = _peak_of(body) if method == "PATCH" else None
        parts = path.split("/")
        if peak_id is not None and len(parts) == 4:
            app.stats.patch_sent(unquote(parts[2]), peak_id)
        kind = app.faults.pick(method, path, peak_id)
        if kind is None:
            return route(app, method, path, body)
        app.stats.fault(kind)
        log.debug("sandbox fault %s on %s %s", kind, method, path)
        return self._misbehave(kind, path, body)

    def _misbehave(self, kind: str, path: str, body: bytes) -> Reply | None:
        app, method = self.app, self.command
        if kind == "drop":
            return None
        if kind == "timeout":
            time.sleep(app.faults.faults.timeout_delay)
            return route(app, method, path, body)
        if kind == "apply_then_500":
            if method == "PATCH":
                route(app, method, path, body)
            return json_reply(500, {"detail": "Internal Server Error"})
        if kind in HTTP_FAULTS:
            status = int(kind)
            extra = (("Retry-After", app.faults.faults.retry_after),) if status == 429 else ()
            return json_reply(status, {"detail": f"sandbox fault: HTTP {status}"}, *extra)
        return MISBEHAVIOUR[kind]

    def _control(self, path: str, body: bytes) -> Reply:
        """A control request: the counters, or an admin request that edits an entry (not an API request)."""
        app, name = self.app, path.removeprefix(CONTROL_PREFIX)
        if name == "stats" and self.command == "GET":
            return json_reply(200, app.stats.snapshot())
        if name == "reset-stats" and self.command == "POST":
            app.stats.reset()
            return json_reply(200, app.stats.snapshot())
        admin = ADMIN_REQUESTS.get(name)
        if admin is None:
            return json_reply(404, {"detail": "Not Found"})
        if self.command != "POST":
            return json_reply(405, {"detail": "Method Not Allowed"}, ("Allow", "POST"))
        try:
            return json_reply(200, admin(app.store, app.stats, body))
        except Refused as refused:
            return json_reply(refused.status, {"detail": refused.detail})

    def _read_body(self) -> bytes | None:
        """The request body; None (after answering and closing) when its length is missing or wrong."""
        if self.headers.get("Transfer-Encoding"):
            problem = json_reply(411, {"detail": "send a Content-Length, not a chunked body"})
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if 0 <= length <= MAX_BODY:
                return self.rfile.read(length)
            problem = json_reply(400 if length < 0 else 413, {"detail": "bad or too large Content-Length"})
        self.close_connection = True
        self._send(problem)
        return None

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError as exc:
            # The client left first: its timeout fired during a stall, or it closed the connection.
            log.debug("sandbox: client gone before the answer: %s", exc)
            self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without a word, as a crashed proxy would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class Server(ThreadingHTTPServer):
    """A threaded server that can close its open keep-alive connections when it stops."""

    daemon_threads = True
    # The default listen backlog of 5 is below the 8 connections a client opens at once: the kernel drops
    # the rest and each waits a 1 s SYN retransmission, so the sandbox would time the kernel, not the tool.
    request_queue_size = 128
    # stop() must not wait for idle keep-alive connections to end: it closes them itself.
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: Shared) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall for seconds on a slow resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up are routine here (timeouts, drops); anything else is a sandbox bug.
        level = logging.DEBUG if isinstance(sys.exc_info()[1], OSError) else logging.ERROR
        log.log(level, "sandbox: connection from %s ended with an error", client_address, exc_info=True)


class Server6(Server):
    address_family = socket.AF_INET6
