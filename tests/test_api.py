"""The API client against `httpx.MockTransport`: parsing, retries, waits, auth stop, key hygiene."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from reconciler.api import ApiClient, RateLimiter
from reconciler.errors import AuthError, RequestFailed, RunStopped
from reconciler.retry import BACKOFF_BASE, BACKOFF_CAP, RetryPolicy
from reconciler.settings import Connection
from tests.factories import ENTRY, peak_with_key, result_doc

KEY = "sk-test-0123456789-DISTINCTIVE"
Handler = Callable[[httpx.Request], httpx.Response]


def ok_body() -> bytes:
    return json.dumps(result_doc(peak_with_key("p1", "Ga_417.2", manual=True))).encode()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def client_for(handler: Handler, *, retry: RetryPolicy | None = None, **kwargs: Any) -> ApiClient:
    connection = Connection(endpoint="https://api.example.test/", api_key=KEY, timeout=5)
    transport = httpx.MockTransport(handler)
    return ApiClient(connection, retry=retry or RetryPolicy.without_waits(), transport=transport, **kwargs)


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with `responses` in turn (the last one repeats), recording each request."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


async def get(client: ApiClient, data_id: str = ENTRY) -> Any:
    async with client:
        return await client.get_result(data_id)


def test_get_parses_the_result_and_sends_the_key_header() -> None:
    """GET /oes/{id} carries X-API-KEY and is parsed into peaks and last_updated."""
    handler, seen = scripted(httpx.Response(200, content=ok_body()))
    answer = run(get(client_for(handler)))
    assert answer.result.peak("p1").applied == "Ga_417.2"
    assert answer.result.last_updated == "2024-01-15T10:35:00Z"
    assert seen[0].url.path == f"/oes/{ENTRY}"
    assert seen[0].headers["X-API-KEY"] == KEY


@pytest.mark.parametrize(
    "detail", [f"no OES result for data entry {ENTRY}", "Entry not found", {"code": "no_such_entry"}]
)
def test_get_404_is_an_answer_without_result(detail: object) -> None:
    """The API's own 404 (JSON `detail` not the generic "Not Found") means no such entry; not retried."""
    handler, seen = scripted(httpx.Response(404, json={"detail": detail}))
    answer = run(get(client_for(handler)))
    assert (answer.result, answer.status, len(seen)) == (None, 404, 1)


WRONG_PATH = (
    "HTTP 404 but not the API's 'not found' for an entry (server said: {said}); "
    "is the endpoint's path right? "
)


@pytest.mark.parametrize(
    ("response", "said"),
    [
        pytest.param(httpx.Response(404, json={"detail": "Not Found"}), "Not Found", id="fastapi"),
        pytest.param(httpx.Response(404, json={"detail": "not found."}), "not found.", id="lower-case"),
        pytest.param(httpx.Response(404, json={"detail": " NOT FOUND "}), "NOT FOUND", id="upper-case"),
        pytest.param(httpx.Response(404, json={"detail": ""}), "Not Found", id="empty-detail"),
        pytest.param(httpx.Response(404, json={"detail": None}), '{"detail":null}', id="null-detail"),
        pytest.param(httpx.Response(404, json={"error": "no route"}), '{"error":"no route"}', id="no-detail"),
        pytest.param(httpx.Response(404, json=["Not Found"]), '["Not Found"]', id="json-list"),
        pytest.param(
            httpx.Response(404, text="<html><h1>404</h1></html>", headers={"content-type": "text/html"}),
            "an HTML page",
            id="html",
        ),
        pytest.param(httpx.Response(404), "no body", id="empty"),
        pytest.param(httpx.Response(404, text="Not Found"), "Not Found", id="plain-text"),
        pytest.param(httpx.Response(404, content=b"[" * 100_000), "[" * 200 + "…", id="deeply-nested"),
    ],
)
def test_a_404_that_is_not_the_apis_fails_the_fetch_naming_the_url(
    response: httpx.Response, said: str
) -> None:
    """A generic 404 (a wrong path prefix) fails the fetch, showing what the server said and the URL."""
    handler, seen = scripted(response)
    with pytest.raises(RequestFailed) as caught:
        run(get(client_for(handler)))
    assert caught.value.reason == WRONG_PATH.format(said=said) + f"(GET https://api.example.test/oes/{ENTRY})"
    assert (caught.value.status, len(seen)) == (404, 1)


