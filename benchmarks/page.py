"""The review page's cost (issue 11): `plan` text against `plan --html`, wall time, peak RSS, page size."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from measure import Measured, child_env, cli_command, run_measured
from scenarios import Setup, overrides_file
from server import API_KEY, SandboxProcess

RSS_BUDGET = 1.20  # --html within +20 % of the text plan's peak RSS
TIME_BUDGET = 1.25  # and +25 % of its wall time
PAGE_BUDGET = 8 * 1024  # bytes of page per plotted item


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=1000, help="data entries, one change each")
    parser.add_argument("--peaks", type=int, default=5, help="peaks per entry (all named by overrides)")
    parser.add_argument("--points", type=int, default=2048, help="points per spectrum")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sandbox latency per request")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (medians shown)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="oes-html-bench-") as folder:
        work = Path(folder)
        setup = Setup(args.peaks, args.points, 1, args.latency_ms / 1000, 8, "csv", work)
        env = child_env(work)
        overrides = overrides_file(setup, args.entries)
        page = work / "page.html"
        with SandboxProcess(setup.data(args.entries), latency=setup.latency, log_dir=work, env=env) as server:
            env |= {"AS_API_ENDPOINT": server.url, "AS_API_KEY": API_KEY}
            plan = [*cli_command(), "plan", "-q", str(overrides)]
            runs: dict[str, list[Measured]] = {"text": [], "html": []}
            for index in range(args.repeat):  # interleaved, so drift on the machine hits both alike
                for name, argv_ in (("text", plan), ("html", [*plan, "--html", str(page)])):
                    measured = run_measured(argv_, env=env, out_dir=work, name=f"{name}-{index}")
                    if measured.returncode != 0:
                        print(
                            f"{name} plan exited {measured.returncode}:\n{measured.tail()}", file=sys.stderr
                        )
                        return 1
                    runs[name].append(measured)
        plotted = page.read_text(encoding="utf-8").count('class="plot"')
        size = page.stat().st_size
    return report(args, runs, plotted=plotted, size=size)


def report(args: argparse.Namespace, runs: dict[str, list[Measured]], *, plotted: int, size: int) -> int:
    seconds = {name: statistics.median(m.seconds for m in measured) for name, measured in runs.items()}
    rss = {name: statistics.median(m.peak_rss_mb for m in measured) for name, measured in runs.items()}
    per_item = size / max(plotted, 1)
    checks = [
        ("wall time", seconds["html"] / seconds["text"], TIME_BUDGET),
        ("peak RSS", rss["html"] / rss["text"], RSS_BUDGET),
    ]
    print(
        f"plan of {args.entries} entries x {args.peaks} peaks (1 change each), {args.points} points, "
        f"latency {args.latency_ms:g} ms, median of {args.repeat}"
    )
    print(f"  text:   {seconds['text']:.2f} s, {rss['text']:.1f} MB peak RSS")
    print(f"  --html: {seconds['html']:.2f} s, {rss['html']:.1f} MB peak RSS")
    missed = False
    for what, ratio, budget in checks:
        ok = ratio <= budget
        missed |= not ok
        print(f"  {what}: x{ratio:.3f} (budget x{budget:.2f}) {'ok' if ok else 'MISSED'}")
    ok = per_item < PAGE_BUDGET
    missed |= not ok
    print(
        f"  page: {size / 1024:.0f} KB, {plotted} plots, {per_item:.0f} B per plotted item "
        f"{'ok' if ok else 'MISSED'}"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
