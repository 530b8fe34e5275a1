"""The parser: every option declared once, with its type, bounds and default, grouped by command."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from reconciler import __version__
from reconciler.errors import UsageError
from reconciler.identity import DEFAULT_WAVELENGTH_TOLERANCE
from reconciler.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_MARKDOWN_CHARS,
    DEFAULT_TIMEOUT,
)

EPILOG = """\
exit codes: 0 done (nothing failed); 1 invalid input, configuration or key, or anything not in sync
after apply (plan: any error item); 2 plan --detailed-exitcode with changes pending; 3 lock held
by another run; 130 interrupted.
key: AS_API_KEY (or ATOMSCALE_API_KEY), or --api-key-file PATH; endpoint: --endpoint or AS_API_ENDPOINT.
record (what apply did, per endpoint): --state PATH, else OES_RECONCILE_STATE, else
${XDG_STATE_HOME:-~/.local/state}/oes-reconcile/state.db; --no-state keeps none."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


# Bounds of the options. Beyond them a value is a slip, not a wish: a huge --concurrency stalls at
# 100 % CPU sending nothing, a --rate-limit of 1e300 overflows the limiter, a --timeout of 1e10 s or
# --max-attempts of 10**6 turn a silent or failing server into a run that never ends.
MAX_CONCURRENCY = 64
MAX_ATTEMPTS = 100
MAX_SECONDS = 3600.0  # --timeout, and the sandbox's --latency and --timeout-delay
MAX_RATE = 10_000.0  # requests per second; far above what 64 connections reach, so no real limit is lost
# Below these a value is a slip too: --rate-limit 1e-9 waits 31 years between requests, and a --timeout
# of 1e-300 s times every request out.
MIN_RATE = 0.01  # one request every 100 s
MIN_TIMEOUT = 0.1
# Peaks of one spectrum lie a few nm apart: a tolerance of tens of nm would take any neighbour for the
# peak an override meant, which is what the check is there to catch.
MAX_WAVELENGTH_TOLERANCE = 50.0
# --max-markdown-chars: below 1000 not even a headline and a few rows fit; a million is a long page.
MIN_MARKDOWN_CHARS = 1_000
MAX_MARKDOWN_CHARS = 1_000_000
# The choices of `schema` and `completion` (the schemas and scripts are built only when asked for).
SCHEMAS = ("overrides", "report", "plan")
SHELLS = ("bash", "zsh", "tcsh")


def _shown(text: str) -> str:
    """The value as typed, quoted, and cut short if long (a pasted paragraph should not fill the screen)."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {_shown(text)}") from None


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {_shown(text)}") from None
    if not math.isfinite(value):  # inf, nan, and 1e400 (which float() reads as inf)
        raise argparse.ArgumentTypeError(f"must be a finite number, got {_shown(text)}")
    return value


def _count(*, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (`None`: no upper bound)."""

    def parse(text: str) -> int:
        value = _whole(text)
        if value < low or (high is not None and value > high):
            upper = f" and at most {high}" if high is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {low}{upper}, got {value}")
        return value

    return parse


def _real(*, low: float, high: float, low_included: bool) -> Callable[[str], float]:
    """An argparse type: a finite number above `low` (or equal to it, if `low_included`), at most `high`."""

    def parse(text: str) -> float:
        value = _finite(text)
        if (value < low if low_included else value <= low) or value > high:
            lower = f"at least {low:g}" if low_included else f"more than {low:g}"
            raise argparse.ArgumentTypeError(f"must be {lower} and at most {high:g}, got {_shown(text)}")
        return value

    return parse


_concurrency = _count(low=1, high=MAX_CONCURRENCY)
_attempts = _count(low=1, high=MAX_ATTEMPTS)
_non_negative_int = _count(low=0)
_at_least_one = _count(low=1)
_markdown_chars = _count(low=MIN_MARKDOWN_CHARS, high=MAX_MARKDOWN_CHARS)
# A run id or a row count is an SQLite INTEGER: beyond 2**63 - 1 it cannot be looked up at all.
_row = _count(low=1, high=2**63 - 1)
_timeout = _real(low=MIN_TIMEOUT, high=MAX_SECONDS, low_included=True)
_rate = _real(low=MIN_RATE, high=MAX_RATE, low_included=True)
_delay = _real(low=0.0, high=MAX_SECONDS, low_included=True)
_probability = _real(low=0.0, high=1.0, low_included=True)
_tolerance = _real(low=0.0, high=MAX_WAVELENGTH_TOLERANCE, low_included=False)


def _port(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {value}")
    return value


def _add_connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--endpoint", metavar="URL", help="API base URL (default: AS_API_ENDPOINT, else Atomscale's)"
    )
    group.add_argument("--api-key-file", metavar="PATH", help="read the key from PATH (wins over AS_API_KEY)")
    group.add_argument(
        "--allow-insecure-http", action="store_true", help="allow plain http:// to a host other than loopback"
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="run against an in-process sandbox seeded with the example data",
    )
    group.add_argument(
        "--timeout", type=_timeout, default=DEFAULT_TIMEOUT, metavar="SECONDS", help="per request"
    )
    group.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail on stderr (-vv: requests)"
    )
    group.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr, no progress")


