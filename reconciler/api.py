"""Talking to the API: one pooled async client, `GET /oes/{id}` and `PATCH /oes/{id}/peaks`, with retries.

Answers are read as a stream: a 2xx body goes chunk by chunk through `reconciler.fields`, which keeps only
the fields the run needs; any other body is read up to `EXCERPT_LIMIT` (only an excerpt is ever shown).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import anyio.lowlevel
import httpx
import pydantic

from reconciler import __version__
from reconciler.answers import OESResult, OESResultWithSpectra, first_problem, result_of
from reconciler.errors import AuthError, RequestFailed, RunStopped, TransientHTTPError, UnreachableError
from reconciler.fields import FieldReader, NotAnObject
from reconciler.retry import TRANSIENT_STATUSES, RetryPolicy, describe, parse_retry_after
from reconciler.settings import DEFAULT_CONCURRENCY, KEY_HELP, Connection
from reconciler.stop import INTERRUPTED, Stop, StopKind

log = logging.getLogger(__name__)

DETAIL_LIMIT = 200
EXCERPT_LIMIT = 64 * 1024  # bytes read of an answer of 300 or more: its detail, or an excerpt, is all shown
UNREACHABLE_ROUNDS = 3  # connection failures in a row per slot before the API counts as unreachable


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful exchange: the parsed result (None for a 404 on GET), HTTP status, attempts it took."""

    result: OESResult | None
    status: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request's answer as read: its status and headers, and of its body only what is needed."""

    response: httpx.Response  # status, headers and request; its body was streamed, not held
    # Below 300: the kept top-level fields (raw JSON text), or why the body is no JSON object.
    fields: dict[str, bytes] = field(default_factory=dict, repr=False)
    problem: str | None = None
    # 300 or more: the body's first `EXCERPT_LIMIT` bytes (decoded), for its detail or an excerpt.
    excerpt: bytes = field(default=b"", repr=False)

    @property
    def status_code(self) -> int:
        return self.response.status_code


class RateLimiter:
    """At most `rate` requests start in any one second, across the whole run, evenly spaced.

    Even spacing (1/rate apart) alone lets rate + 1 requests fall in a closed one-second window, and the
    server sees arrivals with some jitter; so the start of request n + rate also waits until one second
    and a small margin after the start of request n.
    """

    MARGIN = 0.02

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._window: deque[float] = deque(maxlen=max(1, math.floor(rate)))

    async def acquire(self) -> None:
        now = self._clock()
        start = max(now, self._next)
        if len(self._window) == self._window.maxlen:
            start = max(start, self._window[0] + 1.0 + self.MARGIN)
        self._window.append(start)
        self._next = start + self.interval
        if start > now:
            await self._sleep(start - now)


def _clean(text: str, secret: str) -> str:
    """A short single-line excerpt of server text, with the key (should a server echo it) masked."""
    text = " ".join(text.replace(secret, "***").split())
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "…"


def _detail(exchange: Exchange) -> Any:
    """The answer's JSON `detail`, or None when the body (its excerpt) is no JSON object carrying one.

    A body longer than the excerpt is cut, so no JSON parser takes it whole: the detail is then read as a
    top-level field, found if it ends within the excerpt (an API puts it first, and keeps it short).
    """
    if len(exchange.excerpt) < EXCERPT_LIMIT:  # the whole body
        try:
            body = json.loads(exchange.excerpt)
        except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested deeper than Python recurses
            return None
        return body.get("detail") if isinstance(body, dict) else None
    reader = FieldReader(("detail",))
    try:
        reader.feed(exchange.excerpt)
        raw = reader.fields.get("detail")
        return None if raw is None else json.loads(raw)
    except (NotAnObject, ValueError, RecursionError):
        return None


