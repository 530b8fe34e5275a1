"""The reports: text lines and headline, the markdown table, and the JSON document."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from reconciler.document import write_json
from reconciler.models import Item, Status
from reconciler.report import (
    ZERO_WIDTH_JOINER,
    Report,
    headline,
    html_text,
    markdown_code,
    markdown_text,
    one_line,
    summary,
    write_markdown,
    write_text,
)
from reconciler.sandbox import Sandbox
from tests.conftest import Cli
from tests.factories import ENTRY, OTHER


def item(peak_id: str, status: Status, **fields: object) -> Item:
    values: dict[str, object] = {"current": "In_451.1", "element": "In", "manual": False}
    values |= fields
    data_id = str(values.pop("data_id", ENTRY))
    return Item(data_id, peak_id, "Ga_417.2", status, f"overrides/gan.yaml:{4 + len(peak_id)}", **values)  # type: ignore[arg-type]


def report(*items: Item, command: str = "plan", **fields: object) -> Report:
    return Report(
        command=command,
        endpoint="https://api.atomscale.ai/",
        sources=["overrides/gan.yaml"],
        items=list(items),
        entries=len({i.data_id for i in items}),
        generated_at="2026-11-29T07:00:00Z",
        **fields,  # type: ignore[arg-type]
    )


def text(rep: Report, *, verbose: bool = False) -> str:
    out = io.StringIO()
    write_text(rep, out, verbose=verbose)
    return out.getvalue()


PLAN = report(
    item("p1", Status.CHANGE),
    item("p2", Status.IN_SYNC, current="Ga_417.2", manual=True),
    item(
        "p9", Status.PEAK_NOT_FOUND, data_id=OTHER, current=None, element=None, manual=None, message="no p9"
    ),
)


def test_text_lists_changes_and_errors_then_the_headline() -> None:
    """Text shows `~` changes and `!` errors with their source; in-sync peaks only in the count."""
    assert text(PLAN) == (
        f"~ {ENTRY} p1  In_451.1 -> Ga_417.2  overrides/gan.yaml:6\n"
        f"! {OTHER} p9  peak_not_found        overrides/gan.yaml:6  (no p9)\n"
        "Plan: 1 to change, 1 in sync, 1 error.\n"
    )


def test_verbose_text_also_lists_in_sync_peaks() -> None:
    """With -v, in-sync peaks are listed with `=`."""
    assert f"= {ENTRY} p2  Ga_417.2" in text(PLAN, verbose=True)


def test_nothing_to_do_is_one_line() -> None:
    """A plan with nothing to change says so in one line."""
    rep = report(item("p1", Status.IN_SYNC), item("p2", Status.IN_SYNC))
    assert text(rep) == "No changes: 2 overrides match.\n"


def test_apply_headline_counts_outcomes_and_interruption() -> None:
    """The apply headline counts applied, in sync, failed, stale, unpatched and errors."""
    rep = report(
        item("p1", Status.APPLIED),
        item("p2", Status.FAILED, message="HTTP 400: no"),
        item("p3", Status.STALE),
        item("p4", Status.CHANGE),
        command="apply",
        interrupted=True,
    )
    assert headline(rep) == (
        "Apply incomplete (interrupted): 1 applied, 0 in sync, 1 failed, 1 stale, 1 not patched. "
        "Rerun to finish."
    )


def test_element_only_current_is_shown_as_element() -> None:
    """When the server gives only the element, the text says so rather than inventing a key."""
    rep = report(item("p1", Status.CHANGE, current=None, element="In"))
    assert "In (element) -> Ga_417.2" in text(rep)


def test_markdown_is_a_table_of_changes_and_errors_with_in_sync_folded() -> None:
    """Markdown heads with the headline, tables what needs attention, and counts the rest."""
    out = io.StringIO()
    write_markdown(PLAN, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "### oes-reconcile plan"
    assert lines[2] == "**Plan: 1 to change, 1 in sync, 1 error.**"
    assert lines[4].startswith("| | Data entry | Peak |")
    assert lines[6] == (
        f"| ~ | `{ENTRY}` | `p1` | `In_451.1` | `Ga_417.2` | change | `overrides/gan.yaml:6` |  |"
    )
    assert lines[7].startswith(f"| ! | `{OTHER}` | `p9` | `-` |")
    assert lines[-1] == "1 override in sync (not listed)."


def test_markdown_escapes_pipes_in_notes() -> None:
    """A note with `|` cannot break the table."""
    out = io.StringIO()
    write_markdown(report(item("p1", Status.CHANGE, note="a | b")), out)
    assert "a \\| b" in out.getvalue()


def test_json_has_the_specified_shape_and_order() -> None:
    """JSON carries format_version "2", the summary, items with every specified field, then their digest."""
    out = io.StringIO()
    write_json(PLAN, out)
    document = json.loads(out.getvalue())
    assert list(document) == [
        "format_version",
        "command",
        "generated_at",
        "endpoint",
        "sources",
        "summary",
        "items",
        "items_digest",
    ]
    assert document["format_version"] == "2"
    assert document["summary"] == {
        "overrides": 3,
        "entries": 2,
        "in_sync": 1,
        "change": 1,
        "applied": 0,
        "failed": 0,
        "stale": 0,
        "errors": 1,
        "element_only": 0,
    }
    assert document["items"][0] == {
        "data_id": ENTRY,
        "peak_id": "p1",
        "desired": "Ga_417.2",
        "current": "In_451.1",
        "element": "In",
        "manual": False,
        "status": "change",
        "source": "overrides/gan.yaml:6",
        "note": None,
        "message": None,
        "last_updated": None,
        "wavelength_nm": None,
        "verified_by": None,
    }


def test_empty_json_report_is_valid() -> None:
    """A run over no items still writes a valid document."""
    out = io.StringIO()
    write_json(report(), out)
    assert json.loads(out.getvalue())["items"] == []


def test_summary_counts_every_error_status() -> None:
    """summary.errors counts entry_not_found, peak_not_found, invalid_candidate, fetch_failed, conflict
    and peak_moved."""
    errors = [
        Status.ENTRY_NOT_FOUND,
        Status.PEAK_NOT_FOUND,
        Status.INVALID_CANDIDATE,
        Status.FETCH_FAILED,
        Status.CONFLICT,
        Status.PEAK_MOVED,
    ]
    rep = report(*(item(f"p{i}", status) for i, status in enumerate(errors)))
    assert summary(rep)["errors"] == 6


CONFLICT = "set to Ga_403.3 by run 12 at 2026-11-30T07:00:00Z; now In_451.1 (pinned on the platform since)"
MOVED = "peak 'p2' is now at 451 nm, not within 0.5 nm of 417.21 nm; peaks near 417.21 nm now: p4 (417.18 nm)"


def test_conflicts_and_moved_peaks_are_errors_with_their_message() -> None:
    """conflict and peak_moved read `!` with the message saying why, in text and markdown; JSON carries
    the peak's wavelength."""
    rep = report(
        item("p1", Status.CONFLICT, manual=True, message=CONFLICT),
        item("p2", Status.PEAK_MOVED, wavelength_nm=451.0, message=MOVED),
    )
    assert text(rep) == (
        f"! {ENTRY} p1  conflict    overrides/gan.yaml:6  ({CONFLICT})\n"
        f"! {ENTRY} p2  peak_moved  overrides/gan.yaml:6  ({MOVED})\n"
        "Plan: 0 to change, 0 in sync, 2 errors.\n"
    )
    out = io.StringIO()
    write_markdown(rep, out)
    assert "| ! | `" in out.getvalue()
    assert "| conflict | `overrides/gan.yaml:6` | set to Ga\\_403.3 by run 12" in out.getvalue()
    document = io.StringIO()
    write_json(rep, document)
    assert [i["wavelength_nm"] for i in json.loads(document.getvalue())["items"]] == [None, 451.0]


