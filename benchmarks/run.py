"""Benchmark of `oes-reconcile apply` against the sandbox on loopback: requests, time, memory, start-up.

`python benchmarks/run.py` measures the targets of issue 4 (a few minutes); `--smoke` is a seconds-long
run for CI that asserts request counts (exit 1 on a mismatch) and never times anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

from figures import Results
from measure import ChildFailed, work_folder
from scenarios import (
    Setup,
    measure_capacity,
    measure_floor,
    measure_naive,
    measure_rate_limit,
    measure_size,
    measure_startup,
)
from targets import Verdict, all_runs, bound_seconds, render, verdicts

from reconciler.record import STATE_VARIABLE, state_path

SMOKE_ENTRIES = 20
SMOKE_LATENCY_MS = 5.0
SMOKE_RATE = 200.0
RATE_RUN_SECONDS = 3.0  # how long the rate-limit run lasts at the limit, by default


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--entries", type=_positive, default=1000, help="data entries of the main apply")
    parser.add_argument("--peaks", type=_positive, default=5, help="peaks per entry (all named by overrides)")
    parser.add_argument("--points", type=_positive, default=2048, help="points per spectrum")
    parser.add_argument("--differing", type=int, default=1, help="peaks per entry that differ")
    parser.add_argument("--latency-ms", type=float, default=25.0, help="sandbox latency per request")
    parser.add_argument("--concurrency", type=_positive, default=8, help="apply --concurrency")
    parser.add_argument(
        "--naive", action=argparse.BooleanOptionalAction, default=True, help="time the naive loop"
    )
    parser.add_argument(
        "--naive-sample", type=_positive, default=500, help="overrides the naive loop is timed on"
    )
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the same requests through the CLI's HTTP client alone (benchmarks/floor.py)",
    )
    parser.add_argument(
        "--memory-sizes",
        type=_sizes,
        default=[100, 300, 1000, 3000],
        help="entries of the cost table (plan and apply at each)",
    )
    parser.add_argument("--rate-limit", type=float, default=100.0, help="R of the rate-limit run (0: skip)")
    parser.add_argument(
        "--rate-entries",
        type=_positive,
        help=f"entries of the rate-limit run (default: ~{RATE_RUN_SECONDS:g} s)",
    )
    parser.add_argument("--repeat", type=_positive, default=3, help="applies of the main size (median shown)")
    parser.add_argument(
        "--record-cost",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the record's cost (issue 10): follow each apply of the main size with one under --no-state",
    )
    parser.add_argument("--file-format", choices=("csv", "yaml"), default="csv", help="override file")
    parser.add_argument("--no-capacity", action="store_true", help="skip the zero-latency sandbox run")
    parser.add_argument("--smoke", action="store_true", help="tiny CI run: assert request counts only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (files, child output)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.entries, args.latency_ms, args.memory_sizes = SMOKE_ENTRIES, SMOKE_LATENCY_MS, [SMOKE_ENTRIES]
        args.repeat, args.naive_sample, args.rate_limit = 1, SMOKE_ENTRIES, SMOKE_RATE
        args.rate_entries, args.no_capacity = SMOKE_ENTRIES, True
    if args.entries not in args.memory_sizes:
        args.memory_sizes = sorted({*args.memory_sizes, args.entries})
    return args


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def measure(args: argparse.Namespace, setup: Setup) -> Results:
    """Every scenario the options ask for, announcing each on stderr."""
    results = Results()

    def say(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    if not args.smoke:
        say("start-up times (best of 5)")
        results.startup = measure_startup(setup)
    for entries in args.memory_sizes:
        main = entries == args.entries
        applies = args.repeat if main else 1
        paired = main and args.record_cost
        times = f" x{applies}" if applies > 1 else ""
        pairs = ", each followed by apply --no-state" if paired else ""
        say(f"{entries} entries: plan, then apply{times}{pairs}")
        results.sizes.append(measure_size(setup, entries, applies=applies, rerun=args.smoke, paired=paired))
    if args.naive:
        say(f"naive loop over {args.naive_sample} overrides")
        results.naive = measure_naive(setup, args.entries, sample=args.naive_sample)
    if args.floor:
        say(f"HTTP floor: the requests of {args.entries} entries through the ApiClient alone")
        results.floor = measure_floor(setup, args.entries)
    if args.rate_limit > 0:
        per_entry = 1 + args.differing
        entries = args.rate_entries or max(1, math.ceil(args.rate_limit * RATE_RUN_SECONDS / per_entry))
        say(f"apply --rate-limit {args.rate_limit:g} over {entries} entries")
        results.rate = measure_rate_limit(setup, entries, rate=args.rate_limit)
    if not args.no_capacity:
        say(f"{args.entries} entries against a sandbox with no latency")
        results.capacity = measure_capacity(setup, args.entries)
    return results


def problems(results: Results, args: argparse.Namespace) -> list[str]:
    """Request-count mismatches: what the smoke test asserts (and every run checks)."""
    runs = all_runs(results)
    found = [problem for run in runs for problem in run.problems(concurrency=args.concurrency)]
    for size in results.sizes:
        for recorded, unrecorded in zip(size.applies, size.unrecorded, strict=False):
            # The synthetic data shows every peak's candidate key: no element-only match, which a record
            # that has not set the peak would PATCH once "to be sure". So: the same requests both ways.
            if (recorded.gets, recorded.patches) != (unrecorded.gets, unrecorded.patches):
                found.append(
                    f"apply of {size.entries} entries: {recorded.gets} GETs + {recorded.patches} PATCHes "
                    f"with the record, {unrecorded.gets} + {unrecorded.patches} with --no-state; "
                    "expected the same"
                )
    naive = results.naive
    if naive is not None and naive.patches_seen != naive.sample:
        found.append(f"naive loop: sent {naive.sample} PATCHes, the sandbox saw {naive.patches_seen}")
    floor = results.floor
    if floor is not None and (floor.gets, floor.patches) != (floor.entries, floor.entries * args.differing):
        found.append(
            f"HTTP floor: {floor.gets} GETs + {floor.patches} PATCHes, "
            f"expected {floor.entries} + {floor.entries * args.differing}"
        )
    return found


def _heading(args: argparse.Namespace, about: dict[str, Any]) -> list[str]:
    return [
        f"oes-reconcile benchmark{' (smoke: counts only, times not judged)' if args.smoke else ''}",
        f"data: {args.peaks} peaks per entry, {args.points} points per spectrum, {args.differing} "
        f"differing per entry, {args.file_format.upper()} overrides; sandbox latency "
        f"{args.latency_ms:g} ms; apply --concurrency {args.concurrency}",
        f"machine: {about['cpus']} CPUs ({about['cpu_model']}), Python {about['python']}, {about['system']}",
    ]


def to_json(results: Results, args: argparse.Namespace, found: list[Verdict], about: dict[str, Any]) -> str:
    main = next(size for size in results.sizes if size.entries == args.entries)
    bound = bound_seconds(main.apply, latency=args.latency_ms / 1000, concurrency=args.concurrency)
    document = {
        "machine": about,
        "settings": {k: v for k, v in vars(args).items() if k not in {"json", "keep"}},
        "bound_seconds": bound,
        "record_overhead": main.record_overhead,
        "results": dataclasses.asdict(results),
        "targets": [dataclasses.asdict(v) | {"verdict": v.word} for v in found],
    }
    return json.dumps(document, indent=2)


def real_records() -> dict[Path, bool]:
    """Where a CLI run with this process's own environment would keep its record, and whether each is
    there: the XDG folder (`.../oes-reconcile`), and OES_RECONCILE_STATE's file if that is set."""
    env = {k: v for k, v in os.environ.items() if k != STATE_VARIABLE}
    default = state_path(given=None, no_state=False, env=env)
    places = [] if default is None else [default.parent]
    named = os.environ.get(STATE_VARIABLE, "").strip()
    if named:
        places.append(Path(named))
    return {place: place.exists() for place in places}


