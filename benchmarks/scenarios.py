"""The benchmark's measurements: each starts its own sandbox process and runs the real CLI against it."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from figures import (
    CapacityFigures,
    FloorFigures,
    NaiveFigures,
    RateFigures,
    RunFigures,
    SizeFigures,
    StartupFigures,
)
from measure import ChildFailed, Measured, best_of, child_env, cli_command, run_measured
from naive import patch_every_override
from server import API_KEY, Data, SandboxProcess

from reconciler.sandbox.synthetic import synthetic_overrides

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "overrides.yaml"


@dataclass(frozen=True, slots=True)
class Setup:
    """What every scenario shares: the shape of the data, the sandbox's latency, the CLI's concurrency."""

    peaks: int
    points: int
    differing: int
    latency: float
    concurrency: int
    file_format: str
    work: Path

    def data(self, entries: int) -> Data:
        return Data(entries, self.peaks, self.points, self.differing)

    def env(self) -> dict[str, str]:
        """The environment of every child: the record (and any other state) inside the work folder."""
        return child_env(self.work)

    def sandbox(self, data: Data, *, name: str, latency: float | None = None) -> SandboxProcess:
        """A sandbox process serving `data`, at this setup's latency unless told otherwise."""
        latency = self.latency if latency is None else latency
        return SandboxProcess(data, latency=latency, log_dir=self.work, env=self.env(), name=name)


def overrides_file(setup: Setup, entries: int) -> Path:
    """The override file that asks for every peak of the synthetic data (written once per size)."""
    path = setup.work / f"overrides-{entries}.{setup.file_format}"
    if path.exists():
        return path
    wanted = synthetic_overrides(entries, peaks=setup.peaks, differing=setup.differing)
    if setup.file_format == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("data_id", "peak_id", "candidate_key"))
            writer.writerows(wanted)
    else:
        mapping: dict[str, dict[str, str]] = {}
        for data_id, peak_id, key in wanted:
            mapping.setdefault(data_id, {})[peak_id] = key
        text = yaml.safe_dump({"version": 1, "overrides": mapping}, sort_keys=False)
        path.write_text(text, encoding="utf-8")
    return path


def _env(setup: Setup, url: str) -> dict[str, str]:
    env = {k: v for k, v in setup.env().items() if k not in {"ATOMSCALE_API_KEY", "AS_API_KEY"}}
    return env | {"AS_API_ENDPOINT": url, "AS_API_KEY": API_KEY}


def run_cli(
    sandbox: SandboxProcess,
    setup: Setup,
    command: str,
    *,
    expected_patches: int,
    name: str,
    extra: tuple[str, ...] = (),
    state: bool = True,
) -> RunFigures:
    """Run `plan` or `apply` once on fresh stats; a non-zero exit is a `ChildFailed`.

    With `state` (the default) the record is the default one, `$XDG_STATE_HOME/oes-reconcile/state.db`
    in the work folder, shared by all runs of the benchmark; without, the run passes `--no-state`.
    """
    entries = sandbox.data.entries
    sandbox.reset_stats()
    cpu_before = sandbox.cpu_seconds()
    argv = [*cli_command(), command, "-q", f"--concurrency={setup.concurrency}", *extra]
    if not state:
        argv.append("--no-state")
    argv.append(str(overrides_file(setup, entries)))
    measured = run_measured(argv, env=_env(setup, sandbox.url), out_dir=setup.work, name=name)
    cpu_after = sandbox.cpu_seconds()
    _check_exit(measured, argv)
    stats = sandbox.stats()
    methods = stats["by_method"]
    first, last = stats["first_request_at"], stats["last_request_at"]
    if first is None or last is None:
        raise ChildFailed(f"{command} sent no request")
    sandbox_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    # What the rest of the machine used meanwhile: a sign the figures were disturbed.
    busy = measured.machine.busy_seconds
    other_cpu = None
    if busy and sandbox_cpu is not None:
        other_cpu = max(0.0, busy - measured.cpu_seconds - sandbox_cpu)
    return RunFigures(
        command=command,
        entries=entries,
        seconds=measured.seconds,
        peak_rss_mb=measured.peak_rss_mb,
        gets=methods.get("GET", 0),
        patches=methods.get("PATCH", 0),
        expected_gets=entries,
        expected_patches=expected_patches,
        statuses=stats["statuses"],
        max_in_flight=stats["max_in_flight"],
        busiest_second=stats["busiest_second"],
        sandbox_cpu_seconds=sandbox_cpu,
        client_cpu_seconds=measured.cpu_seconds,
        other_cpu_seconds=other_cpu,
        listen_drops=measured.machine.listen_drops,
        startup_seconds=first - measured.started_at,
        requests_seconds=last - first,
        tail_seconds=measured.ended_at - last,
        state=state,
    )


def _check_exit(measured: Measured, argv: list[str]) -> None:
    if measured.returncode != 0:
        raise ChildFailed(f"{' '.join(argv[-4:])} exited {measured.returncode}:\n{measured.tail()}")