def _add_run_options(parser: argparse.ArgumentParser, *, command: str) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="override files or directories")
    parser.add_argument(
        "--format", choices=("text", "markdown", "json", "html"), default="text", help="stdout report"
    )
    parser.add_argument("--report", metavar="PATH", help="also write the JSON report to PATH")
    parser.add_argument(
        "--max-markdown-chars",
        type=_markdown_chars,
        default=DEFAULT_MAX_MARKDOWN_CHARS,
        metavar="N",
        help=(
            f"--format markdown: at most N characters ({MIN_MARKDOWN_CHARS} to {MAX_MARKDOWN_CHARS}); "
            "beyond, rows are cut and a last line says where the full report is "
            f"(default {DEFAULT_MAX_MARKDOWN_CHARS})"
        ),
    )
    parser.add_argument(
        "--html", metavar="PATH", help="also write the review page (spectra around each change) to PATH"
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrency,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"requests in flight (1 to {MAX_CONCURRENCY})",
    )
    parser.add_argument("--rate-limit", type=_rate, metavar="R", help="at most R requests per second")
    parser.add_argument(
        "--max-attempts",
        type=_attempts,
        default=DEFAULT_MAX_ATTEMPTS,
        metavar="N",
        help=f"tries per request (1 to {MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--wavelength-tolerance",
        type=_tolerance,
        default=DEFAULT_WAVELENGTH_TOLERANCE,
        metavar="NM",
        help=(
            "a peak further than NM from the override's wavelength_nm (or the one recorded when it was "
            f"last patched) is peak_moved, not patched (default {DEFAULT_WAVELENGTH_TOLERANCE:g})"
        ),
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="DATA_ID",
        help="work on the files' overrides of this entry only (repeatable; as Terraform's -target)",
    )
    if command == "plan":
        parser.add_argument("--out", metavar="PATH", help="write the JSON plan that `apply --plan` takes")
        parser.add_argument(
            "--detailed-exitcode",
            action="store_true",
            help="exit 2 when changes are pending and nothing failed",
        )
    else:
        parser.add_argument("--plan", metavar="PLAN.json", help="apply exactly the changes of a saved plan")
        parser.add_argument(
            "--max-changes", type=_non_negative_int, metavar="N", help="refuse more than N changes"
        )
        parser.add_argument("--lock-file", metavar="PATH", help="hold an exclusive lock; exit 3 if held")
        parser.add_argument("--audit-log", metavar="PATH", help="append one JSON line per PATCH outcome")
        parser.add_argument(
            "--overwrite-conflicts",
            action="store_true",
            help="patch peaks pinned on the platform since oes-reconcile set them (else: conflict)",
        )
    _add_state(parser)
    _add_connection(parser)


