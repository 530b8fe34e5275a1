"""Faults end to end: the real CLI against the sandbox on loopback while it misbehaves on purpose."""

from __future__ import annotations

import csv
import gzip
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pytest

from reconciler import retry
from reconciler.models import element_of
from reconciler.sandbox import Faults, Sandbox
from reconciler.sandbox.data import SHAPES
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from tests.conftest import Cli

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

ENTRIES, PEAKS, DIFFERING = 8, 3, 2  # 24 overrides, 16 of them changes, every peak shape twice
BY_ELEMENT = ENTRIES // len(SHAPES)  # entries in the element-only shape: headlines count their matches apart
Wanted = list[tuple[str, str, str]]


def write_overrides(path: Path, wanted: Sequence[tuple[str, str, str]]) -> Path:
    """The overrides as a CSV file, the format a lab exports from a spreadsheet."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["data_id", "peak_id", "candidate_key"])
        writer.writerows(wanted)
    return path


def shows(peak: dict[str, Any], wanted: str) -> bool:
    """Whether a peak as the server renders it carries `wanted`, pinned (an oracle apart from the diff)."""
    if peak.get("manual") is not True:
        return False
    if "candidate_key" in peak:
        return bool(peak["candidate_key"] == wanted)
    candidates = peak.get("candidates")
    if isinstance(candidates, dict):
        return [key for key, body in candidates.items() if body.get("selected")] == [wanted]
    if isinstance(candidates, list):
        return [c["candidate_key"] for c in candidates if c.get("selected")] == [wanted]
    return bool(peak.get("element") == element_of(wanted))


def not_as_wanted(sandbox: Sandbox, wanted: Wanted) -> list[tuple[str, str]]:
    """The (entry, peak) pairs whose server-side state is not what the overrides want."""
    wrong = []
    for data_id, peak_id, key in wanted:
        peaks = {p["peak_id"]: p for p in sandbox.result(data_id)["detected_peaks"]}
        if not shows(peaks[peak_id], key):
            wrong.append((data_id, peak_id))
    return wrong


def element_only(sandbox: Sandbox, wanted: Wanted) -> list[tuple[str, str]]:
    """The (entry, peak) pairs the server shows by element only (no candidate key, no candidates)."""
    shown = []
    for data_id, peak_id, _key in wanted:
        peaks = {p["peak_id"]: p for p in sandbox.result(data_id)["detected_peaks"]}
        if "candidate_key" not in peaks[peak_id] and "candidates" not in peaks[peak_id]:
            shown.append((data_id, peak_id))
    return shown


def patch_requests(sandbox: Sandbox) -> dict[tuple[str, str], int]:
    """PATCH requests the sandbox received, per (entry, peak), retries included."""
    patches: dict[str, dict[str, dict[str, int]]] = sandbox.stats()["patches"]
    return {(d, p): counts["requests"] for d, peaks in patches.items() for p, counts in peaks.items()}


@dataclass(frozen=True)
class Lab:
    """A sandbox serving synthetic entries in every peak shape, and the override file that wants changes."""

    sandbox: Sandbox
    overrides: Path
    wanted: Wanted
    changes: frozenset[tuple[str, str]]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """8 entries, 3 peaks each, 2 of them differing per entry; AS_API_* point at the sandbox."""
    entries = synthetic_entries(ENTRIES, peaks=PEAKS, points=16, differing=DIFFERING, shapes=SHAPES)
    wanted = synthetic_overrides(ENTRIES, peaks=PEAKS, differing=DIFFERING)
    with Sandbox(entries=entries) as sandbox:
        monkeypatch.setenv("AS_API_ENDPOINT", sandbox.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        monkeypatch.delenv("ATOMSCALE_API_KEY", raising=False)
        # What differs, and (the record starts empty) every element-only match, patched once to be sure.
        changes = frozenset(not_as_wanted(sandbox, wanted)) | frozenset(element_only(sandbox, wanted))
        assert len(changes) == ENTRIES * DIFFERING + BY_ELEMENT * (PEAKS - DIFFERING)
        yield Lab(sandbox, write_overrides(tmp_path / "overrides.csv", wanted), wanted, changes)


def converged(lab: Lab, cli: Cli) -> None:
    """Every peak is as wanted on the server, and a fresh plan (no faults) finds nothing to do."""
    assert not_as_wanted(lab.sandbox, lab.wanted) == []
    lab.sandbox.set_faults(Faults())
    again = cli("plan", "--detailed-exitcode", str(lab.overrides))
    assert again.code == 0, again.out + again.err
    # Every element-only peak was set by the apply: the record vouches for its line.
    assert again.out == f"No changes: {ENTRIES * PEAKS} overrides match.\n"


# --- Transient faults: every request fails first, then is served ---

FAIL_FIRST = [
    pytest.param("503", 2, (), id="503"),
    pytest.param("500", 2, (), id="500"),
    pytest.param("502", 2, (), id="502"),
    pytest.param("504", 2, (), id="504"),
    pytest.param("429", 2, (), id="429-retry-after-0"),
    pytest.param("drop", 2, (), id="dropped-connection"),
    pytest.param("timeout", 1, ("--timeout", "0.3"), id="read-timeout"),
    pytest.param("apply_then_500", 2, (), id="applied-then-500"),
]


@pytest.mark.parametrize(("kind", "failures", "options"), FAIL_FIRST)
def test_every_request_failing_first_still_converges(
    lab: Lab, cli: Cli, kind: str, failures: int, options: tuple[str, ...]
) -> None:
    """Each request fails N times first: exit 0, all as wanted, and each peak PATCHed exactly N + 1 times."""
    lab.sandbox.set_faults(Faults(fail_first=failures, fail_kind=kind, retry_after="0", timeout_delay=1.0))
    audit = lab.overrides.with_name("audit.jsonl")
    ran = cli("apply", *options, "--audit-log", str(audit), str(lab.overrides))
    assert ran.code == 0, ran.out + ran.err
    assert "Traceback" not in ran.err
    in_sync = f"{len(lab.wanted) - len(lab.changes)} in sync"
    assert ran.out.splitlines()[-1] == f"Apply: {len(lab.changes)} applied, {in_sync}, 0 failed."
    stats = lab.sandbox.stats()
    assert patch_requests(lab.sandbox) == dict.fromkeys(lab.changes, failures + 1)
    assert stats["by_method"] == {"GET": ENTRIES * (failures + 1), "PATCH": len(lab.changes) * (failures + 1)}
    assert stats["faults"] == {kind: (ENTRIES + len(lab.changes)) * failures}
    if kind == "apply_then_500":
        # The first attempt already changed the peak; the retries set the same value again. (An element-only
        # peak patched to be sure already held the line: it does not change.)
        assert stats["patches_changed"] == ENTRIES * DIFFERING
    lines = [json.loads(line) for line in audit.read_text().splitlines() if '"status": "sending"' not in line]
    assert {(line["status"], line["attempts"], line["http_status"]) for line in lines} == {
        ("applied", failures + 1, 200)
    }
    if kind == "timeout":
        # A timed-out PATCH may still land on the server after its retry did, moving the entry's
        # last_updated past what the record saw: its element-only peaks then cannot be vouched for, and
        # the next apply patches them once more (as it should). Let the late ones land, then apply again.
        deadline = time.monotonic() + 10
        while lab.sandbox.stats()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cli("apply", str(lab.overrides)).code == 0
    converged(lab, cli)


def test_random_faults_at_30_percent_converge(lab: Lab, cli: Cli, tmp_path: Path) -> None:
    """30 % of requests fail at random (503, 429, drop, applied then 500): converges, each retry accounted."""
    mixed = ("503", "429", "drop", "apply_then_500")
    lab.sandbox.set_faults(Faults(fault_rate=0.3, fault_kinds=mixed, seed=7))
    audit = tmp_path / "audit.jsonl"
    ran = cli("apply", "--max-attempts", "20", "--audit-log", str(audit), str(lab.overrides))
    assert ran.code == 0, ran.out + ran.err
    stats = lab.sandbox.stats()
    faults = stats["faults"]
    assert set(faults) == set(mixed), faults  # every kind was met, so every kind was survived
    # Every request beyond one GET per entry and one PATCH per change is the retry of a fault.
    assert stats["requests"] == ENTRIES + len(lab.changes) + sum(faults.values())
    lines = [json.loads(line) for line in audit.read_text().splitlines() if '"status": "sending"' not in line]
    attempts = {(line["data_id"], line["peak_id"]): line["attempts"] for line in lines}
    # Per peak: the server saw exactly the attempts the client counted, i.e. its failures plus one.
    assert patch_requests(lab.sandbox) == attempts
    assert set(attempts) == lab.changes
    assert max(attempts.values()) <= 20
    converged(lab, cli)


def test_random_faults_over_a_larger_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    """60 entries, 120 changes, 30 % random faults of every transient kind: converges, no peak overpatched."""
    count, peaks, differing = 60, 3, 2
    wanted = synthetic_overrides(count, peaks=peaks, differing=differing, seed=3)
    faults = Faults(
        fault_rate=0.3, fault_kinds=("500", "502", "503", "504", "429", "drop", "apply_then_500"), seed=11
    )
    entries = synthetic_entries(count, peaks=peaks, points=16, differing=differing, seed=3, shapes=SHAPES)
    with Sandbox(entries=entries, faults=faults) as sandbox:
        monkeypatch.setenv("AS_API_ENDPOINT", sandbox.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        overrides = write_overrides(tmp_path / "o.csv", wanted)
        ran = cli("apply", "--max-attempts", "20", "--concurrency", "8", str(overrides))
        assert ran.code == 0, ran.out + ran.err
        stats = sandbox.stats()
        # The differing peaks, and the element-only matches patched once to be sure (the record starts empty).
        changes = count * differing + count // len(SHAPES) * (peaks - differing)
        assert stats["requests"] == count + changes + sum(stats["faults"].values())
        per_peak = patch_requests(sandbox)
        assert len(per_peak) == changes
        assert max(per_peak.values()) <= 20
        assert stats["patches_changed"] == count * differing
        assert not_as_wanted(sandbox, wanted) == []


# --- Retry-After, honoured for real (the only tests here that wait) ---


def _in_two_seconds() -> str:
    # An HTTP date has whole seconds: two seconds ahead leaves between one and two to wait.
    return format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured(lab: Lab, cli: Cli, form: str) -> None:
    """A 429 with `Retry-After: 1` (or a date ~1-2 s ahead) delays the retry by at least a second."""
    retry.set_testing(False)  # real waits: full jitter would be at most 0.5 s, Retry-After asks for 1
    retry_after = "1" if form == "seconds" else _in_two_seconds()
    lab.sandbox.set_faults(Faults(fail_first=1, fail_kind="429", retry_after=retry_after))
    single = write_overrides(lab.overrides.with_name("one.csv"), lab.wanted[:1])
    started = time.monotonic()
    ran = cli("plan", str(single))
    elapsed = time.monotonic() - started
    assert ran.code == 0, ran.err
    assert lab.sandbox.stats()["statuses"] == {"429": 1, "200": 1}
    assert 1.0 <= elapsed < 4.0


# --- Answers that are not what they claim: per-item failures, never a traceback ---


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        pytest.param("html", "HTTP 200 but the body is not an OES result (an HTML page)", id="html"),
        pytest.param("empty", "HTTP 200 but the body is not an OES result (Invalid JSON: EOF", id="empty"),
        pytest.param("garbage", "HTTP 200 but the body is not an OES result (Invalid JSON", id="garbage"),
    ],
)
def test_unreadable_200_answers_fail_the_item_not_the_run(
    lab: Lab, cli: Cli, tmp_path: Path, kind: str, detail: str
) -> None:
    """A 200 with an HTML page, no body or garbage: GET → fetch_failed, PATCH → failed, exit 1, no retry."""
    lab.sandbox.set_faults(Faults(fail_first=1, fail_kind=kind))
    report = tmp_path / "report.json"
    fetched = cli("apply", "--report", str(report), str(lab.overrides))
    assert fetched.code == 1
    assert "Traceback" not in fetched.err
    items = json.loads(report.read_text())["items"]
    assert {item["status"] for item in items} == {"fetch_failed"}
    assert all(item["message"].startswith(detail) for item in items), items[0]["message"]
    assert lab.sandbox.stats()["by_method"] == {"GET": ENTRIES}  # a 200 is not retried
    # The GETs have had their one bad answer; now each PATCH gets one.
    patched = cli("apply", "--report", str(report), str(lab.overrides))
    assert patched.code == 1
    assert "Traceback" not in patched.err
    statuses = {
        (i["data_id"], i["peak_id"]): (i["status"], i["message"])
        for i in json.loads(report.read_text())["items"]
    }
    failed = {
        key
        for key, (status, message) in statuses.items()
        if status == "failed" and message.startswith(detail)
    }
    assert failed == lab.changes
    assert patch_requests(lab.sandbox) == dict.fromkeys(lab.changes, 1)
    assert cli("apply", str(lab.overrides)).code == 0
    converged(lab, cli)


class Wrong(NamedTuple):
    """A wrong answer (status, headers, body) and what the item's message must then say."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    detail: str


