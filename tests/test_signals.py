"""Signals and the lock in real processes: `python -m reconciler apply` against a slow sandbox on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Faults, Sandbox
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from reconciler.signals import stop_on_signals
from tests.conftest import Cli
from tests.facilities import reconciler_without
from tests.test_faults import not_as_wanted, patch_requests, write_overrides

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

NOT_FETCHED = "not fetched: the run was interrupted"
NOT_PATCHED = "not patched: the run was interrupted"

ENTRIES, PEAKS = 40, 3  # one differing peak per entry: 40 GETs and 40 PATCHes
CONCURRENCY = 2
WAIT = 20.0  # the longest any wait here may take before the test fails instead of hanging
# How the child handles signals: by the loop (Unix), or by signal.signal where the loop cannot (Windows).
HANDLERS = {
    "loop": [sys.executable, "-m", "reconciler"],
    "signal.signal": reconciler_without(loop_signals=True),
}
FALLBACK = "signals are handled with signal.signal: this event loop has no add_signal_handler"


@dataclass(frozen=True)
class SlowLab:
    """A sandbox answering every request after `latency`, the overrides that want 40 changes, an env."""

    sandbox: Sandbox
    overrides: Path
    wanted: list[tuple[str, str, str]]
    env: dict[str, str]
    folder: Path


@pytest.fixture
def slow_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowLab]:
    """40 entries of 3 peaks (1 differing) behind 0.2 s of latency; AS_API_* set here and for children."""
    entries = synthetic_entries(ENTRIES, peaks=PEAKS, points=64, differing=1)
    wanted = synthetic_overrides(ENTRIES, peaks=PEAKS, differing=1)
    with Sandbox(entries=entries, faults=Faults(latency=0.2)) as sandbox:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "ATOMSCALE_API_KEY"}
        env |= {"AS_API_KEY": "sandbox", "AS_API_ENDPOINT": sandbox.url}
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        monkeypatch.setenv("AS_API_ENDPOINT", sandbox.url)
        overrides = write_overrides(tmp_path / "overrides.csv", wanted)
        yield SlowLab(sandbox, overrides, wanted, env, tmp_path)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; any still running at its end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=WAIT)


def start(
    children: list[subprocess.Popen[str]], lab: SlowLab, *args: str, handlers: str = "loop"
) -> subprocess.Popen[str]:
    """`python -m reconciler apply ARGS… OVERRIDES` in its own process (signals handled by `handlers`)."""
    argv = [*HANDLERS[handlers], "apply", *args, str(lab.overrides)]
    child = subprocess.Popen(
        argv, env=lab.env, cwd=lab.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    children.append(child)
    return child


def wait_until(condition: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def patches_seen(sandbox: Sandbox) -> int:
    count: int = sandbox.stats()["by_method"].get("PATCH", 0)
    return count


def finish(child: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = child.communicate(timeout=WAIT)
    return child.returncode, out, err


def read_json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.mark.parametrize("handlers", HANDLERS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_sending_writes_the_report_and_a_rerun_finishes(
    signum: signal.Signals, handlers: str, slow_lab: SlowLab, cli: Cli, children: list[subprocess.Popen[str]]
) -> None:
    """A signal mid-apply: nothing new sent, in-flight finish, report of done and undone, 130; rerun ok;
    the same where the loop cannot handle signals and signal.signal does (Windows)."""
    sandbox = slow_lab.sandbox
    report = slow_lab.folder / "report.json"
    child = start(
        children,
        slow_lab,
        "-v",
        "--concurrency",
        str(CONCURRENCY),
        "--report",
        str(report),
        handlers=handlers,
    )
    wait_until(lambda: patches_seen(sandbox) >= 3, what="the sandbox has seen 3 PATCHes")
    at_signal = sandbox.stats()
    child.send_signal(signum)
    code, out, err = finish(child)
    at_exit = sandbox.stats()

    assert code == 130, err
    assert f"{signum.name}: sending nothing new" in err
    assert (FALLBACK in err) == (handlers == "signal.signal")
    assert "Traceback" not in err
    headline = out.splitlines()[-1]
    assert headline.startswith("Apply incomplete (interrupted): ")
    assert headline.endswith(" Rerun to finish.")
    # Only what was already on its way when the signal came may reach the server afterwards.
    assert at_exit["requests"] - at_signal["requests"] <= CONCURRENCY
    assert at_exit["in_flight"] == 0

    document = read_json(report)
    assert document["interrupted"] is True
    outcomes = {(i["data_id"], i["peak_id"]): (i["status"], i["message"]) for i in document["items"]}
    assert len(outcomes) == ENTRIES * PEAKS
    applied = {key for key, (status, _) in outcomes.items() if status == "applied"}
    not_patched = {key for key, outcome in outcomes.items() if outcome == ("change", NOT_PATCHED)}
    not_fetched = {key for key, outcome in outcomes.items() if outcome == ("fetch_failed", NOT_FETCHED)}
    in_sync = {key for key, (status, _) in outcomes.items() if status == "in_sync"}
    assert applied, "something was done before the signal"
    assert not_fetched, "something was left undone"
    assert applied | not_patched | not_fetched | in_sync == set(outcomes)
    # Changes left unpatched have their own marker: `~` would read as applied.
    assert {tuple(line.split()[1:3]) for line in out.splitlines() if line.startswith("- ")} == not_patched
    # Every PATCH the server received is in the report as applied: those in flight were let finish.
    assert set(patch_requests(sandbox)) == applied
    assert document["summary"]["applied"] == at_exit["by_method"]["PATCH"]
    fetched_entries = {data_id for data_id, _peak in set(outcomes) - not_fetched}
    assert at_exit["by_method"]["GET"] == len(fetched_entries)

    sandbox.set_faults(Faults())
    rerun = cli("apply", str(slow_lab.overrides))
    assert rerun.code == 0, rerun.out + rerun.err
    assert not_as_wanted(sandbox, slow_lab.wanted) == []
    per_peak = patch_requests(sandbox)
    assert len(per_peak) == ENTRIES
    assert set(per_peak.values()) == {1}  # over both runs: no peak was PATCHed twice


@pytest.mark.parametrize("handlers", HANDLERS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_second_signal_stops_waiting_and_still_writes_the_report(
    slow_lab: SlowLab, children: list[subprocess.Popen[str]], signum: signal.Signals, handlers: str
) -> None:
    """The first signal waits for requests in flight; a second one abandons them at once (exit 130) and
    still writes the report: what was in flight reads "not fetched" (a PATCH: "outcome unknown"); the
    same with signal.signal's handlers."""
    sandbox = slow_lab.sandbox
    report = slow_lab.folder / "report.json"
    sandbox.set_faults(Faults(latency=5.0))
    child = start(
        children, slow_lab, "--concurrency", str(CONCURRENCY), "--report", str(report), handlers=handlers
    )
    wait_until(lambda: sandbox.stats()["requests"] >= CONCURRENCY, what="requests are in flight")
    child.send_signal(signum)
    time.sleep(0.3)
    assert child.poll() is None, "the first signal waits for the requests in flight"
    abandoned = time.monotonic()
    child.send_signal(signum)
    code, out, err = finish(child)
    assert time.monotonic() - abandoned < 2.0  # the answers were still seconds away
    assert code == 130, err
    assert f"{signum.name} again: abandoning the requests in flight" in err
    assert "Traceback" not in err
    assert sandbox.stats()["requests"] == CONCURRENCY
    document = read_json(report)
    assert document["interrupted"] is True
    assert {(i["status"], i["message"]) for i in document["items"]} == {("fetch_failed", NOT_FETCHED)}
    assert out.splitlines()[-1].startswith("Apply incomplete (interrupted): ")