def _add_state(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the record").add_mutually_exclusive_group()
    group.add_argument(
        "--state",
        metavar="PATH",
        help="the record's database (default: OES_RECONCILE_STATE, else "
        "$XDG_STATE_HOME/oes-reconcile/state.db, XDG_STATE_HOME defaulting to ~/.local/state)",
    )
    group.add_argument(
        "--no-state", action="store_true", help="keep no record (then conflicts cannot be seen)"
    )


def _add_endpoint(parser: argparse.ArgumentParser) -> None:
    """The options of a command that reads the record of the endpoint in use, and sends nothing."""
    group = parser.add_argument_group("endpoint (nothing is sent; no key is needed)")
    group.add_argument(
        "--endpoint", metavar="URL", help="whose record (default: AS_API_ENDPOINT, else Atomscale's)"
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="the runs made with --sandbox and the same --state (their record is temporary without it)",
    )
    group.add_argument("-v", "--verbose", action="count", default=0, help="more detail on stderr")
    group.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="oes-reconcile",
        description="Make the manual OES peak assignments on Atomscale agree with override files in git.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    plan = commands.add_parser("plan", help="dry run: fetch, diff, report")
    _add_run_options(plan, command="plan")
    apply = commands.add_parser("apply", help="plan, then PATCH what differs (never prompts)")
    _add_run_options(apply, command="apply")
    validate = commands.add_parser("validate", help="check override files offline (no key, no network)")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.add_argument("-q", "--quiet", action="store_true", help="print nothing when the files are valid")
    _add_export(commands.add_parser("export", help="write an override file of entries' current assignments"))
    _add_sandbox(commands.add_parser("sandbox", help="serve a local stand-in of the API on 127.0.0.1"))
    _add_history(commands.add_parser("history", help="what the record holds: runs and PATCHes, newest first"))
    _add_undo(commands.add_parser("undo", help="write an override file that restores what a run changed"))
    schema = commands.add_parser("schema", help="print the JSON Schema of an override file, report or plan")
    schema.add_argument("name", choices=SCHEMAS, metavar="{overrides,report,plan}")
    completion = commands.add_parser("completion", help="print the shell completion script")
    completion.add_argument("shell", choices=SHELLS, metavar="{bash,zsh,tcsh}")
    return parser


def _add_history(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Show what the record holds for the endpoint in use, newest first: the runs, and the PATCHes "
        "(of one data entry, or one peak, if named). A PATCH whose run was killed before its outcome "
        "was recorded shows as 'outcome unknown'."
    )
    parser.add_argument("data_id", nargs="?", metavar="DATA_ID")
    parser.add_argument("peak_id", nargs="?", metavar="PEAK_ID")
    parser.add_argument("--runs", action="store_true", help="the runs only")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--limit", type=_row, metavar="N", help="at most N runs and N PATCHes")
    _add_state(parser)
    _add_endpoint(parser)


def _add_undo(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write an override file that sets every peak a run applied back to the candidate it had "
        "before, each with a note naming the run. Nothing is sent: review the file, commit it, apply "
        "it. Peaks whose earlier candidate is unknown are listed in a comment (YAML) or on stderr."
    )
    parser.add_argument("run_id", nargs="?", type=_row, metavar="RUN_ID")
    parser.add_argument("--last", action="store_true", help="the last apply run of this endpoint")
    _add_override_file_output(parser)
    _add_state(parser)
    _add_endpoint(parser)


def _add_override_file_output(parser: argparse.ArgumentParser) -> None:
    """Where and how `export` and `undo` write the override file they make."""
    parser.add_argument(
        "--format", choices=("yaml", "csv"), help="default: as the -o file's name ends (.csv), else yaml"
    )
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="write here (whole, or not at all) instead of stdout"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing -o file (through a link: the file it names); never a FIFO, device, folder",
    )


def _add_export(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write an override file of the entries' current manual assignments (sorted and stable: "
        "`plan` of it reports no changes). Exit 1 when an entry has no OES result (HTTP 404: the "
        "others are still written), when a fetch fails after retries (nothing is written), or when "
        "nothing could be exported (e.g. the server sends only elements, no candidate keys)."
    )
    parser.add_argument("data_ids", nargs="*", metavar="DATA_ID")
    parser.add_argument("--ids-file", metavar="F", help="data ids, one a line (# comments)")
    _add_override_file_output(parser)
    parser.add_argument(
        "--all-peaks", action="store_true", help="every peak's applied candidate, not only manual"
    )
    parser.add_argument("--concurrency", type=_concurrency, default=DEFAULT_CONCURRENCY, metavar="N")
    parser.add_argument("--max-attempts", type=_attempts, default=DEFAULT_MAX_ATTEMPTS, metavar="N")
    _add_connection(parser)


def _add_sandbox(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", choices=("127.0.0.1", "::1"))
    parser.add_argument("--port", type=_port, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument(
        "--data", metavar="FILE", help='JSON {"entries": [result, ...]} (default: example data)'
    )
    parser.add_argument("--api-key", default="sandbox", help="the key clients must send (default: sandbox)")
    parser.add_argument(
        "--print-data", action="store_true", help="print the data it would serve, as a --data file, and exit"
    )
    faults = parser.add_argument_group("faults and sizes (for tests and benchmarks)")
    faults.add_argument(
        "--latency", type=_delay, default=0.0, metavar="SECONDS", help="added to every request"
    )
    faults.add_argument(
        "--fail-first", type=_non_negative_int, default=0, metavar="N", help="fail each request N times first"
    )
    faults.add_argument(
        "--fail-kind", default="503", help="kind of those failures (500, 503, 429, drop, timeout…)"
    )
    faults.add_argument(
        "--fault-rate", type=_probability, default=0.0, metavar="P", help="fail requests at random"
    )
    faults.add_argument(
        "--fault-kinds", default="503,429,drop", help="comma-separated kinds for --fault-rate"
    )
    faults.add_argument("--retry-after", default="0", help="Retry-After of 429s (seconds or HTTP date)")
    faults.add_argument(
        "--timeout-delay", type=_delay, default=5.0, metavar="SECONDS", help="stall of `timeout`"
    )
    faults.add_argument("--seed", type=_whole, default=0)
    faults.add_argument(
        "--synthetic", type=_non_negative_int, metavar="N", help="serve N generated entries instead"
    )
    faults.add_argument("--peaks", type=_at_least_one, default=5, help="peaks per generated entry")
    faults.add_argument(
        "--points", type=_at_least_one, default=2048, help="spectrum points per generated entry"
    )
    faults.add_argument(
        "--differing", type=_non_negative_int, default=1, help="generated peaks per entry that differ"
    )