# --- The headline tells the truth at a glance ---

NOT_FETCHED = "not fetched: the run was interrupted"


def unseen(peak_id: str, status: Status = Status.FETCH_FAILED, message: str = NOT_FETCHED) -> Item:
    return item(peak_id, status, current=None, element=None, manual=None, message=message)


def by_element(peak_id: str) -> Item:
    """An in-sync item the server showed by element only (no candidate key)."""
    return item(peak_id, Status.IN_SYNC, current=None, element="Ga", manual=True, message="by element")


def in_sync(peak_id: str) -> Item:
    return item(peak_id, Status.IN_SYNC, current="Ga_417.2", manual=True)


def test_unpatched_changes_of_an_apply_have_their_own_marker() -> None:
    """After a stopped apply, a change left unpatched reads `-` (with why), never `~`, which reads as done."""
    rep = report(
        item("p1", Status.APPLIED, current="Ga_417.2", manual=True),
        item("p2", Status.CHANGE, message="not patched: the API refused the key"),
        command="apply",
        stopped="the API refused the key",
    )
    lines = text(rep).splitlines()
    assert lines[0].startswith(f"~ {ENTRY} p1  ")
    assert lines[1] == (
        f"- {ENTRY} p2  In_451.1 -> Ga_417.2  overrides/gan.yaml:6  (not patched: the API refused the key)"
    )
    assert (
        lines[2]
        == "Apply incomplete (the API refused the key): 1 applied, 0 in sync, 0 failed, 1 not patched."
    )
    out = io.StringIO()
    write_markdown(rep, out)
    assert f"| - | `{ENTRY}` | `p2` |" in out.getvalue()
    assert f"| ~ | `{ENTRY}` | `p1` |" in out.getvalue()