def test_wait_for_requests_in_flight_is_bounded_by_timeout(
    slow_lab: SlowLab, children: list[subprocess.Popen[str]]
) -> None:
    """A signal while answers are 5 s away: the run waits at most --timeout (1 s), sends nothing new, 130."""
    sandbox = slow_lab.sandbox
    sandbox.set_faults(Faults(latency=5.0))
    report = slow_lab.folder / "report.json"
    child = start(
        children, slow_lab, "--concurrency", str(CONCURRENCY), "--timeout", "1", "--report", str(report)
    )
    wait_until(lambda: sandbox.stats()["requests"] >= CONCURRENCY, what="requests are in flight")
    signalled = time.monotonic()
    child.send_signal(signal.SIGTERM)
    code, _out, err = finish(child)
    waited = time.monotonic() - signalled
    assert code == 130, err
    assert 0.5 <= waited < 3.0  # waited for the requests in flight, but not for the 5 s answers
    assert sandbox.stats()["requests"] == CONCURRENCY  # the timed-out requests were not retried
    document = read_json(report)
    assert document["interrupted"] is True
    assert {(i["status"], i["message"]) for i in document["items"]} == {("fetch_failed", NOT_FETCHED)}


def test_second_run_with_the_same_lock_exits_3_at_once(
    slow_lab: SlowLab, cli: Cli, children: list[subprocess.Popen[str]]
) -> None:
    """While one apply holds --lock-file, another exits 3 at once naming PID and start; SIGKILL frees it."""
    sandbox = slow_lab.sandbox
    lock = str(slow_lab.folder / "apply.lock")
    first = start(children, slow_lab, "--concurrency", str(CONCURRENCY), "--lock-file", lock)
    wait_until(lambda: sandbox.stats()["requests"] >= 1, what="the first run is under way")

    started = time.monotonic()
    second = start(children, slow_lab, "--lock-file", lock)
    code, out, err = finish(second)
    assert code == 3, err
    assert time.monotonic() - started < 5.0
    assert f"another run holds the lock {lock} (PID {first.pid}, started 20" in err
    assert out == ""
    assert first.poll() is None, "the second run did not wait for the first"
    # The second run sent nothing: no entry was fetched twice.
    assert max(sandbox.stats()["by_path"].values()) == 1

    first.kill()  # SIGKILL: no cleanup at all; the OS releases the lock
    first.communicate(timeout=WAIT)
    # A PATCH the killed run had sent is still applied by the server: let it land before rerunning.
    wait_until(lambda: sandbox.stats()["in_flight"] == 0, what="the sandbox is idle")
    sandbox.set_faults(Faults())
    rerun = cli("apply", "--lock-file", lock, str(slow_lab.overrides))
    assert rerun.code == 0, rerun.out + rerun.err
    assert not_as_wanted(sandbox, slow_lab.wanted) == []
    assert max(patch_requests(sandbox).values()) == 1


