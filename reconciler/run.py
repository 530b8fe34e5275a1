"""One run of `plan` or `apply`: the stages wired together, with lock, signals, audit and report files."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from reconciler import output
from reconciler.api import ApiClient
from reconciler.document import SavedPlan, copy_json, read_plan, write_json
from reconciler.engine import Memory, Outcome, Reconciler
from reconciler.errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    InputError,
    ReconcileError,
    RecordError,
)
from reconciler.identity import DEFAULT_WAVELENGTH_TOLERANCE
from reconciler.lock import run_lock
from reconciler.models import Status
from reconciler.overrides import OverrideSet, load_overrides
from reconciler.overrides.rules import data_id_problem, normalise_data_id
from reconciler.page import write_html
from reconciler.plan import Plan
from reconciler.progress import progress_bar
from reconciler.report import Report, summary, write_markdown, write_text
from reconciler.retry import RetryPolicy
from reconciler.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_MARKDOWN_CHARS,
    Connection,
    ConnectionOptions,
    Connector,
    canonical_endpoint,
    connector,
)
from reconciler.signals import stop_on_signals
from reconciler.trails import RunRecorder, Trail, Trails
from reconciler.windows import Windows

if TYPE_CHECKING:
    from reconciler.audit import AuditLog
    from reconciler.record import Record

log = logging.getLogger(__name__)

NOT_IN_SYNC_AFTER_APPLY = frozenset(Status) - {Status.IN_SYNC, Status.APPLIED}


@dataclass(frozen=True)
class RunOptions:
    """The options of `plan` and `apply`, as the CLI parsed them.

    `connect` opens the connection once the files are valid and the lock is held (by default it resolves
    the endpoint and key from the environment); `api_key_file` is the key file it reads, which the lock
    file must not be. `check_plan_endpoint` off accepts a saved plan made against another endpoint.
    """

    command: str
    paths: tuple[str, ...] = ()
    connect: Connector = field(default_factory=lambda: connector(ConnectionOptions()))
    api_key_file: str | None = None
    check_plan_endpoint: bool = True
    format: str = "text"
    report_path: str | None = None
    max_markdown_chars: int = DEFAULT_MAX_MARKDOWN_CHARS
    html_path: str | None = None  # `--html`: the review page
    out_path: str | None = None
    plan_path: str | None = None
    detailed_exitcode: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rate_limit: float | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_changes: int | None = None
    lock_file: str | None = None
    audit_log: str | None = None
    wavelength_tolerance: float = DEFAULT_WAVELENGTH_TOLERANCE
    # `--only`: the data entries to work on, of those the files name (empty: all of them).
    only: tuple[str, ...] = ()
    overwrite_conflicts: bool = False
    state: str | None = None  # the record's database (`--state`, resolved); None: nothing is recorded
    verbose: bool = False
    quiet: bool = False


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run(options: RunOptions, *, retry: RetryPolicy | None = None) -> int:
    """Refuse files that overlap, take --lock-file before anything that can block or write (reading
    files, making folders), then run."""
    writes = {
        "--report": options.report_path,
        "--html": options.html_path,
        "--out": options.out_path,
        "--audit-log": options.audit_log,
    }
    reads = {"--plan": options.plan_path, "--api-key-file": options.api_key_file}
    (writes if options.command == "apply" else reads)["--state"] = options.state
    with run_lock(options.lock_file, overrides=options.paths, writes=writes, reads=reads):
        return _run(options, retry=retry)


def _run(options: RunOptions, *, retry: RetryPolicy | None) -> int:
    """Load (or read the saved plan), connect, run, report; returns the exit code."""
    saved: SavedPlan | None = None
    overrides: OverrideSet | None = None
    if options.plan_path is not None:
        saved = read_plan(options.plan_path)
        sources, digest = saved.sources, saved.overrides_digest
    else:
        overrides = load_overrides(options.paths)
        for warning in overrides.warnings:
            log.warning("%s", warning)
        overrides = only_entries(overrides, options.only)
        sources, digest = overrides.sources, overrides.digest
    for path in (options.report_path, options.html_path, options.out_path):
        if path is not None:
            output.prepare(path)
    retry = retry or RetryPolicy.for_run(options.max_attempts)
    with ExitStack() as stack:
        connection = stack.enter_context(options.connect())
        elsewhere = saved is not None and not _same_api(saved.endpoint, connection.endpoint)
        if saved is not None and options.check_plan_endpoint and elsewhere:
            raise InputError(
                f"{options.plan_path} was planned against {saved.endpoint}, not {connection.endpoint}; "
                "make a new plan for this endpoint"
            )
        audit = _open_audit(stack, options, sources=sources)
        record = _open_record(stack, options)
        run_id = _begin_run(record, options, endpoint=connection.endpoint, sources=sources)
        trails: list[Trail] = [audit] if audit is not None else []
        if record is not None and run_id is not None:
            trails.append(RunRecorder(record, run_id))
        memory = _memory(record, overrides, endpoint=connection.endpoint)
        entries, work = _work(options, overrides, saved, memory)
        overrides = None  # the engine holds them now, and lets each entry's go once it is decided
        outcome = asyncio.run(
            _execute(options, connection=connection, retry=retry, trails=trails, entries=entries, work=work)
        )
        stop = outcome.stop
        report = Report(
            command="plan" if options.command == "plan" else "apply",
            endpoint=connection.endpoint,
            sources=sources,
            items=outcome.items,
            entries=outcome.entries,
            generated_at=now_utc(),
            interrupted=outcome.interrupted,
            stopped=stop.reason if stop is not None and not outcome.interrupted else None,
            overrides_digest=digest,
        )
        # Still under the lock: the files first and whole, stdout last, so that nothing which happens to
        # stdout can cost the record of PATCHes already sent.
        code = exit_code(report, options, interrupted=outcome.interrupted)
        not_written, json_file = _write_files(report, options, windows=outcome.windows)
        unwritten: list[ReconcileError] = list(not_written)
        code = _write_stdout(report, options, code, windows=outcome.windows, json_file=json_file)
        if record is not None and run_id is not None:
            unwritten += _end_run(record, run_id, report, _final_code(code, outcome.refused, unwritten))
    if outcome.refused is not None:
        for problem in unwritten:
            log.error("%s", problem)
        raise outcome.refused
    if unwritten:
        raise unwritten[0]
    return code


def only_entries(overrides: OverrideSet, only: Sequence[str]) -> OverrideSet:
    """The overrides of the entries `--only` names (all without it); a name the files do not hold, or that
    is no UUID, is refused before anything is sent. Ids are matched in any case, as the loader reads them."""
    if not only:
        return overrides
    named = {override.data_id for override in overrides.overrides}
    wanted: set[str] = set()
    for data_id in only:
        problem = data_id_problem(data_id)
        if problem is not None:
            raise InputError(f"--only: {problem}")
        if normalise_data_id(data_id) not in named:
            files = ", ".join(overrides.sources) or "the files given"
            raise InputError(f"--only {data_id}: no override for that data entry in {files}")
        wanted.add(normalise_data_id(data_id))
    kept = tuple(override for override in overrides.overrides if override.data_id in wanted)
    return replace(overrides, overrides=kept)


def _same_api(planned: str, endpoint: str) -> bool:
    """Whether a saved plan's endpoint is this one, however it was spelt when the plan was made."""
    try:
        return canonical_endpoint(planned) == endpoint
    except ValueError:
        return False


