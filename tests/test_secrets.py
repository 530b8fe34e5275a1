"""The key stays secret, and the transport stays safe: outputs, logs, files, tracebacks, TLS."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reconciler import engine
from reconciler.sandbox import Faults, Sandbox
from tests.conftest import Cli, Ran

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

KEY = "sk-LEAKCHECK-7f3a9c1e5d2b4a6f8e0c"
WRONG_KEY = "sk-LEAKCHECK-WRONG-0d9e8f7a6b5c"
MARK = "LEAKCHECK"  # in both keys: a leak of either, even in part or escaped, shows it
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"


@dataclass(frozen=True)
class Keyed:
    """A sandbox that accepts only KEY, a key file holding it, and a folder for the run's files."""

    sandbox: Sandbox
    key_file: Path
    folder: Path

    def files(self) -> str:
        """Everything the runs wrote to disk (reports, plans, audit lines), as one text."""
        return "\n".join(path.read_text() for path in sorted(self.folder.glob("out/*")))


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keyed]:
    """The example data behind KEY; AS_API_ENDPOINT points at it, no key variable is set."""
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    with Sandbox(api_key=KEY) as sandbox:
        monkeypatch.setenv("AS_API_ENDPOINT", sandbox.url)
        monkeypatch.delenv("AS_API_KEY", raising=False)
        monkeypatch.delenv("ATOMSCALE_API_KEY", raising=False)
        yield Keyed(sandbox, key_file, tmp_path)


def assert_secret(*texts: str) -> None:
    for text in texts:
        assert MARK not in text, text


def everything(ran: Ran) -> str:
    return ran.out + ran.err


@pytest.mark.parametrize("verbosity", ["-v", "-vv", "-vvv"])
@pytest.mark.parametrize("source", ["key-file", "AS_API_KEY"])
def test_key_appears_in_no_output_log_or_file(
    keyed: Keyed, cli: Cli, monkeypatch: pytest.MonkeyPatch, source: str, verbosity: str
) -> None:
    """plan and apply with retries at -v…-vvv: the key is in no stdout, stderr, report, plan or audit line."""
    key_option: tuple[str, ...] = ("--api-key-file", str(keyed.key_file))
    if source == "AS_API_KEY":
        monkeypatch.setenv("AS_API_KEY", KEY)
        key_option = ()
    out = keyed.folder / "out"
    keyed.sandbox.set_faults(Faults(fail_first=1, fail_kind="503"))
    planned = cli(
        "plan", verbosity, *key_option, "--format", "json", "--out", f"{out}/plan.json", str(EXAMPLES)
    )
    keyed.sandbox.set_faults(Faults(fail_first=1, fail_kind="apply_then_500"))
    applied = cli(
        "apply",
        verbosity,
        *key_option,
        "--report",
        f"{out}/report.json",
        "--audit-log",
        f"{out}/audit.jsonl",
        str(EXAMPLES),
    )
    keyed.sandbox.set_faults(Faults())
    again = cli("apply", verbosity, *key_option, "--format", "markdown", str(EXAMPLES))
    # The runs were real: the key was accepted, retries were logged, every file was written.
    assert (planned.code, applied.code, again.code) == (0, 0, 0)
    assert "retrying" in planned.err
    assert "retrying" in applied.err
    if verbosity != "-v":
        assert "HTTP Request: PATCH" in applied.err
    # 6 changes, and the element-only match patched once to be sure (the record starts empty)
    assert json.loads((out / "report.json").read_text())["summary"]["applied"] == 7
    assert len((out / "audit.jsonl").read_text().splitlines()) == 14  # a `sending` line and an outcome each
    assert_secret(everything(planned), everything(applied), everything(again), keyed.files())


def test_refused_key_is_not_echoed(keyed: Keyed, cli: Cli, tmp_path: Path) -> None:
    """A wrong key: exit 1, the message says it was refused and how to set one, without quoting it."""
    wrong = tmp_path / "wrong-key"
    wrong.write_text(WRONG_KEY)
    report = tmp_path / "out" / "report.json"
    ran = cli("apply", "-vv", "--api-key-file", str(wrong), "--report", str(report), str(EXAMPLES))
    assert ran.code == 1
    assert "AuthError: the API refused the key (HTTP 401" in ran.err
    assert "--api-key-file PATH" in ran.err
    assert_secret(everything(ran), keyed.files())