def test_a_plan_marks_its_changes_as_to_do() -> None:
    """In a plan, a change is `~` (would PATCH): `-` is only for an apply that left it."""
    assert text(report(item("p1", Status.CHANGE))).startswith(f"~ {ENTRY} p1")


@pytest.mark.parametrize(
    ("stopped", "interrupted", "reason"),
    [
        (None, True, "interrupted"),
        ("the API refused the key", False, "the API refused the key"),
        (
            "API unreachable at https://api.example.test/",
            True,
            "API unreachable at https://api.example.test/",
        ),
    ],
)
def test_a_stopped_plan_never_says_no_changes(stopped: str | None, interrupted: bool, reason: str) -> None:
    """A stopped plan says why first (`stopped` over a bare signal), and what it did not fetch."""
    rep = report(
        in_sync("p1"), in_sync("p2"), unseen("p3"), unseen("p4"), stopped=stopped, interrupted=interrupted
    )
    expected = f"Plan incomplete ({reason}): 0 to change, 2 in sync, 2 not fetched."
    assert headline(rep) == expected


def test_a_stopped_plan_that_saw_everything_still_says_it_stopped() -> None:
    """Even with every override seen in sync, a stop (here an internal error) is not "No changes"."""
    rep = report(in_sync("p1"), stopped="an internal error")
    assert headline(rep) == "Plan incomplete (an internal error): 0 to change, 1 in sync."


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("interrupted", "Apply incomplete (interrupted): 0 applied, 1 in sync, 0 failed, 1 not patched."),
        (
            "the audit log could not be written",
            "Apply incomplete (the audit log could not be written): 0 applied, 1 in sync, 0 failed, "
            "1 not patched.",
        ),
    ],
)
def test_a_stopped_apply_names_the_reason(reason: str, expected: str) -> None:
    """Apply's headline names the stop reason in front; a signal also says a rerun finishes the job."""
    rep = report(in_sync("p1"), item("p2", Status.CHANGE), command="apply", stopped=reason)
    assert headline(rep) == expected
    interrupted = report(in_sync("p1"), item("p2", Status.CHANGE), command="apply", interrupted=True)
    assert headline(interrupted) == (
        "Apply incomplete (interrupted): 0 applied, 1 in sync, 0 failed, 1 not patched. Rerun to finish."
    )


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_nothing_fetched_says_so(command: str) -> None:
    """Every override unfetched (refused, unreachable, not found): "nothing could be fetched"."""
    rep = report(
        unseen("p1"),
        unseen("p2", message="not fetched: the API refused the key"),
        unseen("p3", Status.ENTRY_NOT_FOUND, message="no such entry"),
        command=command,
    )
    assert headline(rep) == f"{command.title()}: nothing could be fetched: 3 errors."


