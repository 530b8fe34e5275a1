"""Shared fixtures: the sandbox on loopback, the CLI run in-process, and retries without waits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import settings

from reconciler import retry
from reconciler.cli import main
from reconciler.sandbox import Sandbox

# Hypothesis's default deadline (200 ms per example) is a timing assertion: on a busy machine a test that is
# right fails with DeadlineExceeded. Speed is measured by the benchmarks, never by tests.
settings.register_profile("oes-reconcile", deadline=None)
settings.load_profile("oes-reconcile")


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    """Retry decisions stay real; the waits are switched off so retry tests run in milliseconds."""
    retry.set_testing(True)
    yield
    retry.set_testing(False)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """An in-process CLI run sets the root logger's level (`-q`: errors only) and handler; both are put back,
    or a later test's `caplog` would miss the warnings that level drops (they failed in some orders)."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record's default place is a fresh folder per test, never the real home; children inherit it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("OES_RECONCILE_STATE", raising=False)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The sandbox seeded with the example data, with AS_API_ENDPOINT and AS_API_KEY pointing at it."""
    with Sandbox() as server:
        monkeypatch.setenv("AS_API_ENDPOINT", server.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        monkeypatch.delenv("ATOMSCALE_API_KEY", raising=False)
        yield server


@dataclass(frozen=True)
class Ran:
    """What one CLI run printed and returned."""

    code: int
    out: str
    err: str


Cli = Callable[..., Ran]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run the real CLI in-process: `cli("plan", "examples/")` returns exit code, stdout and stderr."""

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
