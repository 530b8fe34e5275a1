"""Logging masks every known secret, in messages and in tracebacks."""

from __future__ import annotations

import logging

import pytest

from reconciler import logs


def test_secret_is_masked_in_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    """Once registered, the key never reaches stderr, whatever logs it."""
    secret = "sk-log-test-5f1e2d"
    redactor = logs.Redactor()
    redactor.add(secret)
    logs.configure(verbosity=2, quiet=False, redactor=redactor)
    log = logging.getLogger("reconciler.test")
    log.info("sending with %s", secret)
    try:
        _ = dict[str, int]()[f"bad key {secret}"]
    except KeyError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert secret not in err
    assert "sending with ***" in err
    assert "KeyError: 'bad key ***'" in err


@pytest.mark.parametrize(
    ("verbosity", "quiet", "shown"),
    [
        (0, False, ["WARNING: w", "ERROR: e"]),
        (1, False, ["INFO: i", "WARNING: w", "ERROR: e"]),
        (2, False, ["DEBUG: d", "INFO: i", "WARNING: w", "ERROR: e"]),
        (2, True, ["ERROR: e"]),
    ],
)
def test_verbosity_decides_what_reaches_stderr(
    capsys: pytest.CaptureFixture[str], verbosity: int, quiet: bool, shown: list[str]
) -> None:
    """Warnings by default; -v adds info, -vv debug; -q leaves errors only."""
    logs.configure(verbosity=verbosity, quiet=quiet, redactor=logs.Redactor())
    log = logging.getLogger("reconciler.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert capsys.readouterr().err.splitlines() == shown


def test_a_redactor_masks_only_the_secrets_of_its_own_run() -> None:
    """Two runs in one process: the first run's key is not masked in the second run's text (a key like
    `sandbox` would otherwise hide a word of every later message)."""
    first, second = logs.Redactor(), logs.Redactor()
    first.add("sandbox")
    assert first.scrub("sandbox fault: HTTP 503") == "*** fault: HTTP 503"
    assert second.scrub("sandbox fault: HTTP 503") == "sandbox fault: HTTP 503"
