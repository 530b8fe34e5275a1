"""The scale curve's measurements: each row runs every tree in turn (baseline, current) on the same input."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from measure import ChildFailed, Measured, child_env, run_measured
from scale_files import PEAKS, Tree, check_report, overrides, write_csv
from scale_table import Cell, median
from server import API_KEY, Data, SandboxProcess

HERE = Path(__file__).resolve().parent
MB = 1 << 20
TINY_POINTS = 64  # the reference plan of the answer rows: the same requests, answers of a few KB
CALIBRATION_POINTS = 20_000
TIME = "/usr/bin/time"


def run_child(argv: Sequence[str], *, env: Mapping[str, str], out_dir: Path, name: str) -> Measured:
    """`run_measured`, with the peak RSS taken by /usr/bin/time around the child (GNU time's %M).

    Why not wait4's own figure: a child spawned by this process (vfork, then exec) starts with this
    process's high-water RSS as its `ru_maxrss`, and the harness holds a million overrides and a 36 MB
    answer at times; /usr/bin/time is a small C program, so the figure it reads is the child's own.
    Without it (not on Linux) the wait4 figure is kept, a floor of the harness's own peak.
    """
    if not Path(TIME).exists():
        return run_measured(argv, env=env, out_dir=out_dir, name=name)
    rss = out_dir / f"{name}.rss"
    measured = run_measured([TIME, "-f", "%M", "-o", str(rss), *argv], env=env, out_dir=out_dir, name=name)
    # On a failure GNU time writes "Command exited with non-zero status N" before the figure.
    kilobytes = int(rss.read_text(encoding="utf-8").split()[-1])
    return dataclasses.replace(measured, peak_rss_mb=kilobytes / 1024)


@dataclass(slots=True)
class Context:
    """What every row shares: the trees (baseline first, so load drifts hit both alike), the work folder,
    the problems found so far, and where progress is announced."""

    trees: Sequence[Tree]
    work: Path
    problems: list[str] = field(default_factory=list)
    say: Callable[[str], None] = lambda text: print(f"… {text}", file=sys.stderr, flush=True)

    def env(self) -> dict[str, str]:
        return child_env(self.work)

    def run(self, tree: Tree, arguments: Sequence[str], *, name: str, url: str = "") -> Measured:
        """One CLI child of `tree`; a non-zero exit is a ChildFailed."""
        env = {k: v for k, v in tree.env(self.env()).items() if k not in {"ATOMSCALE_API_KEY", "AS_API_KEY"}}
        if url:
            env |= {"AS_API_ENDPOINT": url, "AS_API_KEY": API_KEY}
        argv = tree.argv(*arguments)
        measured = run_child(argv, env=env, out_dir=self.work, name=name)
        if measured.returncode != 0:
            raise ChildFailed(
                f"{tree.name}: {' '.join(arguments)} exited {measured.returncode}:\n{measured.tail()}"
            )
        return measured

    def sandbox(self, data: Data, *, name: str) -> SandboxProcess:
        """The current tree's sandbox, without latency, for every tree alike."""
        return SandboxProcess(data, latency=0.0, log_dir=self.work, env=self.env(), name=name)


def cell(measured: Measured, *, mb: float | None = None) -> Cell:
    return Cell(measured.seconds, measured.peak_rss_mb if mb is None else mb, measured.cpu_seconds)


def validate(context: Context, path: Path) -> dict[str, Cell]:
    """`validate -q PATH` once per tree."""
    found = {}
    for index, tree in enumerate(context.trees):
        measured = context.run(tree, ("validate", "-q", str(path)), name=f"validate-{path.stem}-{index}")
        found[tree.name] = cell(measured)
    return found


def plan(context: Context, size: int, *, concurrency: int | None = None) -> dict[str, Cell]:
    """`plan --no-state --format json --report PATH` of size/10 entries against a sandbox without latency;
    stdout and the report must each hold `size` items (counted, then deleted: they are large)."""
    csv_path = write_csv(context.work / f"plan-{size}.csv", overrides(size))
    found = {}
    with context.sandbox(Data(size // PEAKS, PEAKS, 2048, 1), name=f"sandbox-plan-{size}") as sandbox:
        for index, tree in enumerate(context.trees):
            report = context.work / f"report-{size}-{index}.json"
            arguments = ["plan", "-q", "--no-state", "--format", "json", "--report", str(report)]
            if concurrency is not None:
                arguments.append(f"--concurrency={concurrency}")
            measured = context.run(
                tree, (*arguments, str(csv_path)), name=f"plan-{size}-{index}", url=sandbox.url
            )
            for path, what in ((measured.stdout, "stdout"), (report, "report")):
                context.problems += check_report(
                    path, expected=size, what=f"{tree.name} plan {size:,} {what}"
                )
                path.unlink(missing_ok=True)
            found[tree.name] = cell(measured)
    return found


def body_bytes(sandbox: SandboxProcess, data_id: str) -> int:
    """The size of one GET's answer body for `data_id`."""
    url, headers = f"{sandbox.url}oes/{data_id}", {"X-API-KEY": API_KEY}
    with httpx.stream("GET", url, headers=headers, timeout=60.0) as response:
        response.raise_for_status()
        # Counted as it comes, not held: the harness stays small (see run_child).
        return sum(len(chunk) for chunk in response.iter_raw())


def points_for(context: Context, target_bytes: int) -> int:
    """Spectrum points that make one answer about `target_bytes` long (measured on a small answer)."""
    data_id = overrides(PEAKS)[0][0]
    with context.sandbox(Data(1, PEAKS, CALIBRATION_POINTS, 1), name="sandbox-calibrate") as sandbox:
        per_point = body_bytes(sandbox, data_id) / CALIBRATION_POINTS
    return max(TINY_POINTS, round(target_bytes / per_point))


@dataclass(frozen=True, slots=True)
class Answers:
    """An answer row's figures: per tree, the big plan's cell with `mb` above the tiny plan's peak RSS."""

    entries: int
    points: int
    answer_bytes: int
    cells: dict[str, Cell]


def answers(context: Context, *, entries: int, target_bytes: int, concurrency: int) -> Answers:
    """`plan` of `entries` entries with answers of ~target_bytes, and with tiny answers, on every tree."""
    points = points_for(context, target_bytes)
    csv_path = write_csv(context.work / f"answers-{entries}.csv", overrides(entries * PEAKS))
    data_id = overrides(PEAKS)[0][0]
    arguments = ("plan", "-q", "--no-state", f"--concurrency={concurrency}", str(csv_path))
    peaks: dict[tuple[int, str], Measured] = {}
    size = 0
    for spectrum in (TINY_POINTS, points):
        data = Data(entries, PEAKS, spectrum, 1)
        with context.sandbox(data, name=f"sandbox-answers-{entries}-{spectrum}") as sandbox:
            if spectrum == points:
                size = body_bytes(sandbox, data_id)
                context.say(f"one answer of {points:,} points is {size:,} bytes ({size / MB:.1f} MB)")
            for index, tree in enumerate(context.trees):
                name = f"answers-{entries}-{spectrum}-{index}"
                peaks[spectrum, tree.name] = context.run(tree, arguments, name=name, url=sandbox.url)
    cells = {
        tree.name: cell(
            peaks[points, tree.name],
            mb=peaks[points, tree.name].peak_rss_mb - peaks[TINY_POINTS, tree.name].peak_rss_mb,
        )
        for tree in context.trees
    }
    return Answers(entries, points, size, cells)


@dataclass(frozen=True, slots=True)
class Startup:
    """Medians of `python -c pass` and of `validate -q` of a tiny file per tree, runs interleaved."""

    python_seconds: float
    cells: dict[str, Cell]


def startup(context: Context, *, runs: int, path: Path) -> Startup:
    python: list[float] = []
    by_tree: dict[str, list[Measured]] = {tree.name: [] for tree in context.trees}
    for run in range(runs):
        bare = run_measured(
            [sys.executable, "-c", "pass"], env=context.env(), out_dir=context.work, name="pass"
        )
        python.append(bare.seconds)
        for index, tree in enumerate(context.trees):
            measured = context.run(tree, ("validate", "-q", str(path)), name=f"tiny-{index}-{run}")
            by_tree[tree.name].append(measured)
    cells = {}
    for name, children in by_tree.items():
        middle = sorted(children, key=lambda child: child.seconds)[len(children) // 2]
        cells[name] = Cell(
            median([child.seconds for child in children]), middle.peak_rss_mb, middle.cpu_seconds
        )
    return Startup(median(python), cells)


@dataclass(frozen=True, slots=True)
class Apply:
    """benchmarks/run.py's 1,000-entry apply on each tree: the median apply and the concurrency bound."""

    bound_seconds: float
    cells: dict[str, Cell]
    runs: dict[str, list[float]]


APPLY_OPTIONS = (
    "--json --no-naive --no-floor --rate-limit 0 --no-capacity --repeat 3 --memory-sizes 1000",
    "--no-record-cost",
)


def apply(context: Context) -> Apply:
    """run.py once per tree (its CLI and sandbox from that tree: PYTHONPATH names it), parsed from --json."""
    bound, cells, runs = 0.0, {}, {}
    for index, tree in enumerate(context.trees):
        log = context.work / f"run-py-{index}.err"
        with log.open("wb") as err:
            done = subprocess.run(
                [sys.executable, str(HERE / "run.py"), *" ".join(APPLY_OPTIONS).split()],
                env=tree.env(context.env()),
                stdout=subprocess.PIPE,
                stderr=err,
                check=False,
            )
        if done.returncode != 0:
            raise ChildFailed(f"{tree.name}: run.py exited {done.returncode}; see {log}")
        document = json.loads(done.stdout)
        bound = document["bound_seconds"]
        size = next(s for s in document["results"]["sizes"] if s["entries"] == 1000)
        applies = sorted(size["applies"], key=lambda run: run["seconds"])
        middle = applies[len(applies) // 2]
        cells[tree.name] = Cell(middle["seconds"], middle["peak_rss_mb"], middle["client_cpu_seconds"])
        runs[tree.name] = [run["seconds"] for run in size["applies"]]
    return Apply(bound, cells, runs)
