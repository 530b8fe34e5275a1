"""The `export` command: the entries' current assignments as an override file that `plan` finds in sync."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler import output
from reconciler.answers import OESResult, PeakState
from reconciler.api import ApiClient
from reconciler.diff import NO_ENTRY
from reconciler.errors import EXIT_FAILED, EXIT_OK, ConfigError, InputError, RequestFailed, RunStopped
from reconciler.overrides import Assignments, render_csv, render_yaml
from reconciler.overrides.rules import (
    Assignment,
    data_id_problem,
    normalise_data_id,
    text_problem,
    wavelength_problem,
)
from reconciler.retry import RetryPolicy
from reconciler.settings import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    Connection,
    ConnectionOptions,
    Connector,
    connector,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """The options of `export`, as the CLI parsed them.

    `connect` opens the connection once the ids and the output are checked; `source_label` names the
    source in the YAML header instead of the endpoint (of a server on a new port each run, the endpoint
    would make re-exports differ byte for byte).
    """

    data_ids: tuple[str, ...] = ()
    ids_file: str | None = None
    format: str = "yaml"
    output: str | None = None
    all_peaks: bool = False
    force: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect: Connector = field(default_factory=lambda: connector(ConnectionOptions()))
    source_label: str | None = None


def run_export(options: ExportOptions) -> int:
    """Fetch every named entry once and write what an override file can carry.

    Exit 1 when an entry has no result (404: the others are still written), when a fetch failed (then
    nothing is written: the file would look complete without that entry), or when nothing could be
    exported because of such problems (nothing is written then either).
    """
    data_ids = read_ids(options.data_ids, options.ids_file)
    target = None
    if options.output is not None:
        target = output_target(options.output, force=options.force, ids_file=options.ids_file)
        output.prepare(target)
    retry = RetryPolicy.for_run(options.max_attempts)
    with options.connect() as connection:
        source = connection.endpoint if options.source_label is None else options.source_label
        fetched = asyncio.run(fetch_all(connection, data_ids, concurrency=options.concurrency, retry=retry))
    for data_id, reason in fetched.problems:
        log.error("%s: %s", data_id, reason)
    if fetched.failed:
        entries = _count(len(data_ids), "data entry", "data entries")
        log.error("export failed for %d of %s; nothing was written", fetched.failed, entries)
        return EXIT_FAILED
    exported = assignments_of(fetched.results, all_peaks=options.all_peaks)
    if not _explain(exported, missing=fetched.missing, entries=len(data_ids), all_peaks=options.all_peaks):
        return EXIT_FAILED
    if options.format == "csv":
        text = render_csv(exported.assignments)
    else:
        text = render_yaml(exported.assignments, comments=_header(source, all_peaks=options.all_peaks))
    if options.output is not None and target is not None:
        # Checked again: a file (or a FIFO) may have appeared at the path while the entries were fetched.
        if output_target(options.output, force=options.force, ids_file=options.ids_file) != target:
            raise ConfigError(f"{options.output} changed while the export ran; nothing was written")
        if target != options.output:
            log.warning("writing %s, the file that the symbolic link %s points to", target, options.output)
    write_output(text, target)
    return EXIT_FAILED if fetched.missing else EXIT_OK


def _explain(exported: Exported, *, missing: int, entries: int, all_peaks: bool) -> bool:
    """Say what was left out and why; False when nothing could be exported because of it (write nothing)."""
    peaks = _count(exported.element_only, "peak")
    no_result = (
        f"{missing} of {_count(entries, 'data entry', 'data entries')} {'has' if missing == 1 else 'have'}"
    )
    if exported.assignments:
        if exported.element_only:
            log.warning(
                "%s skipped: the server sends no candidate key, only the element "
                "(an override file needs candidate keys)",
                peaks,
            )
        if missing:
            log.error("%s no OES result (HTTP 404); the export holds the others", no_result)
        return True
    if exported.element_only:
        log.error(
            "the server sends no candidate key for these peaks, only elements: an override file needs "
            "candidate keys; %s skipped",
            peaks,
        )
    if missing:
        log.error("%s no OES result (HTTP 404)", no_result)
    if exported.element_only or exported.unnameable or missing:
        log.error("nothing could be exported; nothing was written")
        return False
    hint = "" if all_peaks else " (only pinned peaks are exported; --all-peaks takes every one)"
    log.warning("nothing to export from %s%s", _count(entries, "data entry", "data entries"), hint)
    return True


def _header(source: str, *, all_peaks: bool) -> list[str]:
    """The YAML file's opening comment: what it holds and where from (no clock: re-exports are identical)."""
    what = "Every peak's applied candidate" if all_peaks else "Manual peak assignments"
    lines = [f"{what}, exported by oes-reconcile from {' '.join(source.split())}"]
    if all_peaks:
        lines.append("Peaks not pinned yet show as changes in a plan of this file: applying pins them.")
    return lines


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else (many or one + 's')}"


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def output_target(path: str, *, force: bool, ids_file: str | None = None) -> str:
    """The file `export -o PATH` may replace: PATH, or (with `force`) the regular file a link at PATH names.

    Refused before anything is sent: an existing file without `force`; and, even with it, anything
    but a regular file (a folder, FIFO, device or socket, a link to one, a dangling or looping link),
    which is never opened, followed into or replaced.
    """
    given = Path(path)
    try:
        mode = given.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return path  # nothing there yet; output.prepare checks its folder
    except OSError as exc:
        raise ConfigError(f"cannot check -o {path}: {exc.strerror}") from None
    target, link = path, ""
    if stat.S_ISLNK(mode):
        try:
            mode = given.stat().st_mode
            target = str(given.resolve(strict=True))
        except FileNotFoundError:
            raise _refused(path, f"a symbolic link to {_link_text(given)}, which does not exist") from None
        except (OSError, RuntimeError) as exc:  # RuntimeError: a loop, on Python before 3.13
            reason = exc.strerror if isinstance(exc, OSError) else "a loop"
            raise _refused(path, f"a symbolic link that cannot be followed ({reason})") from None
        link = f"a symbolic link to {target}"
    if not stat.S_ISREG(mode):
        kind = next((name for is_kind, name in _KINDS if is_kind(mode)), "a special file")
        raise _refused(path, f"{link}, {kind}" if link else kind)
    if ids_file is not None and _same_file(target, ids_file):
        raise ConfigError(f"refusing to write {path}: it is the --ids-file")
    if not force:
        named = f" ({link})" if link else ""
        raise ConfigError(f"{path} already exists{named}; add --force to replace it")
    return target


