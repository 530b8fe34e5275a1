"""The parsed command line as typed values: one frozen class per command, its fields the parser's options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reconciler.cli.parser import build_parser


@dataclass(frozen=True, kw_only=True)
class ConnectionArgs:
    """The options of every command that talks to the API."""

    endpoint: str | None
    api_key_file: str | None
    allow_insecure_http: bool
    sandbox: bool
    timeout: float
    verbose: int
    quiet: bool


@dataclass(frozen=True, kw_only=True)
class StateArgs:
    """Where the record is: `--state PATH`, or none with `--no-state` (both None/False: the default)."""

    state: str | None
    no_state: bool


@dataclass(frozen=True, kw_only=True)
class RunArgs(ConnectionArgs, StateArgs):
    """`plan` and `apply`."""

    command: Literal["plan", "apply"]
    paths: list[str]
    format: Literal["text", "markdown", "json", "html"]
    report: str | None
    max_markdown_chars: int
    html: str | None
    concurrency: int
    rate_limit: float | None
    max_attempts: int
    wavelength_tolerance: float
    only: list[str] | None


@dataclass(frozen=True, kw_only=True)
class PlanArgs(RunArgs):
    out: str | None
    detailed_exitcode: bool


@dataclass(frozen=True, kw_only=True)
class ApplyArgs(RunArgs):
    plan: str | None
    max_changes: int | None
    lock_file: str | None
    audit_log: str | None
    overwrite_conflicts: bool


@dataclass(frozen=True, kw_only=True)
class ValidateArgs:
    command: Literal["validate"]
    paths: list[str]
    quiet: bool
    verbose: int = 0  # validate has no -v: warnings are all it logs


@dataclass(frozen=True, kw_only=True)
class ExportArgs(ConnectionArgs):
    command: Literal["export"]
    data_ids: list[str]
    ids_file: str | None
    format: Literal["yaml", "csv"] | None
    output: str | None
    force: bool
    all_peaks: bool
    concurrency: int
    max_attempts: int


@dataclass(frozen=True, kw_only=True)
class SandboxArgs:
    command: Literal["sandbox"]
    host: str
    port: int
    data: str | None
    api_key: str
    print_data: bool
    latency: float
    fail_first: int
    fail_kind: str
    fault_rate: float
    fault_kinds: str
    retry_after: str
    timeout_delay: float
    seed: int
    synthetic: int | None
    peaks: int
    points: int
    differing: int
    verbose: int = 0  # the sandbox logs its own warnings only
    quiet: bool = False


@dataclass(frozen=True, kw_only=True)
class RecordArgs(StateArgs):
    """The commands that read the record of the endpoint in use and send nothing."""

    endpoint: str | None
    sandbox: bool
    verbose: int
    quiet: bool


@dataclass(frozen=True, kw_only=True)
class HistoryArgs(RecordArgs):
    command: Literal["history"]
    data_id: str | None
    peak_id: str | None
    runs: bool
    format: Literal["text", "json"]
    limit: int | None


@dataclass(frozen=True, kw_only=True)
class UndoArgs(RecordArgs):
    command: Literal["undo"]
    run_id: int | None
    last: bool
    format: Literal["yaml", "csv"] | None
    output: str | None
    force: bool


@dataclass(frozen=True, kw_only=True)
class SchemaArgs:
    command: Literal["schema"]
    name: Literal["overrides", "report", "plan"]
    verbose: int = 0
    quiet: bool = False


@dataclass(frozen=True, kw_only=True)
class CompletionArgs:
    command: Literal["completion"]
    shell: Literal["bash", "zsh", "tcsh"]
    verbose: int = 0
    quiet: bool = False


Arguments = (
    PlanArgs
    | ApplyArgs
    | ValidateArgs
    | ExportArgs
    | SandboxArgs
    | HistoryArgs
    | UndoArgs
    | SchemaArgs
    | CompletionArgs
)

_BY_COMMAND: dict[str, type[Arguments]] = {
    "plan": PlanArgs,
    "apply": ApplyArgs,
    "validate": ValidateArgs,
    "export": ExportArgs,
    "sandbox": SandboxArgs,
    "history": HistoryArgs,
    "undo": UndoArgs,
    "schema": SchemaArgs,
    "completion": CompletionArgs,
}


def parse(argv: Sequence[str] | None) -> Arguments:
    """The command line as the typed arguments of its command (a UsageError when it is wrong).

    Every option the parser declares is a field here and the other way round: a name that differs fails
    the first run of that command, and mypy checks every read of a field.
    """
    fields = vars(build_parser().parse_args(argv))
    return _BY_COMMAND[fields["command"]](**fields)
