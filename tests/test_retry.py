"""The retry policy: what is retried, how long it waits, and `Retry-After` in both forms."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import httpx
import pytest

from reconciler.errors import TransientHTTPError
from reconciler.retry import describe, is_transient, parse_retry_after

NOW = datetime(2026, 11, 29, 7, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_listed_statuses_are_transient(status: int) -> None:
    """429 and the listed 5xx are retried."""
    assert is_transient(TransientHTTPError(status, "busy"))


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
    ],
)
def test_connection_errors_and_timeouts_are_transient(exc: Exception) -> None:
    """Connection errors, read timeouts and dropped connections are retried."""
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [ValueError("bug"), httpx.UnsupportedProtocol("ftp"), KeyError("x")])
def test_other_errors_are_not_transient(exc: Exception) -> None:
    """Anything else fails at once: a bug or a misconfiguration does not go away by waiting."""
    assert not is_transient(exc)


def test_retry_after_in_seconds() -> None:
    """`Retry-After: 7` means seven seconds."""
    assert parse_retry_after("7", now=NOW) == 7.0


def test_retry_after_as_http_date() -> None:
    """`Retry-After` as an HTTP date means the time until then."""
    assert parse_retry_after("Sun, 29 Nov 2026 07:00:42 GMT", now=NOW) == 42.0


def test_retry_after_as_a_date_without_a_zone_is_read_as_utc() -> None:
    """An HTTP date whose zone is `-0000` (unknown) is taken as UTC, as `GMT` is."""
    assert parse_retry_after("Sun, 29 Nov 2026 07:00:42 -0000", now=NOW) == 42.0


def test_retry_after_is_capped_and_never_negative() -> None:
    """A huge `Retry-After` is capped at 120 s; a date in the past means no extra wait."""
    assert parse_retry_after("86400", now=NOW) == 120.0
    assert parse_retry_after("Sun, 29 Nov 2026 06:00:00 GMT", now=NOW) == 0.0


def test_unreadable_retry_after_is_ignored() -> None:
    """Garbage in `Retry-After` falls back to the ordinary backoff."""
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def test_refused_certificate_is_not_retried_and_says_why() -> None:
    """A TLS verification failure does not pass by waiting: no retry, and the message names it."""

    def handshake() -> None:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate")
        except ssl.SSLError as inner:
            raise httpx.ConnectError("handshake failed") from inner

    with pytest.raises(httpx.ConnectError) as caught:
        handshake()
    assert not is_transient(caught.value)
    assert describe(caught.value) == "TLS verification refused the server's certificate"


def test_a_redirect_to_no_url_is_not_retried_and_says_so() -> None:
    """A 3xx whose Location is no URL: httpx reports a protocol error; it is not a dropped connection."""
    request = httpx.Request("GET", "https://api.example.test/oes/x")
    exc = httpx.RemoteProtocolError("Invalid URL in location header: Invalid port: '99999'.", request=request)
    assert not is_transient(exc)
    assert describe(exc).startswith("a redirect whose Location is not a URL")
    assert is_transient(httpx.RemoteProtocolError("Server disconnected", request=request))
