"""Logging masks every known secret, in messages and in tracebacks."""

from __future__ import annotations

import logging

import pytest

from reconciler import logs


def test_secret_is_masked_in_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    """Once registered, the key never reaches stderr, whatever logs it."""
    secret = "sk-log-test-5f1e2d"
    logs.redact(secret)
    logs.configure(verbosity=2, quiet=False)
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


def test_verbosity_levels() -> None:
    """Warnings by default, info with -v, debug with -vv, errors only with -q."""
    for verbosity, quiet, level in [
        (0, False, logging.WARNING),
        (1, False, logging.INFO),
        (2, False, logging.DEBUG),
    ]:
        logs.configure(verbosity=verbosity, quiet=quiet)
        assert logging.getLogger().level == level
    logs.configure(verbosity=2, quiet=True)
    assert logging.getLogger().level == logging.ERROR