def test_a_plan_with_unfetched_entries_is_not_no_changes() -> None:
    """An entry not fetched (retries exhausted) may need changes: the plan does not say there are none."""
    rep = report(in_sync("p1"), in_sync("p2"), unseen("p3", message="gave up after 6 attempts"))
    assert headline(rep) == "Plan: 0 to change, 2 in sync, 1 not fetched."


def test_a_plan_of_only_errors_is_not_no_changes() -> None:
    """Peaks fetched but none found matches nothing: the counts, not "No changes"."""
    rep = report(unseen("p1", Status.PEAK_NOT_FOUND, "no p1"), unseen("p2", Status.PEAK_NOT_FOUND, "no p2"))
    assert headline(rep) == "Plan: 0 to change, 0 in sync, 2 errors."


def test_one_match_is_singular() -> None:
    """One override in sync: "1 override matches"."""
    assert headline(report(in_sync("p1"))) == "No changes: 1 override matches."


def test_element_only_matches_are_counted_apart() -> None:
    """A match by element only cannot tell two lines apart: the headline says how many there are."""
    matches = [by_element("p1"), by_element("p2"), by_element("p3"), in_sync("p4")]
    missing = unseen("p9", Status.PEAK_NOT_FOUND, "no p9")
    assert headline(report(*matches, missing)) == (
        "No changes: 4 overrides match (3 by element only: the line cannot be seen), 1 error."
    )
    assert headline(report(*matches, item("p5", Status.CHANGE), item("p6", Status.CHANGE))) == (
        "Plan: 2 to change, 4 in sync (3 by element only)."
    )
    applied = item("p5", Status.APPLIED, current=None, element="Ga", manual=True)
    assert headline(report(*matches, applied, command="apply")) == (
        "Apply: 1 applied, 4 in sync (3 by element only), 0 failed."
    )
    assert summary(report(*matches, applied))["element_only"] == 3
    out = io.StringIO()
    write_markdown(report(*matches), out)
    assert "**No changes: 4 overrides match (3 by element only: the line cannot be seen).**" in out.getvalue()


def test_a_full_match_is_not_counted_as_element_only() -> None:
    """A peak showing its candidate key is a full match, and an unseen peak is no match at all."""
    rep = report(in_sync("p1"), unseen("p2", Status.PEAK_NOT_FOUND, "no p2"), item("p3", Status.CHANGE))
    assert summary(rep)["element_only"] == 0


def test_an_element_match_verified_by_the_record_is_a_full_match() -> None:
    """The record saw oes-reconcile set that very key, and the entry is untouched since: not counted apart."""
    verified = item(
        "p1",
        Status.IN_SYNC,
        current=None,
        element="Ga",
        manual=True,
        message="verified by the record (run 4)",
        verified_by=4,
    )
    assert headline(report(verified, by_element("p2"))) == (
        "No changes: 2 overrides match (1 by element only: the line cannot be seen)."
    )
    assert headline(report(verified)) == "No changes: 1 override matches."


# --- Markdown that GitHub shows as written: hostile notes and ids ---

HOSTILE_NOTE = (
    "@channel <img src=x onerror=alert(1)> | ``x`` #12 GH-7\nsecond line & *more* [link](http://x) \\"
)
HOSTILE_PEAK = "p`1`|<b>"
HOSTILE_SOURCE = "over`rides/a|b.yaml:4"


