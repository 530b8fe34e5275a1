"""Issue 13's scale curve: validate, plan and big answers from 1k to 1M overrides, baseline vs current.

`python benchmarks/scale.py` measures every row on the baseline commit (today's figure) and on the
current tree, alternating per size; `--smoke` is a seconds-long run for CI that checks counts only.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from measure import ChildFailed, work_folder
from scale_files import Tree, extract, overrides, write_csv, write_yaml
from scale_rows import MB, Context, answers, apply, plan, startup, validate
from scale_table import Cell, Row, count, render_markdown, render_text, to_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROWS = ("startup", "validate", "answers", "plan", "apply")
MILLION = 1_000_000
# Targets at the sizes: (seconds, MB).
VALIDATE_TARGETS = {"yaml": (8.0, 400.0), "csv": (5.0, 300.0)}
PLAN_TARGET = (100.0, 700.0)
STARTUP_ALLOWANCE = 0.090  # seconds over Python's own start-up
APPLY_RATIO = 1.2


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not sizes or sizes[0] < 10 or any(size % 10 for size in sizes):
        raise argparse.ArgumentTypeError("sizes are overrides in tens (entries of 10 peaks), at least 10")
    return sizes


def _rows(text: str) -> list[str]:
    rows = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown or not rows:
        raise argparse.ArgumentTypeError(f"rows are some of {', '.join(ROWS)}; got {text!r}")
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--baseline", default="eca0d78", help="git ref of today's code")
    parser.add_argument("--no-baseline", action="store_true", help="measure the current tree only")
    parser.add_argument("--sizes", type=_sizes, default=[1000, 10_000, 100_000, MILLION], help="overrides")
    parser.add_argument("--max-plan-size", type=int, default=MILLION, help="largest plan row (overrides)")
    parser.add_argument("--rows", type=_rows, default=list(ROWS), help=f"which rows ({', '.join(ROWS)})")
    parser.add_argument("--answer-mb", type=float, default=36.0, help="the one big answer, MB")
    parser.add_argument("--answers-mb", type=float, default=32.0, help="each of the 8 concurrent answers, MB")
    parser.add_argument("--startup-runs", type=int, default=20, help="runs of the tiny validate (median)")
    parser.add_argument("--smoke", action="store_true", help="tiny CI run: counts and exits only, no timing")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table for benchmarks/README.md")
    parser.add_argument(
        "--markdown-to", metavar="PATH", help="also write that table to PATH (one run gives both forms)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (files, child output)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.no_baseline, args.sizes, args.max_plan_size, args.startup_runs = True, [1000], 1000, 3
        args.answer_mb = args.answers_mb = 1.0
        args.rows = [row for row in args.rows if row != "apply"]  # run.py --smoke covers the apply
    return args


def _cells(found: dict[str, Cell], trees: list[Tree]) -> tuple[Cell | None, Cell | None]:
    """(baseline, current) of a row; the baseline is None when not measured."""
    current = found[trees[-1].name]
    return (found[trees[0].name] if len(trees) > 1 else None), current


def _per(found: dict[str, Cell], trees: list[Tree], *, items: int, what: str, micro: bool = False) -> str:
    """A note of the wall time and CPU time per item on each tree (start-up included), in ms (or µs)."""
    factor, unit = (1e6, "µs") if micro else (1e3, "ms")

    def per(seconds: float) -> str:
        return f"{seconds / items * factor:.2f} {unit}/{what}"

    # CPU too: on a busy machine it moves less than the wall time.
    return "; ".join(
        f"{tree.name.split()[0]} {per(found[tree.name].seconds)} "
        f"(CPU {found[tree.name].cpu_seconds:.1f} s, {per(found[tree.name].cpu_seconds)})"
        for tree in trees
    )


def _curve_row(
    work: str,
    size: int,
    found: dict[str, Cell],
    trees: list[Tree],
    *,
    limits: tuple[float, float] | None,
    note: str,
) -> Row:
    """A row of the size curve: judged at the issue's size (1M overrides) only."""
    baseline, current = _cells(found, trees)
    if limits is None:
        return Row(work, count(size), baseline, current, note=note)
    seconds, mb = limits
    target = f"<= {seconds:g} s, <= {mb:g} MB"
    return Row(work, count(size), baseline, current, target, seconds, mb, note)


def validate_rows(context: Context, args: argparse.Namespace, trees: list[Tree]) -> list[Row]:
    rows = []
    for size in args.sizes:
        wanted = overrides(size)
        files = {
            "yaml": write_yaml(context.work / f"overrides-{size}.yaml", wanted),
            "csv": write_csv(context.work / f"overrides-{size}.csv", wanted),
        }
        del wanted
        for kind, path in files.items():
            context.say(f"validate {count(size)} overrides, one {kind.upper()} file")
            found = validate(context, path)
            note = _per(found, trees, items=size, what="override", micro=True)
            limits = VALIDATE_TARGETS[kind] if size == MILLION else None
            rows.append(_curve_row(f"validate {kind.upper()}", size, found, trees, limits=limits, note=note))
            path.unlink()
    return rows