class StubHandler(BaseHTTPRequestHandler):
    """Answers GET with a result whose p1 needs a change, and `bad` (status, headers, body) to `bad_for`."""

    protocol_version = "HTTP/1.1"
    bad_for: ClassVar[str] = "GET"
    bad: ClassVar[Wrong] = Wrong(200, (), b"", "")
    seen: ClassVar[list[str]] = []
    good = json.dumps(
        {"detected_peaks": [{"peak_id": "p1", "element": "In", "manual": False, "candidate_key": "In_451.1"}]}
    ).encode()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append(self.command)
        status, headers, body, _ = self.bad if self.command == self.bad_for else (200, (), self.good, "")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[StubHandler]]:
    """A loopback server that answers wrongly in ways the sandbox cannot (shapes, types, encodings)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("AS_API_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setenv("AS_API_KEY", "stub-key")
    StubHandler.seen = []
    try:
        yield StubHandler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


STUB_ENTRY = "d290f1ee-6c54-4b01-90e6-d701748f0851"
JSON_TYPE = (("Content-Type", "application/json"),)
WRONG_ANSWERS = [
    pytest.param(Wrong(200, JSON_TYPE, b"[]", "Input should be an object"), id="json-array"),
    pytest.param(Wrong(200, JSON_TYPE, b"null", "Input should be an object"), id="json-null"),
    pytest.param(
        Wrong(200, JSON_TYPE, b'{"detected_peaks": "many"}', "valid array at detected_peaks"),
        id="peaks-not-a-list",
    ),
    pytest.param(
        Wrong(
            200,
            JSON_TYPE,
            b'{"detected_peaks": [{"manual": true}]}',
            "Field required at detected_peaks.0.peak_id",
        ),
        id="peak-without-id",
    ),
    pytest.param(
        Wrong(
            200,
            JSON_TYPE,
            b'{"detected_peaks": [{"peak_id": 7}]}',
            "valid string at detected_peaks.0.peak_id",
        ),
        id="peak-id-a-number",
    ),
    pytest.param(
        Wrong(200, JSON_TYPE, b'{"detected_peaks": [{"peak_id": "p1", "manual": "maybe"}]}', "valid boolean"),
        id="manual-not-a-boolean",
    ),
    pytest.param(
        Wrong(200, JSON_TYPE, b'{"detected_peaks": [{"peak_id": "p\xff"}]}', "Invalid JSON"), id="not-utf8"
    ),
    pytest.param(
        Wrong(200, (("Content-Encoding", "gzip"),), b"not gzip at all", "could not be decoded"), id="bad-gzip"
    ),
    pytest.param(
        Wrong(200, (("Content-Encoding", "gzip"),), gzip.compress(b"<html>"), "not an OES result"),
        id="gzipped-html",
    ),
    pytest.param(Wrong(204, (), b"", "HTTP 204 but the body is not an OES result"), id="204-no-content"),
    pytest.param(Wrong(302, (("Location", "http://127.0.0.1:9/"),), b"", "HTTP 302"), id="redirect"),
]


@pytest.mark.parametrize("method", ["GET", "PATCH"])
@pytest.mark.parametrize("wrong", WRONG_ANSWERS)
def test_wrong_shapes_and_types_fail_the_item_not_the_run(
    stub: type[StubHandler], cli: Cli, tmp_path: Path, method: str, wrong: Wrong
) -> None:
    """Missing fields, wrong types, bad encodings: GET fetch_failed, PATCH failed, exit 1, no traceback."""
    stub.bad_for, stub.bad = method, wrong
    overrides = write_overrides(tmp_path / "o.csv", [(STUB_ENTRY, "p1", "Ga_417.2")])
    ran = cli("apply", "--format", "json", str(overrides))
    assert ran.code == 1
    assert "Traceback" not in ran.err
    (item,) = json.loads(ran.out)["items"]
    assert item["status"] == ("fetch_failed" if method == "GET" else "failed")
    assert wrong.detail in item["message"]
    assert stub.seen == (["GET"] if method == "GET" else ["GET", "PATCH"])  # nothing here is retried


# --- A refused key ---


def test_wrong_key_stops_after_the_requests_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """With 4 requests in flight a 401 stops the run: no more than those 4, exit 1, how to set the key."""
    count = 24
    wanted = synthetic_overrides(count, peaks=1, differing=1)
    with Sandbox(
        entries=synthetic_entries(count, peaks=1, points=16, differing=1), faults=Faults(latency=0.05)
    ) as sandbox:
        monkeypatch.setenv("AS_API_ENDPOINT", sandbox.url)
        monkeypatch.setenv("AS_API_KEY", "not-the-sandbox-key")
        ran = cli("apply", "--concurrency", "4", str(write_overrides(tmp_path / "o.csv", wanted)))
        stats = sandbox.stats()
    assert ran.code == 1
    assert "AuthError: the API refused the key (HTTP 401" in ran.err
    assert "set AS_API_KEY (or ATOMSCALE_API_KEY), or pass --api-key-file PATH" in ran.err
    assert "Traceback" not in ran.err
    assert 1 <= stats["requests"] <= 4
    assert stats["statuses"] == {"401": stats["requests"]}
    assert "PATCH" not in stats["by_method"]


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_403_stops_the_run_like_401(stub: type[StubHandler], cli: Cli, tmp_path: Path, method: str) -> None:
    """A 403 (key without access) on GET or PATCH stops the run: exit 1, the key named, nothing retried."""
    stub.bad_for, stub.bad = method, Wrong(403, JSON_TYPE, b'{"detail": "forbidden"}', "")
    overrides = write_overrides(tmp_path / "o.csv", [(STUB_ENTRY, "p1", "Ga_417.2")])
    ran = cli("apply", str(overrides))
    assert ran.code == 1
    assert f"AuthError: the API refused the key (HTTP 403 on {method} /oes/" in ran.err
    assert "Traceback" not in ran.err
    assert stub.seen == (["GET"] if method == "GET" else ["GET", "PATCH"])
