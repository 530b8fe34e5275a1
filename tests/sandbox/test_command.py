"""The sandbox from the command line: `oes-reconcile sandbox`, and the in-process one of `--sandbox`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.conftest import Cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--data", "{missing}", "--print-data"),
            "InputError: {missing}: cannot read the sandbox data file: No such file or directory",
        ),
        (
            ("--synthetic", "1", "--peaks", "1", "--differing", "2", "--print-data"),
            "ConfigError: need count >= 0, peaks >= 1 and 0 <= differing <= peaks, got 1, 1, 2",
        ),
        (
            ("--port", "0", "--fail-kind", "timout"),
            "ConfigError: unknown fault kind 'timout'; expected one of",
        ),
    ],
    ids=["data-file", "sizes", "fault"],
)
def test_sandbox_errors_are_shown_as_the_tools_own(
    cli: Cli, tmp_path: Path, argv: tuple[str, ...], message: str
) -> None:
    """A bad data file is invalid input, an unusable setting a configuration error: one line, exit 1."""
    missing = str(tmp_path / "missing.json")
    ran = cli("sandbox", *(arg.format(missing=missing) for arg in argv))
    assert ran.code == 1
    assert ran.out == ""
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    assert ran.err.startswith(message.format(missing=missing))


@pytest.mark.slow
def test_a_plan_saved_with_sandbox_applies_with_sandbox(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `--sandbox` run has a port of its own, yet its saved plan applies; no sandbox outlives a run."""
    monkeypatch.delenv("AS_API_KEY", raising=False)
    plan = tmp_path / "plan.json"
    assert cli("plan", "--sandbox", "--out", str(plan), "examples/").code == 0
    applied = cli("apply", "--sandbox", "--plan", str(plan))
    assert applied.code == 0, applied.err
    assert applied.out.splitlines()[-1].startswith("Apply: 6 applied")
    assert not [thread for thread in threading.enumerate() if thread.name == "oes-sandbox"]


@pytest.mark.slow
def test_a_plan_saved_with_sandbox_is_refused_by_another_endpoint(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `--sandbox` the saved plan's endpoint must match: nothing is sent to the other server."""
    plan = tmp_path / "plan.json"
    assert cli("plan", "--sandbox", "--out", str(plan), "examples/").code == 0
    with Sandbox() as other:
        monkeypatch.setenv("AS_API_ENDPOINT", other.url)
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        ran = cli("apply", "--plan", str(plan))
        assert ran.code == 1
        assert "was planned against http://127.0.0.1:" in ran.err
        assert f", not {other.url}; make a new plan for this endpoint" in ran.err
        assert other.stats()["requests"] == 0
