"""The progress bar: on a terminal only, so cron mails and CI logs stay clean."""

from __future__ import annotations

import io

import pytest

from reconciler.progress import progress_bar


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped or redirected stderr (cron, CI) gets no bar and no escape codes."""
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress_bar(10, description="plan") as advance:
        assert advance is None
    assert err.getvalue() == ""


def test_bar_on_a_terminal_goes_to_stderr_not_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal the bar counts entries on stderr; stdout, which carries the report, stays clean."""
    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    with progress_bar(10, description="plan") as advance:
        assert advance is not None
        advance(5)
    assert capsys.readouterr().out == ""
    assert "10" in err.getvalue()


def test_quiet_or_tiny_runs_get_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """-q, or a run of one entry, shows no bar even on a terminal."""
    monkeypatch.setattr("sys.stderr", Terminal())
    with progress_bar(10, description="plan", enabled=False) as advance:
        assert advance is None
    with progress_bar(1, description="plan") as advance:
        assert advance is None
