"""The command line in a process of its own, as a user meets it: the sandbox served, Ctrl-C, a closed pipe."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox import Faults, Sandbox

pytestmark = pytest.mark.slow  # child processes, and the sandbox on loopback

WAIT = 20.0  # the longest a child may take before the test fails instead of hanging
GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"  # an entry of the example data


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without proxies (loopback is reached directly), plus `extra`."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | extra


def oes_reconcile(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m reconciler ARGS…` started, its stdout and stderr piped."""
    argv = [sys.executable, "-m", "reconciler", *args]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or child_env()
    )


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Children started by a test; any still running at its end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sandbox_serves_until_ctrl_c(children: list[subprocess.Popen[str]]) -> None:
    """`oes-reconcile sandbox` (as `make demo` starts it) says where it listens, serves the example data to
    the key it names, and on Ctrl-C says it stopped and exits 0."""
    child = oes_reconcile("sandbox", "--port", "0")
    children.append(child)
    assert child.stdout is not None
    line = child.stdout.readline()
    found = re.fullmatch(r"Sandbox listening on (\S+) \(API key: sandbox\); Ctrl-C stops it\.\n", line)
    assert found, line
    with httpx.Client(base_url=found[1], trust_env=False, timeout=WAIT) as client:
        assert client.get(f"oes/{GAN}", headers={"X-API-KEY": "sandbox"}).json()["data_id"] == GAN
        assert client.get(f"oes/{GAN}", headers={"X-API-KEY": "other"}).status_code == 401
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=WAIT)
    assert child.returncode == 0
    assert (out, err) == ("", "Sandbox stopped.\n")


def test_print_data_into_a_pipe_nobody_reads() -> None:
    """`sandbox --print-data | true`: the reader is gone before the data is written; one line on stderr
    says so, exit 1, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "sandbox", "--print-data"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            timeout=WAIT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == "oes-reconcile: stdout was closed before the report was written in full\n"


def test_ctrl_c_during_an_export_writes_nothing_and_exits_130(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    """Ctrl-C while `export` waits for an answer: "Interrupted.", exit 130, no traceback, no file."""
    target = tmp_path / "out.yaml"
    with Sandbox(faults=Faults(latency=1.0)) as server:
        env = child_env(AS_API_ENDPOINT=server.url, AS_API_KEY="sandbox")
        child = oes_reconcile("export", GAN, "-o", str(target), env=env)
        children.append(child)
        deadline = time.monotonic() + WAIT
        while server.stats()["requests"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=WAIT)
    assert child.returncode == 130
    assert (out, err) == ("", "Interrupted.\n")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


EXAMPLE_OVERRIDES = Path(__file__).resolve().parent.parent / "examples" / "overrides.yaml"
# What only the commands that talk to the API or keep the record need: importing them would only slow
# the start of `validate`, which CI and editors run on every change of an override file.
NOT_FOR_VALIDATE = {"pydantic", "httpx", "asyncio", "sqlite3", "rich", "ssl"}


def imported_by(*args: str, env: dict[str, str]) -> set[str]:
    """The modules `python -X importtime -m reconciler ARGS…` imports (it must succeed)."""
    argv = [sys.executable, "-X", "importtime", "-m", "reconciler", *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=WAIT, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    return {line.rpartition("|")[2].strip() for line in lines if line.startswith("import time:")}


def test_validate_imports_no_http_async_or_database_library(tmp_path: Path) -> None:
    """`validate` of a YAML or a CSV file never imports pydantic, httpx, asyncio, sqlite3, rich or ssl;
    of CSV files, not even PyYAML."""
    sheet = tmp_path / "overrides.csv"
    sheet.write_text(f"data_id,peak_id,candidate_key\n{GAN},p1,Ga_417.2\n")
    # Without coverage in the child: its start-up (a .pth file) imports sqlite3 before ours does anything.
    env = {k: v for k, v in child_env().items() if not k.startswith("COVERAGE_")}
    for path in (EXAMPLE_OVERRIDES, sheet):
        imported = imported_by("validate", str(path), env=env)
        assert "reconciler.overrides.load" in imported  # the listing is real
        assert not NOT_FOR_VALIDATE & imported, path.name
    assert "yaml" not in imported  # CSV files alone: PyYAML is not needed either
