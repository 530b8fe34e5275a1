"""The scale curve's inputs and checks: the two code trees, override files of N overrides, item counts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from measure import ChildFailed

from reconciler.sandbox.synthetic import synthetic_overrides

PEAKS = 10  # the shape: N overrides are N/10 entries of 10 peaks
ITEM_KEY = b'"peak_id"'  # once per report item, in any layout (keys only: no value contains it)


@dataclass(frozen=True, slots=True)
class Tree:
    """One version of the code: `python -P -m reconciler` with PYTHONPATH at `root` (the folder above
    `reconciler/`). `-P` keeps the current folder off the path, so the tree named is the tree run; the
    venv's editable install only answers what PYTHONPATH does not have.
    """

    name: str
    root: Path

    def argv(self, *arguments: str) -> list[str]:
        return [sys.executable, "-P", "-m", "reconciler", *arguments]

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        return {**base, "PYTHONPATH": str(self.root)}


def extract(ref: str, *, repo: Path, into: Path) -> Tree:
    """The tree of git `ref` extracted into `into` (`git archive | tar -x`: no worktree to clean up)."""
    resolved = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        raise ChildFailed(f"baseline {ref!r} is not a commit of {repo}")
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(
        ["git", "-C", str(repo), "archive", resolved.stdout.strip()], stdout=subprocess.PIPE
    )
    untar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=False)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0 or not (into / "reconciler").is_dir():
        raise ChildFailed(f"could not extract {ref} into {into}")
    return Tree(f"baseline {ref}", into)


def overrides(count: int) -> list[tuple[str, str, str]]:
    """`count` overrides: count/10 synthetic entries of 10 peaks, one differing per entry."""
    return synthetic_overrides(count // PEAKS, peaks=PEAKS, differing=1)


def write_csv(path: Path, rows: Iterable[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("data_id", "peak_id", "candidate_key"))
        writer.writerows(rows)
    return path


def write_yaml(path: Path, rows: Iterable[tuple[str, str, str]]) -> Path:
    """The same document as `yaml.safe_dump({"version": 1, "overrides": {...}})`, written as it goes:
    PyYAML's dumper would take minutes at a million overrides. Ids and keys need no quoting."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("version: 1\noverrides:\n")
        previous = None
        for data_id, peak_id, key in rows:
            if data_id != previous:
                handle.write(f"  {data_id}:\n")
                previous = data_id
            handle.write(f"    {peak_id}: {key}\n")
    return path


def count_items(path: Path, *, chunk: int = 1 << 20) -> int:
    """How many report items `path` holds, read in chunks (a report of a million items is ~400 MB)."""
    found, tail = 0, b""
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            window = tail + block
            found += window.count(ITEM_KEY)
            # Keep less than one key: a key cut by the chunk is found once, never twice.
            tail = window[-(len(ITEM_KEY) - 1) :]
    return found


def check_report(path: Path, *, expected: int, what: str, parse_below: int = 20_000) -> list[str]:
    """Problems with a JSON report of `expected` items (none: []); small ones are parsed in full too."""
    found = count_items(path)
    problems = [] if found == expected else [f"{what}: {found:,} items, expected {expected:,}"]
    if expected < parse_below and not problems:
        document = json.loads(path.read_bytes())
        summary = document.get("summary", {}).get("overrides")
        if len(document.get("items", ())) != expected or summary != expected:
            problems.append(f"{what}: items or summary.overrides is not {expected:,}")
    return problems