def created(before: dict[Path, bool]) -> list[str]:
    """A record the benchmark's children made outside its work folder: they must never touch one."""
    return [
        f"{place} exists now and did not before the benchmark: a child wrote outside the work folder"
        for place, existed in before.items()
        if not existed and place.exists()
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    about = machine()
    records_before = real_records()
    try:
        with work_folder(prefix="oes-bench-", keep=args.keep) as work:
            setup = Setup(
                peaks=args.peaks,
                points=args.points,
                differing=args.differing,
                latency=args.latency_ms / 1000,
                concurrency=args.concurrency,
                file_format=args.file_format,
                work=work,
            )
            results = measure(args, setup)
    except ChildFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    found = verdicts(results, main=args.entries, latency=setup.latency, concurrency=args.concurrency)
    if args.smoke:
        found = [v for v in found if v.name in {"apply requests vs minimum", "requests in flight"}]
    if args.json:
        print(to_json(results, args, found, about))
    else:
        heading = _heading(args, about)
        print(render(results, found, heading=heading, latency=setup.latency, concurrency=args.concurrency))
    mismatches = problems(results, args) + created(records_before)
    for problem in mismatches:
        print(f"MISMATCH: {problem}", file=sys.stderr)
    if mismatches:
        return 1
    return 1 if args.strict and any(v.met is False for v in found) else 0


if __name__ == "__main__":
    sys.exit(main())