def reason_of(exchange: Exchange, secret: str) -> str:
    """What the server said: its JSON `detail`, else the kind of page, else a short excerpt."""
    response, excerpt = exchange.response, exchange.excerpt
    detail = _detail(exchange)
    if detail is not None:
        text = detail if isinstance(detail, str) else json.dumps(detail)
    elif "html" in response.headers.get("content-type", "") or excerpt.lstrip()[:1] == b"<":
        text = "an HTML page"
    else:
        text = excerpt.decode(response.encoding or "utf-8", errors="replace") or "no body"
    return _clean(text, secret) or response.reason_phrase


GENERIC_NOT_FOUND = "not found"


def is_api_not_found(exchange: Exchange) -> bool:
    """Whether a 404 is the API's own "not found" for the entry (or peak) asked about.

    The API names what it did not find: `{"detail": "no OES result for data entry <id>"}`. A 404 from a
    route the server does not have (a wrong path prefix in the endpoint, such as `https://host/v2/` where
    the API lives at `/`) carries a generic body instead: `{"detail": "Not Found"}` from FastAPI or
    Starlette, an HTML page from a proxy, or nothing. So a 404 is the API's only when its body is a JSON
    object whose `detail` is present, not empty, and not the generic "Not Found" (in any case).
    """
    detail = _detail(exchange)
    if isinstance(detail, str):
        return detail.strip().rstrip(".").casefold() not in {"", GENERIC_NOT_FOUND}
    return bool(detail)


def _absolute(base: httpx.URL, location: str) -> str:
    """A redirect's `Location` resolved against the request's URL (as typed, if it is no valid URL)."""
    try:
        return str(base.join(location))
    except (httpx.InvalidURL, ValueError):
        return location