async def patch_p1(client: ApiClient) -> Any:
    async with client:
        return await client.patch_peak(ENTRY, "p1", "Ga_417.2")


def test_a_patch_404_that_is_not_the_apis_says_the_same() -> None:
    """A generic 404 on PATCH says the same, with the PATCH's URL; the API's own 404 keeps its detail."""
    handler, _seen = scripted(httpx.Response(404, json={"detail": "Not Found"}))
    with pytest.raises(RequestFailed) as caught:
        run(patch_p1(client_for(handler)))
    expected = WRONG_PATH.format(said="Not Found") + f"(PATCH https://api.example.test/oes/{ENTRY}/peaks)"
    assert caught.value.reason == expected
    handler, _seen = scripted(
        httpx.Response(404, json={"detail": f"peak 'p1' not found in OES result of {ENTRY}"})
    )
    with pytest.raises(RequestFailed) as caught:
        run(patch_p1(client_for(handler)))
    assert caught.value.reason == f"HTTP 404: peak 'p1' not found in OES result of {ENTRY}"


MOVED = (
    "; set --endpoint to where the API lives: redirects are not followed, so the key is never sent elsewhere"
)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://elsewhere.example.test/api/oes/x", "https://elsewhere.example.test/api/oes/x"),
        ("/v2/oes/x", "https://api.example.test/v2/oes/x"),
    ],
)
def test_a_redirect_is_not_followed_and_shows_where_it_points(status: int, location: str, shown: str) -> None:
    """A 3xx names its Location (made absolute) and nothing is sent there: the key stays with the endpoint."""
    handler, seen = scripted(httpx.Response(status, headers={"Location": location}))
    with pytest.raises(RequestFailed) as caught:
        run(get(client_for(handler)))
    assert caught.value.reason == f"HTTP {status} redirect to {shown}{MOVED}"
    assert [str(request.url) for request in seen] == [f"https://api.example.test/oes/{ENTRY}"]


def test_a_redirect_of_a_patch_is_not_followed_either() -> None:
    """A 308 on PATCH (which would resend the body and key) fails the item; only the one request was sent."""
    handler, seen = scripted(
        httpx.Response(308, headers={"Location": "https://other.example.test/oes/x/peaks"})
    )
    with pytest.raises(RequestFailed) as caught:
        run(patch_p1(client_for(handler)))
    assert caught.value.reason == f"HTTP 308 redirect to https://other.example.test/oes/x/peaks{MOVED}"
    assert len(seen) == 1


def test_a_redirect_without_location_or_echoing_the_key_is_still_clear() -> None:
    """No Location: the message says redirect alone; a Location that carries the key shows it masked."""
    handler, _seen = scripted(httpx.Response(302))
    with pytest.raises(RequestFailed) as caught:
        run(get(client_for(handler)))
    assert caught.value.reason == f"HTTP 302 redirect{MOVED}"
    handler, _seen = scripted(httpx.Response(307, headers={"Location": f"https://x.example.test/?k={KEY}"}))
    with pytest.raises(RequestFailed) as caught:
        run(get(client_for(handler)))
    assert caught.value.reason == f"HTTP 307 redirect to https://x.example.test/?k=***{MOVED}"


