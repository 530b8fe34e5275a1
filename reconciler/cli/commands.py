"""The commands: each maps its typed arguments to the library's options, calls it, returns its exit code."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal

from reconciler.cli.arguments import (
    ApplyArgs,
    Arguments,
    CompletionArgs,
    ConnectionArgs,
    ExportArgs,
    HistoryArgs,
    PlanArgs,
    RecordArgs,
    SandboxArgs,
    SchemaArgs,
    StateArgs,
    UndoArgs,
    ValidateArgs,
)
from reconciler.errors import ConfigError, InputError, ReconcileError, UsageError
from reconciler.logs import Redactor
from reconciler.settings import Connection, ConnectionOptions, Connector, connector

if TYPE_CHECKING:
    from reconciler.record import Record
    from reconciler.sandbox import SandboxError

log = logging.getLogger(__name__)

SANDBOX_SOURCE = "the in-process sandbox"


def dispatch(args: Arguments, *, redactor: Redactor) -> int:  # noqa: PLR0911 (one return per command)
    if isinstance(args, PlanArgs | ApplyArgs):
        return run_command(args, redactor=redactor)
    if isinstance(args, ExportArgs):
        return export(args, redactor=redactor)
    if isinstance(args, ValidateArgs):
        return validate(args)
    if isinstance(args, HistoryArgs):
        return history(args)
    if isinstance(args, UndoArgs):
        return undo(args)
    if isinstance(args, SchemaArgs | CompletionArgs):
        return print_text(args)
    return sandbox(args)


def print_text(args: SchemaArgs | CompletionArgs) -> int:
    """`schema NAME` and `completion SHELL`: a JSON Schema or a completion script on stdout."""
    from reconciler import output

    if isinstance(args, SchemaArgs):
        from reconciler.schemas import schema_text

        text = schema_text(args.name)
    else:
        from reconciler.cli.completion import script
        from reconciler.cli.parser import build_parser

        text = script(args.shell, build_parser())
    problem = output.to_stdout(lambda out: out.write(text))
    if problem is not None:
        raise ConfigError(problem)
    return 0


def _connector(args: ConnectionArgs, *, redactor: Redactor) -> Connector:
    """How the command connects once its files are valid: to an in-process sandbox, or as the settings say."""
    if args.sandbox:
        return partial(_in_process_sandbox, timeout=args.timeout)
    options = ConnectionOptions(
        endpoint=args.endpoint,
        api_key_file=args.api_key_file,
        allow_insecure_http=args.allow_insecure_http,
        timeout=args.timeout,
    )
    return connector(options, secret=redactor.add)


@contextmanager
def _in_process_sandbox(*, timeout: float) -> Iterator[Connection]:
    """A sandbox seeded with the example data, serving on a free loopback port while the command runs."""
    from reconciler.sandbox import Sandbox, SandboxError

    try:
        server = Sandbox().start()
    except SandboxError as exc:
        raise _product_error(exc) from None
    try:
        yield Connection(endpoint=server.url, api_key="sandbox", timeout=timeout)
    finally:
        server.stop()


def _product_error(exc: SandboxError) -> ReconcileError:
    """A sandbox's error as the CLI shows errors: a data file is invalid input, the rest configuration."""
    from reconciler.sandbox import DataFileError

    return InputError(str(exc)) if isinstance(exc, DataFileError) else ConfigError(str(exc))


def run_command(args: PlanArgs | ApplyArgs, *, redactor: Redactor) -> int:
    """`plan` and `apply`, each with its record (a temporary one for the in-process sandbox)."""
    applying = args if isinstance(args, ApplyArgs) else None
    plan_path = applying.plan if applying else None
    if plan_path is not None and args.paths:
        raise InputError("apply --plan takes no override paths: the saved plan says what to do")
    if plan_path is not None and applying is not None and applying.overwrite_conflicts:
        raise InputError(
            "apply --plan applies the changes the saved plan decided, and its conflicts were decided then: "
            "apply the override files with --overwrite-conflicts instead"
        )
    if plan_path is not None and args.only:
        raise InputError(
            "apply --plan applies the saved plan as it was made: give --only to the `plan` that saves it"
        )
    if plan_path is None and not args.paths:
        raise InputError(f"{args.command}: name at least one override file or directory")
    with ExitStack() as stack:
        state = _run_state(args, sandbox=args.sandbox, stack=stack)
        return _run(args, plan_path=plan_path, state=state, redactor=redactor)