def _open_record(stack: ExitStack, options: RunOptions) -> Record | None:
    """The record, if kept: `apply` creates it; `plan` only reads it, and without one (a pull request's CI
    job, a first run) keeps the first-wave comparisons, as with --no-state."""
    if options.state is None or (options.command == "plan" and not os.path.lexists(options.state)):
        return None
    from reconciler.record import open_record

    return stack.enter_context(open_record(options.state, create=options.command == "apply"))


def _begin_run(
    record: Record | None, options: RunOptions, *, endpoint: str, sources: Sequence[str]
) -> int | None:
    """Record the start of an `apply`, with the git commit of its sources; a `plan` records nothing."""
    if record is None or options.command != "apply":
        return None
    from reconciler.audit import git_commit, git_dirty

    return record.begin_run(
        command="apply",
        endpoint=endpoint,
        sources=sources,
        git_commit=git_commit(sources),
        git_dirty=git_dirty(sources),
        started_at=now_utc(),
    )


def _final_code(code: int, refused: BaseException | None, unwritten: Sequence[ReconcileError]) -> int:
    """The exit code the run ends with: that of the error it raises, if any."""
    if refused is not None:
        return refused.exit_code if isinstance(refused, ReconcileError) else EXIT_FAILED
    return unwritten[0].exit_code if unwritten else code


def _end_run(record: Record, run_id: int, report: Report, code: int) -> list[ReconcileError]:
    """Record the end of the run: its counts and exit code (the PATCHes are recorded already)."""
    try:
        record.end_run(run_id, counts=summary(report), exit_code=code, finished_at=now_utc())
    except RecordError as exc:
        return [exc]
    return []


def _open_audit(stack: ExitStack, options: RunOptions, *, sources: Sequence[str]) -> AuditLog | None:
    """The audit log, with the git commit of the override files (or the plan's) and whether it is dirty."""
    if options.audit_log is None:
        return None
    from reconciler.audit import open_audit_log

    return stack.enter_context(open_audit_log(options.audit_log, sources=sources))


async def _execute(
    options: RunOptions,
    *,
    connection: Connection,
    retry: RetryPolicy,
    trails: Sequence[Trail],
    entries: int,
    work: Callable[[Reconciler], Awaitable[Outcome]],
) -> Outcome:
    client = ApiClient(
        connection, concurrency=options.concurrency, retry=retry, rate_limit=options.rate_limit
    )
    bar = progress_bar(entries, description=options.command, enabled=not options.quiet)
    async with client:
        with stop_on_signals(client.stop, client.abandon), bar as on_progress:
            events = Trails(trails) if trails else None
            reconciler = Reconciler(
                client,
                concurrency=options.concurrency,
                on_sending=events.sending if events is not None else None,
                on_patch=events.record if events is not None else None,
                on_progress=on_progress,
                wavelength_tolerance=options.wavelength_tolerance,
                overwrite_conflicts=options.overwrite_conflicts,
                windows=wants_page(options),
            )
            return await work(reconciler)


