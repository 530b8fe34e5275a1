"""A local stand-in of the Atomscale OES API on loopback: for trying the tool, for tests, for benchmarks.

It serves `GET /oes/{data_id}` and `PATCH /oes/{data_id}/peaks` as the public docs describe, with the
key in `X-API-KEY`, and control endpoints that take the same key: `GET /_sandbox/stats` and
`POST /_sandbox/reset-stats`, and two admin requests that change an entry as the platform would without
the API, `POST /_sandbox/ui-edit` and `POST /_sandbox/reprocess` (`admin`; also `Sandbox.ui_edit` and
`Sandbox.reprocess`). `Faults` make it misbehave on purpose; `Sandbox.stats()` counts what it saw.

A data file (`oes-reconcile sandbox --data FILE`, `load_entries`) is JSON:
`{"entries": [<result document>, ...]}`, each document shaped as `GET /oes/{data_id}` answers
(`data_id` and `detected_peaks` required, the rest optional and served as given). A peak whose shape
lists no candidates may carry `"_candidates": ["Ga_417.2", ...]`: the keys the server accepts for it,
never rendered. Otherwise the keys its `candidates` list are accepted, and a peak with neither accepts
any key. `oes-reconcile sandbox --print-data` prints the seed data in this format, a starting point.

A fake of the server, apart from the product: it imports nothing of it but `reconciler.__version__`,
and keeps its own copy of every rule it serves (`keys`), so that it can disagree with the client.
In the product only the command line starts it. The modules:

- `server`: the HTTP side (routing, the key check, faults applied request by request);
- `store`: the results held as encoded JSON, and what GET and PATCH do to them;
- `control`: the fault knobs and the counters of what was asked;
- `admin`: the platform's own edits, a UI edit and a reprocess;
- `data`: the seed data behind `examples/`, peaks in the four shapes, and data files;
- `synthetic`: many generated entries for benchmarks;
- `keys`: candidate keys as the server reads them; `errors`: its own errors.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from reconciler.sandbox.admin import Reprocess, UiEdit, reprocess, ui_edit
from reconciler.sandbox.control import FAULT_KINDS, FaultInjector, Faults, Stats
from reconciler.sandbox.data import example_entries, load_entries
from reconciler.sandbox.errors import DataFileError, SandboxError
from reconciler.sandbox.server import Server, Server6, Shared
from reconciler.sandbox.store import Refused, ResultStore

__all__ = ["FAULT_KINDS", "DataFileError", "Faults", "Sandbox", "SandboxError", "load_entries"]

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
POLL_INTERVAL = 0.02  # how soon a stopped server notices; stop() waits up to this long


class Sandbox:
    """The sandbox server: seeded results, a key, and faults that can change while it serves.

    Results that share their spectra list objects (as `synthetic_entries` makes them) share one encoded
    copy, so thousands of 2,048-point results stay small.
    """

    def __init__(
        self,
        *,
        entries: Iterable[dict[str, Any]] | None = None,
        api_key: str = "sandbox",
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise SandboxError(f"the sandbox serves on loopback only (127.0.0.1 or ::1), not {host!r}")
        if not api_key:
            raise SandboxError("the sandbox needs a non-empty API key")
        store = ResultStore(example_entries() if entries is None else entries)
        self._app = Shared(store, api_key.encode(), FaultInjector(faults or Faults()), Stats())
        self._address = ("127.0.0.1" if host == "localhost" else host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def bind(self) -> Sandbox:
        """Open the listening socket (start() and serve_forever() do it too), so `url` is known early.

        A port already in use is a `SandboxError`.
        """
        with self._lock:
            if self._server is None:
                server_class = Server6 if ":" in self._address[0] else Server
                try:
                    self._server = server_class(self._address, self._app)
                except OSError as exc:
                    host, port = self._address
                    raise SandboxError(
                        f"the sandbox cannot listen on {host} port {port}: {exc.strerror}"
                    ) from None
                log.info("sandbox on %s: %d results", self.url, len(self._app.store))
        return self

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:54321/`; known once bound."""
        if self._server is None:
            raise RuntimeError("the sandbox is not bound: call start() first")
        host, port = self._address[0], self._server.server_address[1]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def start(self) -> Sandbox:
        """Serve in a daemon thread."""
        server = self._bound()
        if self._thread is None:
            self._thread = threading.Thread(
                target=server.serve_forever, args=(POLL_INTERVAL,), name="oes-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stop() is called from another one; Ctrl-C propagates, after closing."""
        if self._thread is not None:
            raise RuntimeError("the sandbox already serves in a thread")
        server = self._bound()
        self._thread = threading.current_thread()
        try:
            server.serve_forever(POLL_INTERVAL)
        finally:
            self._close(server)

    def stop(self) -> None:
        """Stop serving, close open connections and the socket. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        if thread is threading.current_thread():
            # Called inside serve_forever (a signal handler): shutdown() would wait on this very thread.
            threading.Thread(target=server.shutdown, daemon=True).start()
            return
        if thread is not None:
            server.shutdown()
            thread.join()
        self._close(server)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def set_faults(self, faults: Faults) -> None:
        """Misbehave differently from now on; `fail_first` counts and the random draws start afresh."""
        self._app.faults.configure(faults)

    @property
    def faults(self) -> Faults:
        return self._app.faults.faults

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (the same JSON `GET /_sandbox/stats` answers)."""
        return self._app.stats.snapshot()

    def reset_stats(self) -> None:
        self._app.stats.reset()

    def result(self, data_id: str) -> dict[str, Any]:
        """The current result of an entry, as GET would answer it; KeyError when there is none."""
        try:
            body = self._app.store.get(data_id).body()
        except Refused:
            raise KeyError(data_id) from None
        document: dict[str, Any] = json.loads(body)
        return document

    def ui_edit(self, data_id: str, peak_id: str, candidate_key: str) -> dict[str, Any]:
        """Pin `candidate_key` on a peak as someone would in the web UI: not a PATCH, and not counted as one.

        Answers as `POST /_sandbox/ui-edit` does (with the entry's new `last_updated`). KeyError for an
        unknown entry or peak, ValueError for a key that is not one of the peak's candidates.
        """
        return _in_process(
            lambda: ui_edit(self._app.store, self._app.stats, UiEdit(data_id, peak_id, candidate_key))
        )

    def reprocess(
        self,
        data_id: str,
        *,
        wavelength_nm: float,
        element: str | None = None,
        candidates: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Reprocess an entry: a new peak at `wavelength_nm`, every peak renumbered by wavelength.

        Answers as `POST /_sandbox/reprocess` does: the new peak's id, `renumbered` (each old id's new
        one) and the new `last_updated`. KeyError for an unknown entry, ValueError for unusable values.
        """
        keys = None if candidates is None else tuple(candidates)
        request = Reprocess(data_id, wavelength_nm, element, keys)
        return _in_process(lambda: reprocess(self._app.store, self._app.stats, request))

    def entries(self) -> list[dict[str, Any]]:
        """Every result as it stands, hidden candidates included: what a data file would hold."""
        return [stored.document() for stored in self._app.store]

    def _bound(self) -> Server:
        self.bind()
        assert self._server is not None
        return self._server

    def _close(self, server: Server) -> None:
        with self._lock:
            if self._server is not server:
                return
            self._server = None
            self._thread = None
        server.close_connections()
        server.server_close()
        log.debug("sandbox stopped")


def _in_process(admin: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run an admin request in-process: what the server refuses is a KeyError (404) or a ValueError."""
    try:
        return admin()
    except Refused as refused:
        detail = refused.detail
        if isinstance(detail, list):
            detail = "; ".join(f"{problem['loc'][-1]}: {problem['msg']}" for problem in detail)
        raise (KeyError if refused.status == 404 else ValueError)(detail) from None
