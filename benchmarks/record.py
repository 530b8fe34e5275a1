"""Benchmark of the record: what recording a PATCH costs, and a plan's look-ups in a large database.

`python benchmarks/record.py` fills a database with 100,000 recorded PATCHes through the Record API, as
apply writes them (a row committed before each PATCH, its outcome after), then in a fresh process times
`Record.memory()` for the 1,000 entries of a plan and measures how much it grows that process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.models import Item, PatchRecord, Status
from reconciler.record import Record, open_record

ENDPOINT = "https://api.atomscale.ai/"
# How the PATCHes of a long-lived record ended: mostly applied, some refused, a few cut short.
# (Status.CHANGE: stopped before a retry; None: left `sending` by a killed run.)
STATUSES: tuple[Status | None, ...] = (Status.APPLIED, Status.FAILED, Status.CHANGE, None)
WEIGHTS = (0.90, 0.05, 0.03, 0.02)


@dataclass(frozen=True)
class Filled:
    """A database filled: how many PATCHes, in how many runs, and what recording each one cost."""

    patches: int
    runs: int
    seconds: float
    bytes: int

    @property
    def per_patch_us(self) -> float:
        return self.seconds / self.patches * 1e6


def data_id(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def fill(path: Path, *, patches: int, entries: int, peaks: int, per_run: int, seed: int) -> Filled:
    """Record `patches` PATCHes in runs of `per_run`, each on a random peak of `entries` entries."""
    chance = random.Random(seed)
    started = time.perf_counter()
    runs = 0
    with open_record(path, create=True) as record:
        for first in range(0, patches, per_run):
            run_id = record.begin_run(
                command="apply",
                endpoint=ENDPOINT,
                sources=["overrides/"],
                git_commit="0" * 40,
                git_dirty=False,
                started_at="2026-01-01T00:00:00Z",
            )
            runs += 1
            for n in range(first, min(first + per_run, patches)):
                status = chance.choices(STATUSES, WEIGHTS)[0]
                _record_one(record, run_id, chance, n, entries=entries, peaks=peaks, status=status)
            record.end_run(
                run_id, counts={"applied": per_run}, exit_code=0, finished_at="2026-01-01T00:01:00Z"
            )
    seconds = time.perf_counter() - started
    return Filled(patches=patches, runs=runs, seconds=seconds, bytes=path.stat().st_size)


def _record_one(
    record: Record,
    run_id: int,
    chance: random.Random,
    n: int,
    *,
    entries: int,
    peaks: int,
    status: Status | None,
) -> None:
    item = Item(
        data_id=data_id(chance.randrange(entries)),
        peak_id=f"p{chance.randrange(peaks) + 1}",
        desired=f"Ga_{400 + n % 50}.2",
        status=Status.CHANGE,
        source="overrides/gan.yaml:4",
        current="In_451.1",
        element="In",
        manual=bool(n % 2),
        wavelength_nm=400.0 + n % 50,
    )
    patch_id = record.sending(run_id, item)
    if status is not None:  # None: left `sending`, as by a killed run
        done = replace(item, status=status, last_updated=f"2026-01-01T00:00:{n % 60:02d}Z")
        record.outcome(patch_id, PatchRecord(done, item.current, 200 if status is Status.APPLIED else 400, 1))


def lookup(path: Path, *, entries: int, sample: int, seed: int) -> dict[str, Any]:
    """In a fresh process: `memory()` of `sample` entries, its time (first call, then warm) and how
    much it raised the process's peak RSS."""
    ids = random.Random(seed).sample([data_id(n) for n in range(entries)], sample)
    argv = [sys.executable, __file__, "--lookup", str(path)]
    done = subprocess.run(argv, input=json.dumps(ids), capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _lookup_child(path: str) -> None:
    """The measured side: ids on stdin, figures as JSON on stdout."""
    ids = json.loads(sys.stdin.read())
    with open_record(path, create=False) as record:
        record.runs(ENDPOINT, limit=1)  # the connection and schema are read before the figure
        before = _peak_rss_kb()
        started = time.perf_counter()
        memory = record.memory(ENDPOINT, ids)
        first = time.perf_counter() - started
        after = _peak_rss_kb()
        started = time.perf_counter()
        record.memory(ENDPOINT, ids)
        warm = time.perf_counter() - started
    peaks = sum(len(entry.peaks) for entry in memory.values())
    figures = {
        "entries_asked": len(ids),
        "entries_found": len(memory),
        "peaks_found": peaks,
        "seconds": first,
        "seconds_warm": warm,
        "peak_rss_before_mb": before / 1024,
        "peak_rss_after_mb": after / 1024,
        "peak_rss_growth_mb": (after - before) / 1024,
    }
    print(json.dumps(figures))


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patches", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000, help="entries the PATCHes fall on")
    parser.add_argument("--peaks", type=int, default=5)
    parser.add_argument("--per-run", type=int, default=1_000, help="PATCHes per recorded run")
    parser.add_argument("--sample", type=int, default=1_000, help="entries a plan looks up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="PATH", help="fill this database and keep it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--lookup", metavar="PATH", help=argparse.SUPPRESS)  # the measured child
    args = parser.parse_args(argv)
    if args.lookup:
        _lookup_child(args.lookup)
        return 0
    with tempfile.TemporaryDirectory(prefix="oes-record-bench-") as folder:
        path = Path(args.keep) if args.keep else Path(folder) / "state.db"
        filled = fill(
            path,
            patches=args.patches,
            entries=args.entries,
            peaks=args.peaks,
            per_run=args.per_run,
            seed=args.seed,
        )
        looked = lookup(path, entries=args.entries, sample=args.sample, seed=args.seed)
    figures = {"fill": filled.__dict__ | {"per_patch_us": filled.per_patch_us}, "lookup": looked}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"filled: {filled.patches:,} PATCHes in {filled.runs} runs, {filled.seconds:.2f} s "
        f"({filled.per_patch_us:.0f} µs to record one: its row before sending and its outcome), "
        f"{filled.bytes / 1e6:.1f} MB"
    )
    print(
        f"memory() of {looked['entries_asked']:,} entries: {looked['seconds'] * 1000:.1f} ms "
        f"(warm {looked['seconds_warm'] * 1000:.1f} ms), {looked['entries_found']:,} entries and "
        f"{looked['peaks_found']:,} peaks found; peak RSS {looked['peak_rss_before_mb']:.1f} -> "
        f"{looked['peak_rss_after_mb']:.1f} MB (+{looked['peak_rss_growth_mb']:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
