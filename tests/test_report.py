"""The reports: text lines and headline, the markdown table, and the JSON document."""

from __future__ import annotations

import io
import json

from reconciler.models import Item, Status
from reconciler.report import Report, headline, summary, write_json, write_markdown, write_text
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
        "Apply: 1 applied, 0 in sync, 1 failed, 1 stale, 1 not patched. Interrupted: rerun to finish."
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
    """JSON carries format_version "1", the summary, and items with every specified field."""
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
    ]
    assert document["summary"] == {
        "overrides": 3,
        "entries": 2,
        "in_sync": 1,
        "change": 1,
        "applied": 0,
        "failed": 0,
        "stale": 0,
        "errors": 1,
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
    }


def test_empty_json_report_is_valid() -> None:
    """A run over no items still writes a valid document."""
    out = io.StringIO()
    write_json(report(), out)
    assert json.loads(out.getvalue())["items"] == []


def test_summary_counts_every_error_status() -> None:
    """summary.errors counts entry_not_found, peak_not_found, invalid_candidate and fetch_failed."""
    errors = [Status.ENTRY_NOT_FOUND, Status.PEAK_NOT_FOUND, Status.INVALID_CANDIDATE, Status.FETCH_FAILED]
    rep = report(*(item(f"p{i}", status) for i, status in enumerate(errors)))
    assert summary(rep)["errors"] == 4