def _run(args: PlanArgs | ApplyArgs, *, plan_path: str | None, state: str | None, redactor: Redactor) -> int:
    from reconciler.run import RunOptions, run

    applying = args if isinstance(args, ApplyArgs) else None
    planning = args if isinstance(args, PlanArgs) else None
    options = RunOptions(
        command=args.command,
        paths=tuple(args.paths),
        connect=_connector(args, redactor=redactor),
        api_key_file=args.api_key_file,
        # The in-process sandbox listens on a new port each run: its saved plans name another endpoint.
        check_plan_endpoint=not args.sandbox,
        format=args.format,
        report_path=args.report,
        max_markdown_chars=args.max_markdown_chars,
        html_path=args.html,
        out_path=planning.out if planning else None,
        plan_path=plan_path,
        detailed_exitcode=planning.detailed_exitcode if planning else False,
        concurrency=args.concurrency,
        rate_limit=args.rate_limit,
        max_attempts=args.max_attempts,
        max_changes=applying.max_changes if applying else None,
        lock_file=applying.lock_file if applying else None,
        audit_log=applying.audit_log if applying else None,
        wavelength_tolerance=args.wavelength_tolerance,
        only=tuple(args.only or ()),
        overwrite_conflicts=applying.overwrite_conflicts if applying else False,
        state=state,
        verbose=args.verbose > 0,
        quiet=args.quiet,
    )
    return run(options)


def _run_state(args: StateArgs, *, sandbox: bool, stack: ExitStack) -> str | None:
    """The record of a run: as the options and environment say, or, for the in-process sandbox (a new
    server seeded afresh each run), a temporary file that ends with the run unless --state names one."""
    if sandbox and args.state is None and not args.no_state:
        import tempfile

        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="oes-reconcile-sandbox-"))
        return str(Path(folder) / "state.db")
    from reconciler.record import state_path

    path = state_path(given=args.state, no_state=args.no_state, env=os.environ)
    return None if path is None else str(path)


def _record_path(args: HistoryArgs | UndoArgs) -> str:
    """The record that `history` and `undo` read."""
    if args.no_state:
        raise UsageError(f"{args.command} reads the record: --no-state leaves none to read")
    if args.sandbox and args.state is None:
        raise UsageError(
            f"{args.command} --sandbox: a run with --sandbox keeps its record in a temporary file, gone "
            "when the run ends; give both the runs and this command the same --state PATH"
        )
    if args.sandbox and args.endpoint is not None:
        raise UsageError(f"{args.command}: --sandbox and --endpoint name two endpoints; give one")
    from reconciler.record import state_path

    path = state_path(given=args.state, no_state=False, env=os.environ)
    assert path is not None
    return str(path)


def _endpoints(record: Record, args: RecordArgs) -> list[str]:
    """The endpoints whose record is shown: the one in use, resolved as `plan` resolves it (no key is
    read: nothing is sent), or with --sandbox those of the sandbox runs (loopback, a new port each)."""
    from urllib.parse import urlsplit

    from reconciler.settings import is_loopback, resolve_endpoint

    if args.sandbox:
        return [url for url in record.endpoints() if is_loopback(urlsplit(url).hostname or "")]
    return [resolve_endpoint(args.endpoint, env=os.environ, allow_insecure_http=True)]


def history(args: HistoryArgs) -> int:
    """What the record holds for the endpoint in use, newest first."""
    import json

    from reconciler import output
    from reconciler.history import history_json, read_history, write_history_text
    from reconciler.overrides.rules import data_id_problem, normalise_data_id
    from reconciler.record import open_record

    if args.data_id is not None and (problem := data_id_problem(args.data_id)):
        raise InputError(f"history: {problem}")
    data_id = None if args.data_id is None else normalise_data_id(args.data_id)
    path = _record_path(args)
    with open_record(path, create=False) as record:
        endpoints = _endpoints(record, args)
        found = read_history(
            record, endpoints, data_id=data_id, peak_id=args.peak_id, runs_only=args.runs, limit=args.limit
        )
    if args.format == "json":
        ascii_only = not output.stdout_is_unicode()
        text = json.dumps(history_json(found), indent=2, ensure_ascii=ascii_only) + "\n"
        problem = output.to_stdout(lambda out: out.write(text))
    else:
        shown = " ".join(endpoints) if endpoints else "the sandbox runs"
        missing = "" if Path(path).exists() else " (no record there yet: apply creates it)"
        where = f"{shown} in {path}{missing}"
        problem = output.to_stdout(lambda out: write_history_text(found, out, where=where))
    if problem is not None:
        raise ConfigError(problem)
    return 0