def plan_rows(context: Context, args: argparse.Namespace, trees: list[Tree]) -> list[Row]:
    rows = []
    for size in (size for size in args.sizes if size <= args.max_plan_size):
        context.say(f"plan of {count(size // 10)} entries x 10 peaks ({count(size)} overrides), no latency")
        found = plan(context, size)
        note = _per(found, trees, items=size // 10, what="entry")
        limits = PLAN_TARGET if size == MILLION else None
        rows.append(_curve_row("plan --format json --report", size, found, trees, limits=limits, note=note))
    return rows


def answer_rows(context: Context, args: argparse.Namespace, trees: list[Tree]) -> list[Row]:
    rows = []
    for entries, mb, concurrency, factor in ((1, args.answer_mb, 1, 1.5), (8, args.answers_mb, 8, 3.0)):
        context.say(
            f"plan of {entries} entr{'y' if entries == 1 else 'ies'} of ~{mb:g} MB answers, C={concurrency}"
        )
        found = answers(context, entries=entries, target_bytes=round(mb * MB), concurrency=concurrency)
        answer = found.answer_bytes / MB
        limit = factor * answer
        if args.smoke and not 0.5 * mb <= answer <= 2 * mb:
            context.problems.append(f"an answer of {answer:.2f} MB, asked for ~{mb:g} MB")
        rows.append(
            Row(
                f"plan, {entries} x {answer:.1f} MB answer{'s' if entries > 1 else ''}, C={concurrency}",
                f"{count(found.points)} points",
                *_cells(found.cells, trees),
                f"<= {factor:g} x {answer:.1f} = {limit:.0f} MB above tiny",
                None,
                limit,
                "MB = peak RSS above the same plan with 64-point spectra",
            )
        )
    return rows


def startup_rows(context: Context, args: argparse.Namespace, trees: list[Tree]) -> list[Row]:
    context.say(
        f"start-up: validate of a tiny file vs python -c pass, {args.startup_runs} runs each (medians)"
    )
    found = startup(context, runs=args.startup_runs, path=ROOT / "examples" / "overrides.yaml")
    limit = found.python_seconds + STARTUP_ALLOWANCE
    target = f"<= {found.python_seconds:.3f} + 0.090 = {limit:.3f} s"
    note = f"python -c pass: {found.python_seconds:.3f} s (median of {args.startup_runs})"
    return [Row("validate tiny file", "7 overrides", *_cells(found.cells, trees), target, limit, None, note)]


def apply_rows(context: Context, args: argparse.Namespace, trees: list[Tree]) -> list[Row]:
    context.say("benchmarks/run.py: the 1,000-entry apply at 25 ms, C=8, median of 3, per tree")
    found = apply(context)
    ratios = ", ".join(
        f"{name.split()[0]} {c.seconds / found.bound_seconds:.2f}x" for name, c in found.cells.items()
    )
    limit = APPLY_RATIO * found.bound_seconds
    target = f"<= {APPLY_RATIO:g} x {found.bound_seconds:.2f} = {limit:.2f} s"
    runs = "; ".join(
        f"{name.split()[0]} " + ", ".join(f"{s:.2f}" for s in times) for name, times in found.runs.items()
    )
    note = f"median / bound: {ratios}; runs in order: {runs}"
    return [
        Row(
            "apply 1,000 entries, 25 ms, C=8",
            "5,000 overrides",
            *_cells(found.cells, trees),
            target,
            limit,
            None,
            note,
        )
    ]


MEASURE: dict[str, Callable[[Context, argparse.Namespace, list[Tree]], list[Row]]] = {
    "startup": startup_rows,
    "validate": validate_rows,
    "answers": answer_rows,
    "plan": plan_rows,
    "apply": apply_rows,
}


def measure(args: argparse.Namespace, work: Path) -> tuple[list[Row], list[str]]:
    """Every row asked for, in ROWS order; and the count mismatches found on the way."""
    trees = [Tree("current", ROOT)]
    context = Context(trees, work)
    if not args.no_baseline:
        context.say(f"extracting the baseline {args.baseline}")
        trees.insert(0, extract(args.baseline, repo=ROOT, into=work / "baseline"))
    rows = [row for name in ROWS if name in args.rows for row in MEASURE[name](context, args, trees)]
    if args.smoke:
        # Counts only: no figure of a smoke run is judged.
        rows = [dataclasses.replace(row, target="", limit_seconds=None, limit_mb=None) for row in rows]
    return rows, context.problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with work_folder(prefix="oes-scale-", keep=args.keep) as work:
            rows, problems = measure(args, work)
    except ChildFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    if args.markdown_to:
        Path(args.markdown_to).write_text(render_markdown(rows) + "\n", encoding="utf-8")
    if args.json:
        unsaved = {"json", "keep", "markdown", "markdown_to"}
        settings = {k: v for k, v in vars(args).items() if k not in unsaved}
        print(to_json(rows, settings=settings, extra={}))
    elif args.markdown:
        print(render_markdown(rows))
    else:
        smoke = " (smoke: counts only, times not judged)" if args.smoke else ""
        baseline = "" if args.no_baseline else f"; baseline = {args.baseline}, current = {ROOT}"
        heading = [f"oes-reconcile scale curve (issue 13){smoke}{baseline}"]
        print(render_text(rows, heading=heading))
    for problem in problems:
        print(f"MISMATCH: {problem}", file=sys.stderr)
    if problems:
        return 1
    return 1 if args.strict and any(row.verdict == "missed" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
