"""The HTTP floor: the apply's GETs and PATCHes through the CLI's own ApiClient, and nothing else.

No files to load, no diff, no report, no process start in the figure: what the CLI's requests cost on this
machine when the rest of the CLI costs nothing. `apply` cannot be faster than this; the gap between the
two is what the CLI itself adds. Run alone: `python benchmarks/floor.py URL overrides.csv --concurrency 8`;
prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

from naive import rows

from reconciler.api import ApiClient
from reconciler.settings import Connection


async def requests_only(
    endpoint: str, api_key: str, wanted: dict[str, dict[str, str]], concurrency: int
) -> int:
    """GET each entry, PATCH each peak that is not as wanted (one entry at a time per worker)."""
    sent = 0
    queue: Iterator[tuple[str, dict[str, str]]] = iter(wanted.items())
    connection = Connection(endpoint=endpoint, api_key=api_key, timeout=30.0)
    async with ApiClient(connection, concurrency=concurrency) as client:

        async def worker() -> None:
            nonlocal sent
            for data_id, peaks in queue:
                answer = await client.get_result(data_id)
                sent += 1
                assert answer.result is not None
                for peak in answer.result.detected_peaks:
                    key = peaks.get(peak.peak_id)
                    if key is not None and (peak.applied != key or not peak.manual):
                        await client.patch_peak(data_id, peak.peak_id, key)
                        sent += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("endpoint")
    parser.add_argument("csv", type=Path)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--api-key", default="sandbox")
    args = parser.parse_args()
    wanted: dict[str, dict[str, str]] = {}
    for data_id, peak_id, key in rows(args.csv):
        wanted.setdefault(data_id, {})[peak_id] = key
    started, cpu = time.perf_counter(), time.process_time()
    sent = asyncio.run(requests_only(args.endpoint, args.api_key, wanted, args.concurrency))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"requests": sent, "seconds": seconds, "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