def _memory(record: Record | None, overrides: OverrideSet | None, *, endpoint: str) -> Memory | None:
    """What the record remembers of the entries the files name (None without a record: the first-wave
    comparisons stay); a saved plan was decided when it was made and needs none."""
    if record is None or overrides is None:
        return None
    return record.memory(endpoint, {override.data_id for override in overrides.overrides})


def _work(
    options: RunOptions, overrides: OverrideSet | None, saved: SavedPlan | None, memory: Memory | None
) -> tuple[int, Callable[[Reconciler], Awaitable[Outcome]]]:
    """How many entries the run visits (for progress), and what it does with the reconciler."""
    if saved is not None:
        plan = Plan.of(saved.items)
        limit = plan.over_limit(options.max_changes, where=" in the saved plan")
        if limit is not None:
            raise limit
        return len(plan.to_patch), lambda r: r.apply_saved(plan)
    assert overrides is not None
    # Handed over, not kept: the engine's is then the only reference, and each entry's overrides can go
    # once it is decided (a million of them weigh ~120 MB).
    wanted = [overrides.overrides]
    entries = len({override.data_id for override in overrides.overrides})
    if options.command == "plan":
        return entries, lambda r: r.plan(wanted.pop(), memory=memory)
    return entries, lambda r: r.apply(wanted.pop(), max_changes=options.max_changes, memory=memory)


def wants_page(options: RunOptions) -> bool:
    """Whether the review page is asked for (`--html` or `--format html`): only then are spectra read."""
    return options.html_path is not None or options.format == "html"


def _write_files(
    report: Report, options: RunOptions, *, windows: Windows
) -> tuple[list[ConfigError], str | None]:
    """Write the report files; a file that cannot be written does not stop the others or stdout.

    The JSON report is serialised once, into the first JSON file written; the other file (and stdout)
    copy its bytes. Returns the files not written, and the JSON file written (None: none).
    """
    unwritten = []
    json_file: str | None = None
    files = ((options.report_path, "json"), (options.html_path, "html"), (options.out_path, "json"))
    for path, kind in files:
        if path is None:
            continue
        write: Callable[[TextIO], object]
        if kind == "html":
            write = lambda out: write_html(report, out, windows=windows)  # noqa: E731 (one of two writers)
        else:
            write = _json_writer(report, json_file)
        try:
            output.write_atomically(path, write)
        except ConfigError as exc:
            unwritten.append(exc)
        else:
            json_file = json_file or (path if kind == "json" else None)
    return unwritten, json_file


def _json_writer(
    report: Report, written: str | None, *, ascii_only: bool = False
) -> Callable[[TextIO], None]:
    """Write the JSON report: a copy of the file `written` already holds, else serialised afresh."""
    if written is None:
        return lambda out: write_json(report, out, ascii_only=ascii_only)
    return lambda out: copy_json(written, out, ascii_only=ascii_only)


def _write_stdout(
    report: Report, options: RunOptions, code: int, *, windows: Windows, json_file: str | None = None
) -> int:
    """The report on stdout, last (JSON: a copy of `json_file`, when written); a problem there is one line
    on stderr, and a run that was fine exits 1."""

    def write(out: TextIO) -> None:
        if options.format == "html":
            write_html(report, out, windows=windows)
        elif options.format == "json":
            _json_writer(report, json_file, ascii_only=not output.stdout_is_unicode())(out)
        elif options.format == "markdown":
            write_markdown(
                report,
                out,
                max_chars=options.max_markdown_chars,
                report_path=options.report_path,
                html_path=options.html_path,
            )
        else:
            write_text(report, out, verbose=options.verbose)

    problem = output.to_stdout(write)
    if problem is None:
        return code
    kept = [path for path in (options.report_path, options.html_path, options.out_path) if path is not None]
    where = f"; the report is in {', '.join(kept)}" if kept else ""
    log.error("%s%s", problem, where)
    return EXIT_FAILED if code == EXIT_OK else code


def exit_code(report: Report, options: RunOptions, *, interrupted: bool) -> int:
    """0 done; 1 anything not in sync (apply) or in an error status (plan); 2 changes pending with -d; 130."""
    if interrupted:
        return EXIT_INTERRUPTED
    statuses = {item.status for item in report.items}
    if report.command == "apply":
        return EXIT_FAILED if statuses & NOT_IN_SYNC_AFTER_APPLY else EXIT_OK
    if any(status.is_error for status in statuses):
        return EXIT_FAILED
    if options.detailed_exitcode and Status.CHANGE in statuses:
        return EXIT_CHANGES
    return EXIT_OK