class ApiClient:
    """The run's one HTTP client: a warm keep-alive pool, a bound on requests in flight, retries, stopping."""

    def __init__(
        self,
        connection: Connection,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.stopping = asyncio.Event()
        self.stopped: Stop | None = None
        self.abandoned = False
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._rate = RateLimiter(rate_limit, sleep=self._wait) if rate_limit else None
        # Connection attempts that failed in a row while none was ever answered: at the limit, the API
        # cannot be reached at all. Once it has answered, a failure is an outage, retried per request.
        self._unanswered = 0
        self._answered = False
        self._unreachable_after = UNREACHABLE_ROUNDS * concurrency
        self._http = httpx.AsyncClient(
            base_url=connection.endpoint,
            headers={"X-API-KEY": connection.api_key, "User-Agent": f"oes-reconcile/{__version__}"},
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx.Timeout(connection.timeout),
            transport=transport,
        )
        # Joined here, not by httpx: merging a relative path into base_url parses two URLs per request
        # (~12 us of the ~1 ms a request costs); httpx gave the base its one trailing slash.
        self._base = str(self._http.base_url)

    async def __aenter__(self) -> ApiClient:
        # httpcore imports anyio's backend on the first request, blocking the loop ~20 ms just after the
        # first rate-limit token and letting two requests out together: import it before any token.
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    def abandon(self) -> None:
        """Stop, and stop waiting for the requests in flight: they end as RunStopped(abandoned=True)."""
        self.stop()
        self.abandoned = True
        for task in self._in_flight:
            task.cancel()

    def stop(self, stop: Stop = INTERRUPTED) -> None:
        """Send nothing new; requests in flight finish. The first stop's reason is the one kept."""
        if self.stopped is None:
            self.stopped = stop
        self.stopping.set()

    async def get_result(self, data_id: str, *, spectra: bool = False) -> Answer:
        """The entry's current OES result; `result` is None when the API says it has no such entry.

        With `spectra`, the result holds the wavelength grid and corrected series too (the page's windows).

        Only the API's own 404 means that (see `is_api_not_found`); any other 404, which a wrong path in
        the endpoint gives, fails the fetch with a message asking whether the endpoint's path is right.
        """
        model = OESResultWithSpectra if spectra else OESResult
        exchange, attempts = await self._request("GET", f"oes/{quote(data_id, safe='')}", fields=model.FIELDS)
        if exchange.status_code == 404 and is_api_not_found(exchange):
            return Answer(result=None, status=404, attempts=attempts)
        return self._answer(exchange, attempts, model=model)

    async def patch_peak(
        self, data_id: str, peak_id: str, candidate_key: str, *, before_send: Callable[[], None] | None = None
    ) -> Answer:
        """Select `candidate_key` for the peak and pin it; the answer holds the updated result.

        `before_send` runs once, just before the first attempt goes on the wire (after any wait for a slot
        or a rate-limit token); if it raises, nothing is sent.
        """
        body = {"peak_id": peak_id, "candidate_key": candidate_key}
        path = f"oes/{quote(data_id, safe='')}/peaks"
        exchange, attempts = await self._request(
            "PATCH", path, body, fields=OESResult.FIELDS, before_send=before_send
        )
        return self._answer(exchange, attempts)

    def _answer(self, exchange: Exchange, attempts: int, *, model: type[OESResult] = OESResult) -> Answer:
        status = exchange.status_code
        if status >= 300:
            raise RequestFailed(self._refusal(exchange), status=status, attempts=attempts)
        problem = exchange.problem
        if problem is None:
            try:
                result = result_of(model, exchange.fields)
            except pydantic.ValidationError as exc:
                # A position would be one in the rebuilt document, not in the answer: left out.
                problem = _AT.sub("", first_problem(exc))
            else:
                return Answer(result=result, status=status, attempts=attempts)
        html = "html" in exchange.response.headers.get("content-type", "")
        problem = "an HTML page" if html else _clean(problem, self.connection.api_key)
        reason = f"HTTP {status} but the body is not an OES result ({problem})"
        raise RequestFailed(reason, status=status, attempts=attempts)

    def _refusal(self, exchange: Exchange) -> str:
        """Why an answer of 300 or more holds no result: a redirect, a 404 of no API route, or a refusal."""
        response, status, secret = exchange.response, exchange.status_code, self.connection.api_key
        request = response.request
        if 300 <= status < 400:
            # Never followed (httpx follows nothing unless asked): the key would go wherever it points.
            location = response.headers.get("location")
            target = f" to {_clean(_absolute(request.url, location), secret)}" if location else ""
            return (
                f"HTTP {status} redirect{target}; set --endpoint to where the API lives: redirects are "
                "not followed, so the key is never sent elsewhere"
            )
        reason = reason_of(exchange, secret)
        if status == 404 and not is_api_not_found(exchange):
            return (
                f"HTTP 404 but not the API's 'not found' for an entry (server said: {reason}); is the "
                f"endpoint's path right? ({request.method} {_clean(str(request.url), secret)})"
            )
        return f"HTTP {status}: {reason}"

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, str] | None = None,
        *,
        fields: tuple[str, ...],
        before_send: Callable[[], None] | None = None,
    ) -> tuple[Exchange, int]:
        attempts = sent = 0

        def on_wire() -> None:
            nonlocal sent
            if sent == 0 and before_send is not None:
                before_send()
            sent += 1

        retrying = self.retry.retrying(request=f"{method} /{path}", sleep=self._sleep)
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    exchange = await self._send_once(method, path, body, fields, on_wire)
        except RunStopped as exc:
            exc.attempts = sent
            raise
        except (TransientHTTPError, httpx.RequestError) as exc:
            tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"
            status = exc.status if isinstance(exc, TransientHTTPError) else None
            raise RequestFailed(
                f"{describe(exc)}; gave up after {tried}", status=status, attempts=attempts
            ) from None
        return exchange, attempts

    async def _send_once(
        self,
        method: str,
        path: str,
        body: dict[str, str] | None,
        fields: tuple[str, ...],
        on_wire: Callable[[], None] | None = None,
    ) -> Exchange:
        if self.stopping.is_set():
            raise RunStopped
        async with self._slots:
            if self._rate is not None:
                await self._rate.acquire()
            if self.stopping.is_set():
                raise RunStopped
            if on_wire is not None:
                on_wire()
            exchange = await self._reaching(method, path, body, fields)
        status = exchange.status_code
        log.debug("%s /%s -> %d", method, path, status)
        if status in {401, 403}:
            refused = AuthError(
                f"the API refused the key (HTTP {status} on {method} /{path}); "
                f"check it is valid for {self.connection.endpoint}: {KEY_HELP}"
            )
            self.stop(Stop(StopKind.REFUSED_KEY, "the API refused the key", refused))
            raise refused
        if status in TRANSIENT_STATUSES:
            retry_after = parse_retry_after(exchange.response.headers.get("retry-after"))
            reason = reason_of(exchange, self.connection.api_key)
            raise TransientHTTPError(status, reason, retry_after)
        return exchange

    async def _reaching(
        self, method: str, path: str, body: dict[str, str] | None, fields: tuple[str, ...]
    ) -> Exchange:
        """One exchange; until the API first answers, connection failures are counted, and at the limit
        the run stops as unreachable.

        Retrying each entry six times against a host that never answers would take many minutes and
        bury the cause under one `fetch_failed` per entry; 3 x `--concurrency` failures before any answer
        is every worker failing three times.
        """
        try:
            exchange = await self._bounded(method, path, body, fields)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if not self._answered:
                self._unanswered += 1
                if self._unanswered >= self._unreachable_after:
                    self._stop_unreachable(exc)
            raise
        self._answered = True
        return exchange

    def _stop_unreachable(self, exc: BaseException) -> None:
        endpoint = self.connection.endpoint
        error = UnreachableError(
            f"API unreachable at {endpoint}: {self._unanswered} connection attempts in a row failed "
            f"({describe(exc)}) and none was answered; nothing more was sent. Check --endpoint "
            "(or AS_API_ENDPOINT), the network and any proxy."
        )
        self.stop(Stop(StopKind.UNREACHABLE, f"API unreachable at {endpoint}", error))

    async def _bounded(
        self, method: str, path: str, body: dict[str, str] | None, fields: tuple[str, ...]
    ) -> Exchange:
        """One exchange within `--timeout` in all (the body's streamed read too): httpx bounds each read, a
        trickling server is cut here."""
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            async with asyncio.timeout(self.connection.timeout):
                async with self._http.stream(method, self._base + path, json=body) as response:
                    if response.status_code < 300:
                        return await _read_fields(response, fields)
                    return Exchange(response, excerpt=await _read_excerpt(response))
        except TimeoutError:
            raise httpx.ReadTimeout(f"no whole answer within {self.connection.timeout:g} s") from None
        except asyncio.CancelledError:
            if self.abandoned and task.uncancel() == 0:  # our own cancel (abandon), not the caller's
                raise RunStopped(abandoned=True) from None
            raise
        finally:
            self._in_flight.discard(task)

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once when the run is stopping: nothing new is sent after a signal."""
        sleeper = asyncio.ensure_future(self.retry.sleep(seconds))
        stopper = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()
        if self.stopping.is_set():
            raise RunStopped

    async def _wait(self, seconds: float) -> None:
        """Wait for a rate-limit slot, but wake at once when the run is stopping."""
        try:
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        except TimeoutError:
            return
        raise RunStopped


# pydantic's position in a document: in the one rebuilt from the kept fields, it would mislead.
_AT = re.compile(r" at line \d+ column \d+$")


async def _read_fields(response: httpx.Response, fields: tuple[str, ...]) -> Exchange:
    """A 2xx answer's kept fields, read chunk by chunk; a body that is no JSON object is read no further."""
    reader = FieldReader(fields)
    try:
        async for chunk in response.aiter_bytes():
            reader.feed(chunk)
        return Exchange(response, fields=reader.finish())
    except NotAnObject as exc:
        return Exchange(response, problem=str(exc))


async def _read_excerpt(response: httpx.Response) -> bytes:
    """The first `EXCERPT_LIMIT` bytes of an answer's (decoded) body; the rest is left unread."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_LIMIT:
            break
    return b"".join(parts)[:EXCERPT_LIMIT]
