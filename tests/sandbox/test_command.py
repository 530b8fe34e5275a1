"""The sandbox from the command line: `oes-reconcile sandbox`, and the in-process one of `--sandbox`."""

from __future__ import annotations

from pathlib import Path

import pytest

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