def test_patch_sends_peak_and_candidate() -> None:
    """PATCH /oes/{id}/peaks sends exactly the peak id and candidate key as JSON."""
    handler, seen = scripted(httpx.Response(200, content=ok_body()))

    async def patch() -> Any:
        async with client_for(handler) as client:
            return await client.patch_peak(ENTRY, "p1", "Ga_417.2")

    answer = run(patch())
    assert answer.status == 200
    assert seen[0].method == "PATCH"
    assert seen[0].url.path == f"/oes/{ENTRY}/peaks"
    assert json.loads(seen[0].content) == {"peak_id": "p1", "candidate_key": "Ga_417.2"}


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_success(status: int) -> None:
    """Two transient answers then a 200: the caller sees the result and three attempts."""
    handler, seen = scripted(
        httpx.Response(status), httpx.Response(status), httpx.Response(200, content=ok_body())
    )
    answer = run(get(client_for(handler)))
    assert (answer.attempts, len(seen)) == (3, 3)


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")]
)
def test_connection_faults_are_retried(exc: Exception) -> None:
    """Connection errors, read timeouts and dropped connections are retried."""
    handler, _seen = scripted(exc, httpx.Response(200, content=ok_body()))
    assert run(get(client_for(handler))).attempts == 2


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_on_patch_fail_at_once_with_the_servers_reason(status: int) -> None:
    """A refused PATCH is not retried, and the failure carries the server's `detail`."""
    handler, seen = scripted(httpx.Response(status, json={"detail": "candidate_key must be a candidate"}))

    async def patch() -> None:
        async with client_for(handler) as client:
            await client.patch_peak(ENTRY, "p1", "Xx_1.0")

    with pytest.raises(RequestFailed) as caught:
        run(patch())
    assert len(seen) == 1
    assert caught.value.reason == f"HTTP {status}: candidate_key must be a candidate"
    assert caught.value.status == status


def test_exhausted_retries_say_what_failed_and_how_often() -> None:
    """After --max-attempts the failure names the last fault and the count."""
    handler, seen = scripted(httpx.Response(503, json={"detail": "maintenance"}))
    with pytest.raises(RequestFailed) as caught:
        run(get(client_for(handler, retry=RetryPolicy.without_waits(4))))
    assert len(seen) == 4
    assert caught.value.reason == "HTTP 503: maintenance; gave up after 4 attempts"


def test_refused_key_stops_the_client() -> None:
    """401 raises AuthError, marks the client stopping, and nothing more is sent."""
    handler, seen = scripted(httpx.Response(401, json={"detail": "bad key"}))

    async def two_gets() -> None:
        async with client_for(handler) as client:
            with pytest.raises(AuthError, match="refused the key"):
                await client.get_result(ENTRY)
            with pytest.raises(RunStopped):
                await client.get_result(ENTRY)

    run(two_gets())
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, content=b""), "HTTP 200 but the body is not an OES result"),
        (
            httpx.Response(200, content=b"<html>oops</html>", headers={"content-type": "text/html"}),
            "an HTML page",
        ),
        (httpx.Response(200, content=b"\x00\xffgarbage"), "not an OES result"),
        (httpx.Response(200, json={"detected_peaks": "many"}), "detected_peaks"),
        (httpx.Response(200, json={"detected_peaks": [{"manual": True}]}), "peak_id"),
    ],
)
def test_unreadable_answers_become_clear_failures(response: httpx.Response, expected: str) -> None:
    """Empty, HTML, binary or wrongly typed bodies fail with a message, never a traceback."""
    handler, _seen = scripted(response)
    with pytest.raises(RequestFailed, match=expected):
        run(get(client_for(handler)))


def test_key_echoed_by_the_server_is_masked() -> None:
    """Even a server that echoes the key in its error does not get it into a message."""
    handler, _seen = scripted(httpx.Response(400, json={"detail": f"key {KEY} lacks scope"}))

    async def patch() -> None:
        async with client_for(handler) as client:
            await client.patch_peak(ENTRY, "p1", "Ga_417.2")

    with pytest.raises(RequestFailed) as caught:
        run(patch())
    assert KEY not in caught.value.reason
    assert "***" in caught.value.reason


