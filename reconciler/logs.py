"""Logging to stderr, with the run's secrets masked in every line, traceback included."""

from __future__ import annotations

import logging
import sys

from reconciler.text import visible

MASK = "***"


class Redactor:
    """The secrets of one run (its API key), masked wherever text about the run is shown.

    Owned by the run that reads the key: a key of another run in the same process is not masked, and
    words that happen to equal it elsewhere are left alone once its run is over.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        """Mask `secret` from now on."""
        if secret:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFormatter(logging.Formatter):
    """Formats the whole record (message, arguments, traceback), then masks the run's secrets in it."""

    def __init__(self, fmt: str, *, redactor: Redactor) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # The message may carry server text: no control character reaches the terminal, no line is forged.
        record.message = visible(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.scrub(super().format(record))


def configure(*, verbosity: int, quiet: bool, redactor: Redactor) -> None:
    """Warnings by default; -v info, -vv debug (httpx too); -q errors only; `redactor` masks every line."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s: %(message)s", redactor=redactor))
    root = logging.getLogger()
    # Replace only our own handler: a second run in one process (tests) must not log twice.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, RedactingFormatter)]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; that is -vv detail, not -v.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
