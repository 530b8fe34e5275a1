"""Logging to stderr, with every known secret masked in every line, traceback included."""

from __future__ import annotations

import logging
import sys

from reconciler.text import visible

_secrets: set[str] = set()
MASK = "***"


def redact(secret: str) -> None:
    """Mask `secret` wherever it would appear in a log line from now on."""
    if secret:
        _secrets.add(secret)


def forget_secrets() -> None:
    """Start a new run with nothing masked: a key of an earlier run in this process is no secret now."""
    _secrets.clear()


def scrub(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats the whole record (message, arguments, traceback), then masks the secrets in it."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # The message may carry server text: no control character reaches the terminal, no line is forged.
        record.message = visible(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure(*, verbosity: int, quiet: bool) -> None:
    """Warnings by default; -v info, -vv debug (httpx too); -q errors only."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    # Replace only our own handler: a second run in one process (tests) must not log twice.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, RedactingFormatter)]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; that is -vv detail, not -v.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