def test_waits_are_full_jitter_and_honour_retry_after() -> None:
    """Each wait lies in the full-jitter window, and is never shorter than the server's Retry-After."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_attempts=6, sleep=record)
    handler, _ = scripted(
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(503),
        httpx.Response(200, content=ok_body()),
    )
    assert run(get(client_for(handler, retry=policy))).attempts == 5
    assert len(waits) == 4
    for attempt, wait in enumerate(waits, start=1):
        window = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        if attempt == 3:
            assert 3.0 <= wait <= max(3.0, window)
        else:
            assert 0.0 <= wait <= window


def test_in_flight_requests_never_exceed_concurrency() -> None:
    """However many callers, at most `concurrency` requests are in flight."""
    in_flight = peak = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, content=ok_body())

    async def many() -> None:
        connection = Connection(endpoint="https://api.example.test/", api_key=KEY)
        async with ApiClient(connection, concurrency=3, transport=httpx.MockTransport(handle)) as client:
            await asyncio.gather(*(client.get_result(ENTRY) for _ in range(20)))

    run(many())
    assert peak == 3


def test_stopping_client_sends_nothing_new() -> None:
    """After stop(), requests are refused before anything is sent."""
    handler, seen = scripted(httpx.Response(200, content=ok_body()))

    async def stopped() -> None:
        async with client_for(handler) as client:
            client.stop()
            with pytest.raises(RunStopped):
                await client.get_result(ENTRY)

    run(stopped())
    assert seen == []


def test_stop_during_backoff_wakes_the_wait_and_sends_nothing_more() -> None:
    """A signal during a long backoff ends the wait at once rather than sleeping it out."""
    handler, seen = scripted(httpx.Response(503, headers={"Retry-After": "100"}))
    policy = RetryPolicy(max_attempts=3)

    async def interrupted() -> None:
        async with client_for(handler, retry=policy) as client:
            task = asyncio.ensure_future(client.get_result(ENTRY))
            await asyncio.sleep(0.05)
            client.stop()
            with pytest.raises(RunStopped):
                await asyncio.wait_for(task, timeout=2)

    run(interrupted())
    assert len(seen) == 1


def limiter_starts(rate: float, count: int, *, clock_at: float = 0.0) -> list[float]:
    """When `count` requests start under a RateLimiter of `rate`, on a fake clock that sleeping advances."""
    clock = [clock_at]
    starts: list[float] = []

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    async def take(limiter: RateLimiter) -> None:
        for _ in range(count):
            await limiter.acquire()
            starts.append(clock[0])

    run(take(RateLimiter(rate, clock=lambda: clock[0], sleep=sleep)))
    return starts


def test_rate_limiter_spaces_requests() -> None:
    """At R per second, requests start 1/R apart."""
    starts = limiter_starts(4, 5, clock_at=100.0)
    # The fifth waits for the margin too: five starts within one closed second would be R + 1.
    assert starts == pytest.approx([100.0, 100.25, 100.5, 100.75, 101.0 + RateLimiter.MARGIN])


def test_a_trickling_answer_is_cut_at_the_timeout() -> None:
    """--timeout bounds the whole exchange, not only each read: a slow answer is a timeout, retried."""
    calls = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return httpx.Response(200, content=ok_body())

    async def go() -> Any:
        connection = Connection(endpoint="https://api.example.test/", api_key=KEY, timeout=0.05)
        retry = RetryPolicy.without_waits()
        async with ApiClient(connection, retry=retry, transport=httpx.MockTransport(slow)) as client:
            return await client.get_result(ENTRY)

    assert run(go()).attempts == 2


def test_retries_are_logged_with_the_request_they_concern(caplog: pytest.LogCaptureFixture) -> None:
    """At -v each retry names the method and path, what failed, and the wait."""
    handler, _seen = scripted(
        httpx.Response(503, json={"detail": "busy"}), httpx.Response(200, content=ok_body())
    )
    with caplog.at_level("INFO", logger="reconciler.retry"):
        run(get(client_for(handler)))
    assert f"GET /oes/{ENTRY}: attempt 1 failed (HTTP 503: busy); retrying in 0.00 s" in caplog.messages


def test_rate_limiter_never_lets_more_than_r_start_in_a_second() -> None:
    """Over many requests, no one-second window holds more than R starts, even a closed one."""
    starts = limiter_starts(10, 40)
    busiest = max(sum(1 for t in starts if first <= t <= first + 1.0) for first in starts)
    assert busiest == 10
    assert starts[10] == pytest.approx(1.0 + RateLimiter.MARGIN)