@pytest.fixture
def handlers_kept() -> Iterator[dict[signal.Signals, object]]:
    """SIGINT and SIGTERM as the CLI leaves them (both KeyboardInterrupt); put back after the test."""
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in kept:
        signal.signal(sig, signal.default_int_handler)
    yield dict.fromkeys(kept, signal.default_int_handler)
    for sig, handler in kept.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("handlers", HANDLERS)
def test_three_signals_stop_then_abandon_then_abort(
    handlers: str, handlers_kept: dict[signal.Signals, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, by either set of handlers: the first signal stops, the second abandons, the third raises
    KeyboardInterrupt at once; leaving the block puts back handlers that abort."""
    steps: list[str] = []

    async def run() -> None:
        if handlers == "signal.signal":
            monkeypatch.setattr(asyncio.get_running_loop(), "add_signal_handler", _refuse)
        with stop_on_signals(lambda: steps.append("stop"), lambda: steps.append("abandon")):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert steps == ["stop"]
            signal.raise_signal(signal.SIGINT)
            await asyncio.sleep(0.05)
            assert steps == ["stop", "abandon"]
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)  # the handler runs before the call returns
        assert steps == ["stop", "abandon"]

    asyncio.run(run())
    assert {sig: signal.getsignal(sig) for sig in handlers_kept} == handlers_kept


def test_handlers_found_are_put_back_after_a_quiet_run(handlers_kept: dict[signal.Signals, object]) -> None:
    """With signal.signal's handlers, a run that saw no signal leaves the handlers it found, SIG_DFL too."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    async def run() -> None:
        with stop_on_signals(lambda: None, lambda: None):
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio.SelectorEventLoop, "add_signal_handler", _refuse)
        asyncio.run(run())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _refuse(*_args: object) -> None:
    raise NotImplementedError


def test_loop_handlers_half_added_are_removed_before_the_fallback(
    handlers_kept: dict[signal.Signals, object],
) -> None:
    """A loop that takes SIGINT but refuses SIGTERM: SIGINT's loop handler is removed, both go to
    signal.signal, and the first signal still stops the run."""
    steps: list[str] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        real_add = loop.add_signal_handler

        def add_only_sigint(sig: int, callback: Callable[..., object], *args: object) -> None:
            if sig != signal.SIGINT:
                raise NotImplementedError
            real_add(sig, callback, *args)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(loop, "add_signal_handler", add_only_sigint)
            with stop_on_signals(lambda: steps.append("stop"), lambda: steps.append("abandon")):
                assert not loop.remove_signal_handler(signal.SIGINT)  # none left on the loop
                signal.raise_signal(signal.SIGINT)
                await asyncio.sleep(0.05)
        assert steps == ["stop"]

    asyncio.run(run())