def undo(args: UndoArgs) -> int:
    """Write an override file that restores what a run changed; nothing is sent."""
    from reconciler import output
    from reconciler.export import output_target, write_output
    from reconciler.paths import refuse_overlaps
    from reconciler.record import open_record
    from reconciler.undo import find_run, plan_undo, render_undo

    if (args.run_id is None) == (not args.last):
        raise UsageError("undo: name a RUN_ID, or pass --last for the last apply run (one of them)")
    path = _record_path(args)
    target = None
    if args.output is not None:
        refuse_overlaps(writes={"-o": args.output}, reads={"--state": path}, overrides=())
        target = output_target(args.output, force=args.force)
        output.prepare(target)
    with open_record(path, create=False) as record:
        run = find_run(record, _endpoints(record, args), run_id=None if args.last else args.run_id)
        undone = plan_undo(record, run)
    for peak in undone.unrestorable:
        log.warning("not restored: %s", peak)
    for (data_id, peak_id), later in sorted(undone.changed_later.items()):
        log.warning("%s %s: run %d changed it again after run %d", data_id, peak_id, later, run.run_id)
    write_output(render_undo(undone, format=file_format(args.format, args.output)), target)
    restored = sum(len(peaks) for peaks in undone.restore.values())
    log.info("undo of run %d: %s set back", run.run_id, _plural(restored, "peak"))
    return 0


def validate(args: ValidateArgs) -> int:
    """Offline check: load every file, list every problem; no key, no network."""
    from reconciler import output
    from reconciler.overrides import load_overrides

    loaded = load_overrides(args.paths)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    if args.quiet:
        return 0
    entries = len({override.data_id for override in loaded.overrides})
    files = len(loaded.sources)
    overrides = _plural(len(loaded.overrides), "override")
    where = f"{_plural(entries, 'data entry', 'data entries')} in {_plural(files, 'file')}"
    line = f"Valid: {overrides} for {where}.\n"
    problem = output.to_stdout(lambda out: out.write(line))
    if problem is not None:
        raise ConfigError(problem)
    return 0


def file_format(given: Literal["yaml", "csv"] | None, output: str | None) -> Literal["yaml", "csv"]:
    """The format of a written override file: as asked, else as the -o name ends (a YAML text in a .csv
    file would make every later run refuse the folder); a format the name contradicts is refused."""
    suffix = PurePath(output).suffix.lower() if output is not None else ""
    named: Literal["yaml", "csv"] | None = (
        "csv" if suffix == ".csv" else "yaml" if suffix in {".yaml", ".yml"} else None
    )
    if given is not None and named is not None and given != named:
        raise InputError(
            f"-o {output} names a {named.upper()} file, but --format is {given}; make them agree"
        )
    return given or named or "yaml"


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def export(args: ExportArgs, *, redactor: Redactor) -> int:
    """Write an override file of the entries' current assignments."""
    from reconciler.export import ExportOptions, run_export

    options = ExportOptions(
        data_ids=tuple(args.data_ids),
        ids_file=args.ids_file,
        format=file_format(args.format, args.output),
        output=args.output,
        all_peaks=args.all_peaks,
        force=args.force,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        connect=_connector(args, redactor=redactor),
        # The in-process sandbox's port differs per run: naming it would make re-exports differ byte for byte.
        source_label=SANDBOX_SOURCE if args.sandbox else None,
    )
    return run_export(options)


def sandbox(args: SandboxArgs) -> int:
    """Serve the sandbox until interrupted; its errors are shown as the product's are (exit 1)."""
    from reconciler.sandbox import SandboxError

    try:
        return _serve_sandbox(args)
    except SandboxError as exc:
        raise _product_error(exc) from None


def _serve_sandbox(args: SandboxArgs) -> int:
    """Make or read the data, then print it (`--print-data`) or serve it until interrupted."""
    from reconciler.sandbox import Faults, Sandbox, load_entries
    from reconciler.sandbox.data import data_file_json, example_entries
    from reconciler.sandbox.synthetic import synthetic_entries

    entries: list[dict[str, Any]] | None = None
    if args.synthetic is not None:
        entries = synthetic_entries(
            args.synthetic, peaks=args.peaks, points=args.points, differing=args.differing
        )
    elif args.data:
        entries = load_entries(args.data)
    if args.print_data:
        sys.stdout.write(data_file_json(entries if entries is not None else example_entries()))
        return 0
    faults = Faults(
        latency=args.latency,
        fail_first=args.fail_first,
        fail_kind=args.fail_kind,
        fault_rate=args.fault_rate,
        fault_kinds=tuple(kind.strip() for kind in args.fault_kinds.split(",") if kind.strip()),
        retry_after=args.retry_after,
        timeout_delay=args.timeout_delay,
        seed=args.seed,
    )
    server = Sandbox(entries=entries, api_key=args.api_key, faults=faults, host=args.host, port=args.port)
    server.bind()
    print(f"Sandbox listening on {server.url} (API key: {args.api_key}); Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Sandbox stopped.", file=sys.stderr)
    return 0