class Cells(HTMLParser):
    """The cells of the rendered tables, as text; the text outside code; every element seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.codes: list[str] = []
        self.tags: set[str] = set()
        self.plain = ""
        self._in_cell = self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self._in_cell = True
        elif tag == "code":
            self._in_code = True
            self.codes.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_code = False
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.rows[-1][-1] += data
        if self._in_code:
            self.codes[-1] += data
        else:
            self.plain += data


def rendered(markdown: str) -> Cells:
    """Markdown rendered as a CommonMark renderer with GFM tables does (markdown-it-py, which rich brings)."""
    cells = Cells()
    cells.feed(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))
    return cells


def hostile_report() -> Report:
    hostile = Item(
        ENTRY,
        HOSTILE_PEAK,
        "Ga_`417.2`",
        Status.CHANGE,
        HOSTILE_SOURCE,
        note=HOSTILE_NOTE,
        current="`In_451.1",
        element="In",
        manual=False,
    )
    return report(hostile, stopped="API unreachable at https://api.example.test/_x_/")


def test_hostile_notes_and_ids_are_shown_as_written_in_markdown() -> None:
    """Mentions, raw HTML, backticks, pipes, line breaks and `#12` in notes and ids: shown, never acted on."""
    out = io.StringIO()
    write_markdown(hostile_report(), out)
    markdown = out.getvalue()
    html = rendered(markdown)
    assert markdown.count("\n| ") == 2  # the header and one row: the note's line break was folded
    header, row = html.rows
    assert len(row) == len(header) == 8  # no `|` opened a cell
    assert not html.tags - {"h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code"}
    assert [row[2], row[3], row[4], row[6]] == [HOSTILE_PEAK, "`In_451.1", "Ga_`417.2`", HOSTILE_SOURCE]
    assert row[7].replace(ZERO_WIDTH_JOINER, "") == " ".join(HOSTILE_NOTE.split())
    assert not re.search("@[A-Za-z0-9]", html.plain)  # GitHub would mention @channel
    assert not re.search("#[0-9]", html.plain)  # ... and link issue 12
    assert not re.search("(?i)GH-[0-9]", html.plain)  # ... and issue 7
    assert "**Plan incomplete (API unreachable at https://api.example.test/\\_x\\_/)" in markdown


def test_markdown_code_spans_hold_any_text() -> None:
    """Runs of backticks, a leading or trailing one, pipes, backslashes: the code span shows them all."""
    for value in ["`", "``", "a`b", "`a", "a`", "a``b`c", "```", "a|b", "a\\|b", "\\", "<b>&amp;"]:
        html = rendered(f"| h |\n|---|\n| {markdown_code(value)} |\n")
        assert html.codes == [value], value


# Any text, with markdown's and GitHub's special characters well represented.
ANY_TEXT = st.text(st.one_of(st.sampled_from("`|\\<>&@#*_[]()~!- \n"), st.characters()))


@given(ANY_TEXT)
def test_markdown_text_is_shown_as_written(value: str) -> None:
    """For any text, the markdown cell renders to exactly that text (on one line), with no element in it."""
    html = rendered(f"| h |\n|---|\n| {markdown_text(value)} |\n")
    expected = re.sub("([@#])", "\\1" + ZERO_WIDTH_JOINER, one_line(value))
    assert html.rows[-1] == [expected]
    assert not html.tags - {"table", "thead", "tbody", "tr", "th", "td"}


@given(ANY_TEXT)
def test_markdown_code_is_shown_as_written(value: str) -> None:
    """For any text, the code span renders to exactly that text (on one line)."""
    if not one_line(value):
        return
    html = rendered(f"| h |\n|---|\n| {markdown_code(value)} |\n")
    assert html.codes == [one_line(value)]


def test_html_text_escapes_markup_and_folds_lines() -> None:
    """The HTML helper leaves no tag, attribute break or line break."""
    assert html_text('<a href="x">&</a>\n\'@x') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt; &#x27;@x"


def markdown_of(rep: Report, **options: object) -> str:
    out = io.StringIO()
    write_markdown(rep, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


def changes(count: int, **fields: object) -> list[Item]:
    return [item(f"p{n}", Status.CHANGE, **fields) for n in range(count)]


def assert_whole_rows(markdown: str) -> None:
    """Every table line is a whole row: it opens and closes with a pipe, and has the header's cells."""
    html = rendered(markdown)
    assert all(len(row) == 8 for row in html.rows)
    assert all(line.endswith(" |") for line in markdown.splitlines() if line.startswith("| "))


