"""Reports for people: the items of a run as text and markdown, with a headline that sums them up."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from reconciler.models import Item, Status
from reconciler.settings import DEFAULT_MAX_MARKDOWN_CHARS
from reconciler.text import visible

SYMBOLS = {Status.CHANGE: "~", Status.APPLIED: "~", Status.IN_SYNC: "="}
NOT_PATCHED = "-"
MOVES = {Status.CHANGE, Status.APPLIED}
# Statuses that mean no result of the entry was seen: a run made only of these fetched nothing.
UNSEEN = frozenset({Status.FETCH_FAILED, Status.ENTRY_NOT_FOUND})


@dataclass(frozen=True)
class Report:
    """A finished run (or plan) and what it is about."""

    command: str
    endpoint: str
    sources: Sequence[str]
    items: Sequence[Item]
    entries: int
    generated_at: str
    interrupted: bool = False
    overrides_digest: str | None = None
    # Why the run ended early, in words ("the API refused the key"); None when it ran to the end.
    stopped: str | None = None


def summary(report: Report) -> dict[str, int]:
    counts = Counter(item.status for item in report.items)
    return {
        "overrides": len(report.items),
        "entries": report.entries,
        "in_sync": counts[Status.IN_SYNC],
        "change": counts[Status.CHANGE],
        "applied": counts[Status.APPLIED],
        "failed": counts[Status.FAILED],
        "stale": counts[Status.STALE],
        "errors": sum(n for status, n in counts.items() if status.is_error),
        "element_only": sum(map(element_only_match, report.items)),
    }


def element_only_match(item: Item) -> bool:
    """An in-sync item compared by element only: the server showed no candidate key, so the line is unseen.

    One the record verified (oes-reconcile set that very key, and the entry is untouched since) is a full
    match: the record saw the line.
    """
    return (
        item.status is Status.IN_SYNC
        and item.current is None
        and item.element is not None
        and item.verified_by is None
    )


def stop_reason(report: Report) -> str | None:
    """Why the run ended before its end, in words, or None when it ran to the end."""
    return report.stopped or ("interrupted" if report.interrupted else None)


def marker(report: Report, item: Item) -> str:
    """The first column: `~` change or applied, `=` in sync, `-` a change apply left unpatched, `!` else."""
    if report.command == "apply" and item.status is Status.CHANGE:
        return NOT_PATCHED
    return SYMBOLS.get(item.status, "!")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _errors(s: dict[str, int], fetch_failed: int) -> str:
    """The error counts, if any: overrides whose entry could not be fetched, then the other errors."""
    parts = [f"{fetch_failed} not fetched"] if fetch_failed else []
    if s["errors"] > fetch_failed:
        parts.append(_plural(s["errors"] - fetch_failed, "error"))
    return "".join(f", {part}" for part in parts)


def headline(report: Report) -> str:
    """The one-line summary that ends a text report and heads a markdown one.

    "No changes" only when the run went to its end and every override was fetched; a stopped run says
    why first; element-only matches are counted apart, as they cannot tell two lines of one element apart.
    """
    s = summary(report)
    fetch_failed = sum(item.status is Status.FETCH_FAILED for item in report.items)
    reason = stop_reason(report)
    command = "Plan" if report.command == "plan" else "Apply"
    if reason is None and report.items and all(item.status in UNSEEN for item in report.items):
        return f"{command}: nothing could be fetched: {_plural(s['errors'], 'error')}."
    head = f"{command} incomplete ({reason})" if reason else command
    errors = _errors(s, fetch_failed)
    by_element = f" ({s['element_only']} by element only)" if s["element_only"] else ""
    if report.command == "plan":
        settled = reason is None and fetch_failed == 0 and (s["in_sync"] > 0 or not report.items)
        if settled and s["change"] == 0:
            if s["element_only"]:
                by_element = f" ({s['element_only']} by element only: the line cannot be seen)"
            verb = "matches" if s["in_sync"] == 1 else "match"
            return f"No changes: {_plural(s['in_sync'], 'override')} {verb}{by_element}{errors}."
        return f"{head}: {s['change']} to change, {s['in_sync']} in sync{by_element}{errors}."
    parts = [f"{s['applied']} applied", f"{s['in_sync']} in sync{by_element}", f"{s['failed']} failed"]
    if s["stale"]:
        parts.append(f"{s['stale']} stale")
    if s["change"]:
        parts.append(f"{s['change']} not patched")
    line = f"{head}: {', '.join(parts)}{errors}."
    return f"{line} Rerun to finish." if report.interrupted else line


def shown_current(item: Item) -> str:
    """What the server showed: the applied candidate, else the element, else nothing; flagged if unpinned."""
    shown = item.current or (f"{item.element} (element)" if item.element else "-")
    if item.current == item.desired and item.manual is False:
        return f"{shown} (unpinned)"
    return shown


def _detail(item: Item) -> str:
    if item.status in MOVES:
        return f"{shown_current(item)} -> {item.desired}"
    if item.status is Status.IN_SYNC:
        return item.desired
    return item.status.value


def write_text(report: Report, out: TextIO, *, verbose: bool = False) -> None:
    """One line per item that needs attention (all items with `verbose`), then the headline."""
    shown = [item for item in report.items if verbose or item.status is not Status.IN_SYNC]
    peak_width = max((len(item.peak_id) for item in shown), default=0)
    detail_width = max((len(_detail(item)) for item in shown), default=0)
    for item in shown:
        symbol = marker(report, item)
        detail = f"{_detail(item):<{detail_width}}"
        line = f"{symbol} {item.data_id} {item.peak_id:<{peak_width}}  {detail}  {item.source}"
        # An unpatched change says why it was left (the run stopped, or --max-changes).
        if item.message and (item.status not in MOVES or verbose or symbol == NOT_PATCHED):
            line += f"  ({item.message})"
        out.write(visible(line.rstrip()) + "\n")
    out.write(visible(headline(report)) + "\n")


# Backslash-escaped in markdown text: code spans, emphasis, links, strikethrough, table cells.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]~|])")
# GitHub links `@name`, `#12` and `GH-12` after rendering, whatever the escapes: a zero-width joiner
# after the `@`, the `#` or the `GH` breaks them.
_REFERENCE = re.compile("([@#]|(?<![A-Za-z0-9])[Gg][Hh](?=-[0-9]))")
ZERO_WIDTH_JOINER = "\u200d"


def one_line(text: str) -> str:
    """`text` on one line, without control characters: the common ground of every escape below."""
    return visible(" ".join(text.split()))


def markdown_text(text: str) -> str:
    """Free text (a note, a message) safe in a GitHub markdown table cell: shown as written, nothing more.

    No raw HTML, no emphasis or links, no `@mention` or `#12` reference, no line break, no cell break.
    """
    text = html.escape(one_line(text), quote=False)
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    return _REFERENCE.sub("\\1" + ZERO_WIDTH_JOINER, text)


def markdown_code(text: str) -> str:
    """`text` as a code span in a markdown table cell, whatever backticks or pipes it holds."""
    text = one_line(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A space each side is stripped again by the renderer; it keeps a leading or trailing backtick apart.
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def html_text(text: str) -> str:
    """Free text safe in HTML element content and attribute values."""
    return html.escape(one_line(text), quote=True)


def _cell(text: str | None, *, code: bool = False) -> str:
    if not text:
        return ""
    return markdown_code(text) if code else markdown_text(text)


_TABLE_HEADER = (
    "| | Data entry | Peak | Current | Desired | Status | Source | Note |\n"
    "|---|---|---|---|---|---|---|---|\n"
)


def _row(report: Report, item: Item) -> str:
    note = "; ".join(part for part in (item.note, item.message) if part)
    cells = [
        marker(report, item),
        _cell(item.data_id, code=True),
        _cell(item.peak_id, code=True),
        _cell(shown_current(item), code=True),
        _cell(item.desired, code=True),
        item.status.value,
        _cell(item.source, code=True),
        _cell(note),
    ]
    return "| " + " | ".join(cells) + " |\n"


def _where_in_full(report_path: str | None, html_path: str | None) -> str:
    """Where the whole report is: the page or the JSON file written beside, else how to get it."""
    path = html_path or report_path
    if path is None:
        return "rerun with --report PATH or --format json for the full report"
    return f"the full report is in {markdown_code(path)}"


def _cut_note(*, hidden: int, limit: int, fits_header: bool, where: str) -> str:
    """The last line of a markdown report that does not fit: what is left out, and where it is."""
    rows = _plural(hidden, "more row")
    if fits_header:
        return f"{rows} not shown, to stay under {limit} characters; {where}.\n"
    return f"The table ({rows}) does not fit in {limit} characters; {where}.\n"


def _longest_note(*, listed: int, limit: int, where: str) -> int:
    """The most characters the last line can take (with the blank line before it)."""
    return 1 + max(
        len(_cut_note(hidden=listed, limit=limit, fits_header=fits, where=where)) for fits in (True, False)
    )


def _head(report: Report, budget: int) -> str:
    """The title and headline, the headline cut short (before escaping) when even it exceeds `budget`."""
    title = f"### oes-reconcile {report.command}\n\n"
    line = headline(report)
    text = f"{title}**{markdown_text(line)}**\n\n"
    if len(text) <= budget:
        return text
    # The longest start of the headline that fits once escaped (an escape can take several characters).
    low, high = 0, len(line)
    while low < high:
        middle = (low + high + 1) // 2
        if len(f"{title}**{markdown_text(line[:middle])}…**\n\n") <= budget:
            low = middle
        else:
            high = middle - 1
    return f"{title}**{markdown_text(line[:low])}…**\n\n"


def write_markdown(
    report: Report,
    out: TextIO,
    *,
    max_chars: int = DEFAULT_MAX_MARKDOWN_CHARS,
    report_path: str | None = None,
    html_path: str | None = None,
) -> None:
    """A pull-request comment: the headline, a table of changes and errors, in-sync peaks as a count.

    At most `max_chars` characters in all (the CLI takes 1000 and up): beyond, whole rows are left out
    and a last line says how many and where the full report is (`html_path`, else `report_path`, else how
    to get one); when not even the table's header fits, the headline and that line are all. Rows are
    written as they come: only those a last line could still displace are held back.
    """
    in_sync = summary(report)["in_sync"]
    listed = sum(item.status is not Status.IN_SYNC for item in report.items)
    where = _where_in_full(report_path, html_path)
    if _longest_note(listed=listed, limit=max_chars, where=where) > max_chars // 2:
        where = _where_in_full(None, None)  # a path about as long as the limit would leave no room
    longest_note = _longest_note(listed=listed, limit=max_chars, where=where)
    head = _head(report, max_chars - longest_note)
    table = _TABLE_HEADER if listed else ""
    closing = ("\n" if listed else "") + (
        f"{_plural(in_sync, 'override')} in sync (not listed).\n" if in_sync else ""
    )
    # Room for the rows when all of them fit, and when some are cut (the last line then takes its share).
    room_all = max_chars - len(head) - len(table) - len(closing)
    room_cut = room_all - longest_note
    if listed and room_cut < 0:
        note = _cut_note(hidden=listed, limit=max_chars, fits_header=False, where=where)
        out.write(head + note)
        return
    out.write(head + table)
    written = used = 0
    held: list[str] = []  # rows past room_cut: written only if every row fits in room_all
    held_size = 0
    for item in report.items:
        if item.status is Status.IN_SYNC:
            continue
        row = _row(report, item)
        if not held and used + len(row) <= room_cut:
            out.write(row)
            written += 1
            used += len(row)
        elif used + held_size + len(row) <= room_all:
            held.append(row)
            held_size += len(row)
        else:
            note = _cut_note(hidden=listed - written, limit=max_chars, fits_header=True, where=where)
            out.write(f"{closing}\n{note}")
            return
    out.write("".join(held) + closing)