def _same_file(path: str, other: str) -> bool:
    try:
        return Path(path).samefile(other)
    except OSError:
        return False


def _link_text(link: Path) -> str:
    try:
        return str(link.readlink())
    except OSError:
        return "a path that cannot be read"


def _refused(path: str, what: str) -> ConfigError:
    return ConfigError(
        f"refusing to write {path}: it is {what}; export -o writes only a regular file, even with --force"
    )


def read_ids(arguments: Sequence[str], ids_file: str | None) -> list[str]:
    """The data ids from the arguments, then the ids file: UUIDs, lower-cased, each once, in order."""
    named = [(f"DATA_ID argument {n}", value) for n, value in enumerate(arguments, start=1)]
    if ids_file is not None:
        try:
            text = Path(ids_file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise InputError(f"cannot read --ids-file {ids_file}: {reason}") from None
        for number, line in enumerate(text.split("\n"), start=1):
            value = line.partition("#")[0].strip()
            if value:
                named.append((f"{ids_file}:{number}", value))
    problems = [f"{where}: {problem}" for where, value in named if (problem := data_id_problem(value))]
    if problems:
        raise InputError("\n".join(problems))
    if not named:
        listed = f" ({ids_file} lists none)" if ids_file is not None else ""
        raise InputError(f"export: name at least one DATA_ID, or list them in --ids-file F{listed}")
    return list(dict.fromkeys(normalise_data_id(value) for _where, value in named))


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one GET per entry gave: results, and each entry without one with the reason (in id order)."""

    results: dict[str, OESResult]
    problems: list[tuple[str, str]]
    missing: int  # entries that answered 404: definitely no result, the others can still be exported
    failed: int  # entries whose fetch failed (retries ran out, stopped): their state is unknown


async def fetch_all(
    connection: Connection, data_ids: Sequence[str], *, concurrency: int, retry: RetryPolicy
) -> Fetched:
    """Each entry's result, one GET each, and the entries that could not be fetched with the reason."""
    # The client's own slots bound the requests in flight to `concurrency`.
    async with ApiClient(connection, concurrency=concurrency, retry=retry) as client:
        answers = await asyncio.gather(*(_fetch(client, d) for d in data_ids), return_exceptions=True)
    results: dict[str, OESResult] = {}
    problems: list[tuple[str, str]] = []
    missing = 0
    for data_id, answer in zip(data_ids, answers, strict=True):
        if isinstance(answer, BaseException):
            raise answer  # a refused key (AuthError) stops the export as it stops a run
        if isinstance(answer, OESResult):
            results[data_id] = answer
        else:
            missing += answer == NO_ENTRY
            problems.append((data_id, answer))
    return Fetched(results, problems, missing=missing, failed=len(problems) - missing)


async def _fetch(client: ApiClient, data_id: str) -> OESResult | str:
    try:
        answer = await client.get_result(data_id)
    except RequestFailed as exc:
        return f"fetch failed: {exc.reason}"
    except RunStopped:
        return "not fetched: the export was stopped"
    return NO_ENTRY if answer.result is None else answer.result


@dataclass(frozen=True, slots=True)
class Exported:
    """The assignments an override file can carry, and how many peaks had to be left out, by reason."""

    assignments: Assignments
    element_only: int = 0  # the server names only the peak's element, no candidate key
    unnameable: int = 0  # an id or key the loader would refuse


def assignments_of(results: dict[str, OESResult], *, all_peaks: bool) -> Exported:
    """The manual assignments (or every peak's, with `all_peaks`) that an override file can carry, each
    with the wavelength the peak was measured at (a plan of the file then notices a renumbered peak) and
    the candidates the server lists for it (YAML shows them in a comment, for whoever edits the file)."""
    exported: dict[str, dict[str, str | Assignment]] = {}
    element_only = unnameable = 0
    for data_id in sorted(results):
        # `plan` looks at the first peak of an id, so the export does too.
        first = {peak.peak_id: peak for peak in reversed(results[data_id].detected_peaks)}
        peaks: dict[str, str | Assignment] = {}
        for peak_id, peak in sorted(first.items()):
            if not (all_peaks or peak.manual):
                continue
            key = _exportable(data_id, peak)
            if key is not None:
                listed = tuple(candidate.key for candidate in peak.candidates or ())
                peaks[peak_id] = Assignment(key, _wavelength(data_id, peak), candidates=listed)
            elif peak.applied is None:
                element_only += 1
            else:
                unnameable += 1
        if peaks:
            exported[data_id] = peaks
    return Exported(exported, element_only=element_only, unnameable=unnameable)


def _exportable(data_id: str, peak: PeakState) -> str | None:
    """The peak's applied candidate, or None (with a warning) when an override file cannot name it."""
    key = peak.applied
    problem: str | None
    if key is None:
        problem = f"the server sends no candidate key for this peak (element {peak.element} only)"
    else:
        problem = text_problem("peak_id", peak.peak_id) or text_problem("candidate_key", key)
        if problem is None and (peak.peak_id != peak.peak_id.strip() or key != key.strip()):
            problem = "blank space at the end of an id or key, which the CSV loader strips"
    if problem is not None:
        log.warning("%s %s: skipped: %s", data_id, peak.peak_id, problem)
        return None
    return key


def _wavelength(data_id: str, peak: PeakState) -> float | None:
    """The peak's wavelength for the file, or None (with a warning) when the file could not hold it."""
    wavelength = peak.wavelength_nm
    if wavelength is None:
        return None
    problem = wavelength_problem(wavelength, repr(wavelength))
    if problem is not None:
        log.warning("%s %s: written without its wavelength: %s", data_id, peak.peak_id, problem)
        return None
    return wavelength


def write_output(text: str, path: str | None) -> None:
    """To stdout, or to `path` whole (through a temporary file and a rename): never half a file."""
    if path is None:
        problem = output.to_stdout(lambda out: out.write(text))
        if problem is not None:
            raise ConfigError(problem)
    else:
        output.write_atomically(path, lambda out: out.write(text))