def test_markdown_over_the_limit_cuts_whole_rows_and_says_where_the_rest_is() -> None:
    """1000 changes in 5000 characters: whole rows, then a last line with how many more and the report."""
    rep = report(*changes(1000), item("q", Status.IN_SYNC))
    markdown = markdown_of(rep, max_chars=5000, report_path="out/report.json")
    assert len(markdown) <= 5000
    lines = markdown.splitlines()
    assert lines[2] == "**Plan: 1000 to change, 1 in sync.**"
    assert lines[4].startswith("| | Data entry | Peak |")
    assert_whole_rows(markdown)
    shown = len(rendered(markdown).rows) - 1
    assert 20 < shown < 1000
    assert "1 override in sync (not listed)." in lines
    assert lines[-1] == (
        f"{1000 - shown} more rows not shown, to stay under 5000 characters; "
        "the full report is in `out/report.json`."
    )
    assert len(markdown) > 5000 - 300  # the room was used: at most a row and the last line's slack left


def test_markdown_under_the_limit_is_whole() -> None:
    """A report that fits is written whole, the same as with the largest limit, with no last line."""
    rep = report(*changes(30), item("q", Status.IN_SYNC))
    whole = markdown_of(rep, max_chars=1_000_000)
    assert markdown_of(rep) == whole
    assert markdown_of(rep, max_chars=len(whole)) == whole
    cut = markdown_of(rep, max_chars=len(whole) - 1)
    assert len(cut) < len(whole)
    assert cut.endswith("rerun with --report PATH or --format json for the full report.\n")


def test_markdown_names_the_page_before_the_json_report() -> None:
    """The last line names the HTML page when one is written, else the JSON report."""
    rep = report(*changes(100))
    assert "the full report is in `r.html`." in markdown_of(
        rep, max_chars=2000, report_path="r.json", html_path="r.html"
    )


def test_markdown_limit_below_the_header_keeps_the_headline_and_says_so() -> None:
    """A headline that leaves no room for the table: the headline (cut if need be) and the last line only."""
    for reason in ("x" * 800, "@all #12 `" * 400):
        rep = report(*changes(3), stopped=reason)
        markdown = markdown_of(rep, max_chars=1000, report_path="r.json")
        assert len(markdown) <= 1000
        lines = markdown.splitlines()
        assert lines[0] == "### oes-reconcile plan"
        assert lines[2].startswith("**Plan incomplete (")
        assert lines[-1] == (
            "The table (3 more rows) does not fit in 1000 characters; the full report is in `r.json`."
        )
        assert "|" not in lines[-1]
        assert not rendered(markdown).rows
        assert not rendered(markdown).tags - {"h3", "p", "strong", "code"}


def test_markdown_path_as_long_as_the_limit_is_not_named() -> None:
    """A report path that would fill the comment is left out: the last line says how to get the report."""
    markdown = markdown_of(report(*changes(100)), max_chars=1000, report_path="r" * 990)
    assert len(markdown) <= 1000
    assert markdown.endswith("rerun with --report PATH or --format json for the full report.\n")


