"""What the benchmark measured, as typed values: one CLI run, one size, and each side measurement."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One CLI run against a sandbox: time, memory, and what the sandbox saw."""

    command: str
    entries: int
    seconds: float
    peak_rss_mb: float
    gets: int
    patches: int
    expected_gets: int
    expected_patches: int
    statuses: dict[str, int]
    max_in_flight: int
    busiest_second: int
    sandbox_cpu_seconds: float | None
    client_cpu_seconds: float
    other_cpu_seconds: float | None
    listen_drops: int
    startup_seconds: float
    requests_seconds: float
    tail_seconds: float
    state: bool = True  # False: run with --no-state (no record kept)

    @property
    def requests(self) -> int:
        return self.gets + self.patches

    @property
    def minimum(self) -> int:
        return self.expected_gets + self.expected_patches

    def cycle_ms(self, concurrency: int) -> float:
        """Time per request per slot between the first and last request: latency plus what it costs."""
        rounds = self.requests / concurrency - 1
        return self.requests_seconds / rounds * 1000 if rounds > 0 else 0.0

    def problems(self, *, concurrency: int) -> list[str]:
        """Count mismatches (the smoke test's assertions); empty when the run did exactly what it should."""
        where = f"{self.command}{'' if self.state else ' --no-state'} of {self.entries} entries"
        found = []
        if (self.gets, self.patches) != (self.expected_gets, self.expected_patches):
            found.append(
                f"{where}: {self.gets} GETs + {self.patches} PATCHes, "
                f"expected {self.expected_gets} + {self.expected_patches}"
            )
        if set(self.statuses) - {"200"}:
            found.append(f"{where}: answers other than 200: {self.statuses}")
        if self.max_in_flight > concurrency:
            found.append(f"{where}: {self.max_in_flight} requests in flight, more than {concurrency}")
        return found


@dataclass(frozen=True, slots=True)
class SizeFigures:
    """`plan`, then `apply` (possibly several times, each on fresh data) of one number of entries.

    `unrecorded`: the same applies with `--no-state`, each run right after its recorded twin (issue 10).
    """

    entries: int
    plan: RunFigures
    applies: list[RunFigures]
    rerun: RunFigures | None = None
    unrecorded: list[RunFigures] = field(default_factory=list)

    @property
    def apply(self) -> RunFigures:
        """The median apply by wall time."""
        return _median(self.applies)

    @property
    def apply_unrecorded(self) -> RunFigures | None:
        """The median apply with `--no-state`, if any was run."""
        return _median(self.unrecorded) if self.unrecorded else None

    @property
    def record_overhead(self) -> float | None:
        """What the record added to the median apply, as a fraction of the `--no-state` median."""
        unrecorded = self.apply_unrecorded
        if unrecorded is None:
            return None
        return (self.apply.seconds - unrecorded.seconds) / unrecorded.seconds


def _median(runs: list[RunFigures]) -> RunFigures:
    """The median run by wall time (the upper one of an even number)."""
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


@dataclass(frozen=True, slots=True)
class NaiveFigures:
    """The naive loop timed over `sample` overrides, extrapolated linearly to all `overrides`."""

    sample: int
    overrides: int
    sample_seconds: float
    patches_seen: int

    @property
    def per_patch(self) -> float:
        return self.sample_seconds / self.sample

    @property
    def extrapolated_seconds(self) -> float:
        return self.per_patch * self.overrides


@dataclass(frozen=True, slots=True)
class RateFigures:
    """An apply with `--rate-limit`: how long it took and how fast the sandbox saw requests arrive."""

    rate: float
    run: RunFigures

    @property
    def span_seconds(self) -> float:
        """From the first request to the last, as the sandbox saw them arrive."""
        return self.run.requests_seconds

    @property
    def floor_seconds(self) -> float:
        """The issue's floor: N requests at R per second take at least N / R seconds."""
        return self.run.requests / self.rate

    @property
    def mean_rate(self) -> float:
        return (self.run.requests - 1) / self.span_seconds if self.span_seconds else 0.0


@dataclass(frozen=True, slots=True)
class FloorFigures:
    """The same requests through the CLI's ApiClient alone (benchmarks/floor.py).

    `seconds` runs from the first request to the last as the sandbox saw them, as apply's `requests_seconds`.
    """

    entries: int
    requests: int
    gets: int
    patches: int
    seconds: float
    cpu_seconds: float

    @property
    def cpu_per_request_ms(self) -> float:
        return self.cpu_seconds / self.requests * 1000 if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class StartupFigures:
    """Best-of-5 wall times of two commands that should feel instant."""

    help_seconds: float
    validate_seconds: float


@dataclass(frozen=True, slots=True)
class CapacityFigures:
    """The same apply with no injected latency: a lower bound on what the sandbox sustains."""

    run: RunFigures

    @property
    def requests_per_second(self) -> float:
        return self.run.requests / self.run.seconds

    @property
    def cpu_per_request_ms(self) -> float | None:
        cpu = self.run.sandbox_cpu_seconds
        return cpu / self.run.requests * 1000 if cpu is not None and self.run.requests else None


@dataclass
class Results:
    """Everything one benchmark run measured, in the order it printed it."""

    sizes: list[SizeFigures] = field(default_factory=list)
    naive: NaiveFigures | None = None
    floor: FloorFigures | None = None
    rate: RateFigures | None = None
    capacity: CapacityFigures | None = None
    startup: StartupFigures | None = None
