"""The naive way, as a user would write it from the API docs: PATCH every listed override, one after another.

Run alone: `AS_API_ENDPOINT=... AS_API_KEY=... python benchmarks/naive.py overrides.csv [--limit N]`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True, slots=True)
class NaiveRun:
    """How many PATCHes the loop sent and how long it took (the loop only, not the interpreter's start)."""

    patches: int
    seconds: float

    @property
    def per_patch(self) -> float:
        return self.seconds / self.patches if self.patches else 0.0


def rows(path: Path) -> Iterator[tuple[str, str, str]]:
    """`(data_id, peak_id, candidate_key)` of each row of an override CSV."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            yield row["data_id"], row["peak_id"], row["candidate_key"]


def patch_every_override(endpoint: str, api_key: str, path: Path, *, limit: int | None = None) -> NaiveRun:
    """For each override (the first `limit`), PATCH it and check the answer: no GET, no concurrency."""
    patches = 0
    started = time.perf_counter()
    with httpx.Client(base_url=endpoint, headers={"X-API-KEY": api_key}, timeout=30.0) as client:
        for data_id, peak_id, candidate_key in itertools.islice(rows(path), limit):
            response = client.patch(
                f"oes/{data_id}/peaks", json={"peak_id": peak_id, "candidate_key": candidate_key}
            )
            response.raise_for_status()
            patches += 1
    return NaiveRun(patches, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("csv", type=Path, help="override file (CSV)")
    parser.add_argument("--limit", type=int, help="stop after N overrides")
    args = parser.parse_args()
    endpoint = os.environ.get("AS_API_ENDPOINT", "http://127.0.0.1:8765/")
    run = patch_every_override(endpoint, os.environ.get("AS_API_KEY", "sandbox"), args.csv, limit=args.limit)
    print(f"{run.patches} PATCHes in {run.seconds:.2f} s ({run.per_patch * 1000:.1f} ms each)")


if __name__ == "__main__":
    main()