@settings(max_examples=60, deadline=None)
@given(
    notes=st.lists(ANY_TEXT, max_size=40),
    limit=st.integers(min_value=1000, max_value=8000),
    in_sync=st.booleans(),
)
def test_markdown_never_exceeds_the_limit(notes: list[str], limit: int, in_sync: bool) -> None:
    """Hostile notes of any length, any count of rows: the comment stays in the limit, rows stay whole,
    and the rows shown and the count said to be left out add up to the rows."""
    long_notes = [note * 50 for note in notes]
    rep = report(
        *[item(f"p{n}", Status.CHANGE, note=note) for n, note in enumerate(long_notes)],
        *([item("q", Status.IN_SYNC)] if in_sync else []),
    )
    markdown = markdown_of(rep, max_chars=limit)
    assert len(markdown) <= limit
    assert_whole_rows(markdown)
    shown = max(len(rendered(markdown).rows) - 1, 0)
    cut = re.search(r"\n([0-9]+) more rows? not shown", markdown) or re.search(
        r"\(([0-9]+) more rows?\)", markdown
    )
    assert shown + (int(cut.group(1)) if cut else 0) == len(notes)


# --- End to end, the real CLI against the sandbox ---


@pytest.mark.slow
def test_example_plan_counts_its_element_only_match(sandbox: Sandbox, cli: Cli) -> None:
    """The sandbox's AlN entry shows elements only: its match is counted apart in text and markdown."""
    ran = cli("plan", "examples/overrides.yaml")
    assert "in sync (1 by element only)" in ran.out.splitlines()[-1]
    markdown = cli("plan", "--format", "markdown", "examples/overrides.yaml").out
    assert "in sync (1 by element only)" in markdown.splitlines()[2]


@pytest.mark.slow
def test_a_refused_key_never_reads_no_changes(
    sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plan with a key the API refuses: the headline says nothing was fetched, not "No changes"."""
    monkeypatch.setenv("AS_API_KEY", "not-the-key")
    ran = cli("plan", "examples/overrides.yaml")
    assert ran.code == 1
    last = ran.out.splitlines()[-1]
    assert not last.startswith("No changes")
    assert "fetched" in last


@pytest.mark.slow
def test_a_hostile_note_through_the_cli_is_escaped(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """A note from an override file reaches the markdown report escaped, the table intact."""
    overrides = tmp_path / "o.yaml"
    note = json.dumps(HOSTILE_NOTE)
    overrides.write_text(
        f"version: 1\noverrides:\n  {ENTRY}:\n    p1:\n      candidate_key: Ga_417.2\n      note: {note}\n",
        encoding="utf-8",
    )
    ran = cli("plan", "--format", "markdown", str(overrides))
    html = rendered(ran.out)
    header, row = html.rows
    assert len(row) == len(header)
    assert row[7].replace(ZERO_WIDTH_JOINER, "") == " ".join(HOSTILE_NOTE.split())
    assert "img" not in html.tags
    assert not re.search("@[A-Za-z0-9]|#[0-9]", html.plain)


@pytest.mark.slow
def test_plan_markdown_keeps_to_max_markdown_chars(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`--max-markdown-chars 1000` cuts a table of long notes; its last line names the `--report` file."""
    overrides = tmp_path / "overrides.yaml"
    note = "note: " + "checked against the growth log " * 10
    text = Path("examples/overrides.yaml").read_text(encoding="utf-8")
    overrides.write_text(text.replace("note: confirmed by XPS", note), encoding="utf-8")
    report_path = tmp_path / "report.json"
    ran = cli(
        "plan",
        "--format",
        "markdown",
        "--max-markdown-chars",
        "1000",
        "--report",
        str(report_path),
        str(overrides),
    )
    assert len(ran.out) <= 1000
    last = ran.out.splitlines()[-1]
    assert re.fullmatch("[0-9]+ more rows? not shown, to stay under 1000 characters; .*", last)
    assert last.endswith(f"the full report is in `{report_path}`.")
    assert report_path.is_file()


@pytest.mark.parametrize("value", ["999", "1000001", "many"])
def test_max_markdown_chars_is_bounded(cli: Cli, value: str) -> None:
    """A limit below 1000 or above a million is refused as a usage error, before anything is sent."""
    ran = cli("plan", "--format", "markdown", "--max-markdown-chars", value, "examples/overrides.yaml")
    assert ran.code == 1
    assert "--max-markdown-chars" in ran.err
