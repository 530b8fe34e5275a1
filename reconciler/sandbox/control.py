"""What tests steer and watch in the sandbox: the fault knobs, and the counters of what was asked."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.errors import SandboxError

HTTP_FAULTS = ("500", "502", "503", "504", "429", "401")
FAULT_KINDS = (*HTTP_FAULTS, "drop", "timeout", "apply_then_500", "html", "empty", "garbage")
"""What a failing request does. HTTP codes answer that status (429 with `Retry-After`); `drop` closes the
connection without an answer; `timeout` stalls `timeout_delay` seconds, then answers normally;
`apply_then_500` performs a PATCH, then answers 500 (a plain 500 for a GET); `html`, `empty` and
`garbage` answer 200 with an HTML page, no body, or bytes that are not JSON."""


@dataclass(frozen=True)
class Faults:
    """How the sandbox misbehaves; the default is not at all. Unusable values are a `SandboxError`.

    `fail_first`: every distinct request (method, path, and `peak_id` for a PATCH) fails that many times
    with `fail_kind` before it is served. `fault_rate`: otherwise each request fails with this probability,
    with a kind drawn from `fault_kinds` (seeded by `seed`). `latency` is added to every request.
    """

    latency: float = 0.0
    fail_first: int = 0
    fail_kind: str = "503"
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("503",)
    seed: int = 0
    retry_after: str = "0"
    timeout_delay: float = 5.0

    def __post_init__(self) -> None:
        # A list from the command line is welcome; keep the value immutable, as the class is.
        object.__setattr__(self, "fault_kinds", tuple(self.fault_kinds))
        unknown = [kind for kind in (self.fail_kind, *self.fault_kinds) if kind not in FAULT_KINDS]
        if unknown:
            raise SandboxError(f"unknown fault kind {unknown[0]!r}; expected one of {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise SandboxError(f"fault_rate must be between 0 and 1, got {self.fault_rate}")
        if self.fault_rate and not self.fault_kinds:
            raise SandboxError("fault_rate needs at least one of fault_kinds")
        if min(self.latency, self.fail_first, self.timeout_delay) < 0:
            raise SandboxError("latency, fail_first and timeout_delay cannot be negative")


class FaultInjector:
    """Decides, request by request, whether to fail and how; thread-safe, reset when the faults change."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._failed: Counter[tuple[str, str, str | None]] = Counter()
            self._rng = random.Random(faults.seed)  # noqa: S311 (reproducible faults, not security)

    def pick(self, method: str, path: str, peak_id: str | None) -> str | None:
        """The fault kind this request meets, or None to serve it."""
        with self._lock:
            faults = self.faults
            request = (method, path, peak_id)
            if self._failed[request] < faults.fail_first:
                self._failed[request] += 1
                return faults.fail_kind
            if faults.fault_rate and self._rng.random() < faults.fault_rate:
                return self._rng.choice(faults.fault_kinds)
            return None


class Stats:
    """Thread-safe counters of the API requests served, and of admin edits apart; `snapshot()` gives JSON."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._methods: Counter[str] = Counter()
            self._paths: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._patches: Counter[tuple[str, str]] = Counter()
            self._changed: Counter[tuple[str, str]] = Counter()
            self._admin: Counter[str] = Counter({"ui-edit": 0, "reprocess": 0})
            self._in_flight = 0
            self._max_in_flight = 0
            # Starts within the last second, to find the busiest second (a rate limit's check).
            self._recent: deque[float] = deque()
            self._busiest_second = 0
            self._first: float | None = None
            self._last: float | None = None

    @contextmanager
    def request(self, method: str, path: str) -> Iterator[None]:
        """Count a request, and hold it as in flight until it is answered."""
        now = time.monotonic()
        with self._lock:
            self._methods[method] += 1
            self._paths[f"{method} {path}"] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            self._recent.append(now)
            self._busiest_second = max(self._busiest_second, len(self._recent))
            self._first = now if self._first is None else self._first
            self._last = now
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def answered(self, status: int | str) -> None:
        """Count an outcome: an HTTP status, or "drop" for a connection closed without an answer."""
        with self._lock:
            self._statuses[str(status)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def patch_sent(self, data_id: str, peak_id: str) -> None:
        """Count an authorised PATCH naming this peak, whatever its outcome (retries count again)."""
        with self._lock:
            self._patches[(data_id, peak_id)] += 1

    def peak_changed(self, data_id: str, peak_id: str) -> None:
        """Count a PATCH that changed the peak's state (not one that re-selected what was applied)."""
        with self._lock:
            self._changed[(data_id, peak_id)] += 1

    def admin(self, name: str) -> None:
        """Count an admin request that changed an entry (a UI edit, a reprocess): never a PATCH."""
        with self._lock:
            self._admin[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            patches: dict[str, dict[str, dict[str, int]]] = {}
            for (data_id, peak_id), count in sorted(self._patches.items()):
                changed = self._changed[(data_id, peak_id)]
                patches.setdefault(data_id, {})[peak_id] = {"requests": count, "changed": changed}
            return {
                "requests": sum(self._methods.values()),
                "by_method": dict(self._methods),
                "by_path": dict(self._paths),
                "statuses": dict(self._statuses),
                "faults": dict(self._faults),
                "patches": patches,
                "patches_changed": sum(self._changed.values()),
                # Admin requests are not API requests: counted here only, by name, when they succeed.
                "admin": dict(self._admin),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                # Most API requests that began within one second; when the first and last began
                # (time.monotonic(): comparable between processes of one machine; null before any).
                "busiest_second": self._busiest_second,
                "first_request_at": self._first,
                "last_request_at": self._last,
            }
