"""The retry policy: what is transient, how long to wait (full jitter, `Retry-After`), how often to try."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_none, wait_random_exponential

from reconciler.errors import TransientHTTPError
from reconciler.settings import DEFAULT_MAX_ATTEMPTS

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0


_testing = False


def set_testing(on: bool) -> None:
    """The testing switch: runs built after this retry with no backoff (as stamina's `set_testing`)."""
    global _testing  # noqa: PLW0603 (a process-wide switch, like stamina's, is the point)
    _testing = on


def refused_certificate(exc: BaseException) -> bool:
    """Whether a connection failed because TLS verification refused the server's certificate."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def is_transient(exc: BaseException) -> bool:
    """Retry what may pass: the listed statuses, connection errors, timeouts, dropped connections.

    A refused certificate is not retried: waiting does not make it trustworthy; nor is a redirect whose
    `Location` is no URL (httpx reports it as a protocol error, like a dropped connection).
    """
    transient = TransientHTTPError | httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
    return isinstance(exc, transient) and not refused_certificate(exc) and not bad_redirect(exc)


def bad_redirect(exc: BaseException) -> bool:
    """Whether the server answered a redirect whose `Location` header is not a URL."""
    return isinstance(exc, httpx.RemoteProtocolError) and str(exc).startswith(
        "Invalid URL in location header"
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), capped at 120 s."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            log.debug("ignoring unparsable Retry-After %r", value)
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


class wait_honouring_retry_after(wait_base):  # noqa: N801 (tenacity names its waits in lower case)
    """The backoff of `base`, but never shorter than the `Retry-After` of the last answer."""

    def __init__(self, base: wait_base) -> None:
        self.base = base

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self.base(retry_state)
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, TransientHTTPError) and exc.retry_after is not None:
            return max(backoff, exc.retry_after)
        return backoff


def _retry_logger(request: str) -> Callable[[RetryCallState], None]:
    """Log each retry with the request it concerns, what went wrong and how long the wait is."""

    def log_retry(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.info(
            "%s: attempt %d failed (%s); retrying in %.2f s",
            request,
            retry_state.attempt_number,
            describe(exc),
            wait,
        )

    return log_retry


_DESCRIPTIONS: tuple[tuple[type[BaseException], str], ...] = (
    (httpx.RemoteProtocolError, "connection dropped before an answer"),
    (httpx.DecodingError, "the answer's body could not be decoded (its Content-Encoding does not match it)"),
)


def describe(exc: BaseException | None) -> str:
    """A short, key-free description of a failed attempt."""
    if isinstance(exc, TransientHTTPError):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if exc is not None and refused_certificate(exc):
        return "TLS verification refused the server's certificate"
    if exc is not None and bad_redirect(exc):
        return (
            "a redirect whose Location is not a URL; set --endpoint to where the API lives "
            "(redirects are not followed)"
        )
    for kind, text in _DESCRIPTIONS:
        if isinstance(exc, kind):
            return text
    name = type(exc).__name__ if exc is not None else "unknown"
    return f"connection error ({name})" if isinstance(exc, httpx.NetworkError) else name


@dataclass(frozen=True)
class RetryPolicy:
    """How requests are retried; built once per run and handed to the client."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    wait: wait_base = field(
        default_factory=lambda: wait_honouring_retry_after(
            wait_random_exponential(multiplier=BACKOFF_BASE, max=BACKOFF_CAP)
        )
    )
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def for_run(cls, max_attempts: int) -> RetryPolicy:
        """The policy of a run: full-jitter backoff, unless the testing switch is on."""
        return cls.without_waits(max_attempts) if _testing else cls(max_attempts=max_attempts)

    @classmethod
    def without_waits(cls, max_attempts: int = 6) -> RetryPolicy:
        """The testing switch: same decisions, no backoff, so retry tests run in milliseconds."""
        return cls(max_attempts=max_attempts, wait=wait_none())

    def retrying(
        self, *, request: str, sleep: Callable[[float], Awaitable[None]] | None = None
    ) -> AsyncRetrying:
        """A retrying loop for one request, named in the logs; `sleep` replaces the policy's."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self.wait,
            retry=retry_if_exception(is_transient),
            sleep=sleep or self.sleep,
            before_sleep=_retry_logger(request),
            reraise=True,
        )
