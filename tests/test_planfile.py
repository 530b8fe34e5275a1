"""Saved plans: read back exactly as written, and refused when they are not plans of this version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import InputError
from reconciler.models import Item, Status
from reconciler.planfile import read_plan
from reconciler.report import Report, write_json
from tests.factories import ENTRY


def saved(tmp_path: Path, **changes: object) -> str:
    items = [
        Item(
            ENTRY,
            "p1",
            "Ga_417.2",
            Status.CHANGE,
            "a.yaml:4",
            note="n",
            current="In_451.1",
            element="In",
            manual=False,
        ),
        Item(
            ENTRY, "p2", "N2_337.1", Status.IN_SYNC, "a.yaml:5", current="N2_337.1", element="N2", manual=True
        ),
    ]
    rep = Report(
        "plan", "https://x.test/", ["a.yaml"], items, 1, "2026-11-29T07:00:00Z", overrides_digest="sha256:ab"
    )
    path = tmp_path / "plan.json"
    with path.open("w") as out:
        write_json(rep, out)
    if changes:
        document = json.loads(path.read_text())
        document.update(changes)
        path.write_text(json.dumps(document))
    return str(path)


def test_plan_round_trips(tmp_path: Path) -> None:
    """What `plan --out` writes, `apply --plan` reads back item for item."""
    plan = read_plan(saved(tmp_path))
    assert plan.endpoint == "https://x.test/"
    assert plan.overrides_digest == "sha256:ab"
    first = plan.items[0]
    assert (first.status, first.current, first.element, first.manual, first.note) == (
        Status.CHANGE,
        "In_451.1",
        "In",
        False,
        "n",
    )


def test_other_format_version_is_refused(tmp_path: Path) -> None:
    """A plan from another format version is refused, saying which versions are involved."""
    with pytest.raises(InputError, match=r"format version '2'.*reads version '1'"):
        read_plan(saved(tmp_path, format_version="2"))


def test_apply_report_is_not_a_plan(tmp_path: Path) -> None:
    """The report of an apply run cannot be applied as a plan."""
    with pytest.raises(InputError, match="not a saved plan"):
        read_plan(saved(tmp_path, command="apply"))


def test_garbage_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    """A file that is not JSON, or not there, is an InputError naming it."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json is not a saved plan"):
        read_plan(str(bad))
    with pytest.raises(InputError, match="cannot read plan"):
        read_plan(str(tmp_path / "missing.json"))