def measure_size(
    setup: Setup, entries: int, *, applies: int = 1, rerun: bool = False, paired: bool = False
) -> SizeFigures:
    """`plan` then `apply` of fresh data; further applies each on a freshly started sandbox.

    `rerun`: a second apply on the same sandbox, now in sync, which must send GETs only.
    `paired`: each apply is followed by one with `--no-state` on a fresh sandbox of its own (record,
    no record, record, ...), so that both medians come from the same stretch of the machine's time.
    Both must send the same requests: `--synthetic` shows every peak's candidate key, so there is no
    element-only match, the one thing a record would PATCH more ("to be sure", once per peak).
    """
    data = setup.data(entries)
    runs: list[RunFigures] = []
    unrecorded: list[RunFigures] = []
    again: RunFigures | None = None
    for index in range(applies):
        suffix = f"-{index}" if index else ""
        with setup.sandbox(data, name=f"sandbox-{entries}{suffix}") as sandbox:
            if index == 0:
                plan = run_cli(sandbox, setup, "plan", expected_patches=0, name=f"plan-{entries}")
            name = f"apply-{entries}{suffix}"
            runs.append(run_cli(sandbox, setup, "apply", expected_patches=data.patches, name=name))
            if rerun and index == 0:
                again = run_cli(sandbox, setup, "apply", expected_patches=0, name=f"rerun-{entries}")
        if paired:
            with setup.sandbox(data, name=f"sandbox-{entries}-no-state{suffix}") as sandbox:
                name = f"apply-{entries}-no-state{suffix}"
                figures = run_cli(
                    sandbox, setup, "apply", expected_patches=data.patches, name=name, state=False
                )
                unrecorded.append(figures)
    return SizeFigures(entries, plan, runs, again, unrecorded)


def measure_naive(setup: Setup, entries: int, *, sample: int) -> NaiveFigures:
    """The naive loop over the first `sample` overrides of the same fresh data, with the same latency."""
    data = setup.data(entries)
    path = overrides_file(setup, entries) if setup.file_format == "csv" else _csv_for_naive(setup, entries)
    sample = min(sample, data.overrides)
    with setup.sandbox(data, name="sandbox-naive") as sandbox:
        sandbox.reset_stats()
        run = patch_every_override(sandbox.url, API_KEY, path, limit=sample)
        seen = sandbox.stats()["by_method"].get("PATCH", 0)
    return NaiveFigures(run.patches, data.overrides, run.seconds, seen)


def _csv_for_naive(setup: Setup, entries: int) -> Path:
    csv_setup = Setup(
        setup.peaks, setup.points, setup.differing, setup.latency, setup.concurrency, "csv", setup.work
    )
    return overrides_file(csv_setup, entries)


def measure_floor(setup: Setup, entries: int) -> FloorFigures:
    """benchmarks/floor.py against fresh data: the requests of an apply, and nothing else."""
    data = setup.data(entries)
    path = overrides_file(setup, entries) if setup.file_format == "csv" else _csv_for_naive(setup, entries)
    with setup.sandbox(data, name="sandbox-floor") as sandbox:
        sandbox.reset_stats()
        argv = [sys.executable, str(HERE / "floor.py"), sandbox.url, str(path)]
        argv.append(f"--concurrency={setup.concurrency}")
        measured = run_measured(argv, env=_env(setup, sandbox.url), out_dir=setup.work, name="floor")
        _check_exit(measured, argv)
        stats = sandbox.stats()
    figures = json.loads(measured.stdout.read_text(encoding="utf-8"))
    return FloorFigures(
        entries=entries,
        requests=figures["requests"],
        gets=stats["by_method"].get("GET", 0),
        patches=stats["by_method"].get("PATCH", 0),
        seconds=(stats["last_request_at"] or 0.0) - (stats["first_request_at"] or 0.0),
        cpu_seconds=figures["cpu_seconds"],
    )


def measure_rate_limit(setup: Setup, entries: int, *, rate: float) -> RateFigures:
    """An apply with `--rate-limit rate`, the sandbox timing when each request arrives."""
    data = setup.data(entries)
    with setup.sandbox(data, name="sandbox-rate") as sandbox:
        run = run_cli(
            sandbox,
            setup,
            "apply",
            expected_patches=data.patches,
            name="apply-rate",
            extra=(f"--rate-limit={rate:g}",),
        )
    return RateFigures(rate, run)


def measure_capacity(setup: Setup, entries: int) -> CapacityFigures:
    """The same apply against a sandbox with no latency: requests/second and sandbox CPU per request."""
    data = setup.data(entries)
    with setup.sandbox(data, latency=0.0, name="sandbox-capacity") as sandbox:
        run = run_cli(sandbox, setup, "apply", expected_patches=data.patches, name="apply-capacity")
    return CapacityFigures(run)


def measure_startup(setup: Setup, *, runs: int = 5) -> StartupFigures:
    """`oes-reconcile --help` and `validate examples/overrides.yaml`, best of `runs` each."""
    env = setup.env()
    cli = cli_command()
    help_seconds = best_of([*cli, "--help"], runs=runs, env=env, out_dir=setup.work, name="help")
    validate = [*cli, "validate", "-q", str(EXAMPLES)]
    validate_seconds = best_of(validate, runs=runs, env=env, out_dir=setup.work, name="validate")
    return StartupFigures(help_seconds, validate_seconds)