def test_real_process_stderr_at_vv_holds_no_key(keyed: Keyed) -> None:
    """A real `python -m reconciler apply -vv` with retries: its stdout, stderr and files hold no key."""
    keyed.sandbox.set_faults(Faults(fail_first=1, fail_kind="429", retry_after="0"))
    out = keyed.folder / "out"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    argv = [sys.executable, "-m", "reconciler", "apply", "-vv", "--api-key-file", str(keyed.key_file)]
    argv += ["--report", f"{out}/report.json", "--audit-log", f"{out}/audit.jsonl", str(EXAMPLES)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "retrying" in done.stderr
    assert "HTTP Request: GET" in done.stderr
    # 6 changes, and the element-only match patched once to be sure (the record starts empty)
    assert json.loads((out / "report.json").read_text())["summary"]["applied"] == 7
    assert_secret(done.stdout, done.stderr, keyed.files())


def test_traceback_of_an_internal_error_masks_the_key(
    keyed: Keyed, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug whose exception carries the key: the traceback is shown, exit 1, with the key masked."""

    def broken(*_args: Any, **_options: Any) -> Any:
        raise RuntimeError(f"diff blew up near key={os.environ['AS_API_KEY']}")

    monkeypatch.setenv("AS_API_KEY", KEY)
    monkeypatch.setattr(engine, "diff_entry", broken)
    ran = cli("plan", "-v", str(EXAMPLES))
    assert ran.code == 1
    assert "Traceback (most recent call last)" in ran.err
    assert "RuntimeError: diff blew up near key=***" in ran.err
    assert "internal error: this is a bug in oes-reconcile" in ran.err
    assert_secret(everything(ran))


UNSENDABLE = [
    pytest.param("sk-LEAKCHECK-a\nsk-LEAKCHECK-b", id="two-lines"),
    pytest.param("sk-LEAKCHECK-\u043a\u043b\u044e\u0447", id="non-ascii"),
    pytest.param("sk-LEAKCHECK-a\tb", id="tab"),
]


@pytest.mark.parametrize("key", UNSENDABLE)
@pytest.mark.parametrize("source", ["key-file", "AS_API_KEY"])
def test_key_a_header_cannot_carry_is_refused_before_sending(
    keyed: Keyed, cli: Cli, monkeypatch: pytest.MonkeyPatch, source: str, key: str
) -> None:
    """A key with a line break, a tab or non-ASCII: exit 1 before any request, no traceback, not echoed."""
    key_option: tuple[str, ...] = ()
    if source == "AS_API_KEY":
        monkeypatch.setenv("AS_API_KEY", key)
    else:
        keyed.key_file.write_text(key, encoding="utf-8")
        key_option = ("--api-key-file", str(keyed.key_file))
    ran = cli("plan", "-vvv", *key_option, str(EXAMPLES))
    assert ran.code == 1
    assert "ConfigError: the API key from" in ran.err
    assert "which an HTTP header cannot carry" in ran.err
    assert "Traceback" not in ran.err
    assert keyed.sandbox.stats()["requests"] == 0
    assert_secret(everything(ran))


# --- TLS: certificates are always verified ---


def make_certificate(folder: Path, name: str, san: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made with the openssl command line."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "this test makes its certificates with the `openssl` command"
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    argv = [openssl, "req", "-x509", "-nodes", "-days", "2", "-subj", f"/CN={name}"]
    argv += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-addext", f"subjectAltName={san}"]
    argv += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)
    return cert, key


class TlsHandler(BaseHTTPRequestHandler):
    """Answers any GET with a result whose p1 is pinned to Ga_417.2; counts what it served."""

    protocol_version = "HTTP/1.1"
    served: ClassVar[list[str]] = []
    body = json.dumps(
        {"detected_peaks": [{"peak_id": "p1", "element": "Ga", "manual": True, "candidate_key": "Ga_417.2"}]}
    ).encode()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).served.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@contextmanager
def https_server(cert: Path, key: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 presenting `cert`; yields its base URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), TlsHandler)
    server.daemon_threads = True
    # A failed handshake raises in accept(), which socketserver treats as an OSError and ignores.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    TlsHandler.served = []
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_certificates_are_verified(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-signed server is refused before any request; trusted, it works; a wrong host name is refused."""
    own_cert, own_key = make_certificate(tmp_path, "loopback", "IP:127.0.0.1")
    other_cert, other_key = make_certificate(tmp_path, "other", "DNS:other.example.test")
    overrides = tmp_path / "o.yaml"
    overrides.write_text(f"version: 1\noverrides:\n  {GAN}:\n    p1: Ga_417.2\n")
    monkeypatch.setenv("AS_API_KEY", KEY)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    with https_server(own_cert, own_key) as url:
        refused = cli("plan", "--format", "json", "--endpoint", url, str(overrides))
        assert refused.code == 1
        (item,) = json.loads(refused.out)["items"]
        assert item["status"] == "fetch_failed"
        assert item["message"] == "TLS verification refused the server's certificate; gave up after 1 attempt"
        assert TlsHandler.served == []  # the key never left: no request got past the handshake

        monkeypatch.setenv("SSL_CERT_FILE", str(own_cert))  # trust it, as a lab with its own CA would
        trusted = cli("plan", "--endpoint", url, str(overrides))
        assert (trusted.code, trusted.out) == (0, "No changes: 1 override matches.\n")
        assert TlsHandler.served == [f"/oes/{GAN}"]

    with https_server(other_cert, other_key) as url:
        monkeypatch.setenv("SSL_CERT_FILE", str(other_cert))  # trusted, but issued for another host
        mismatch = cli("plan", "--endpoint", url, str(overrides))
        assert mismatch.code == 1
        assert "fetch_failed" in mismatch.out
        assert TlsHandler.served == []
    assert_secret(everything(refused), everything(trusted), everything(mismatch))
