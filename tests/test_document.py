"""Saved plans: read back as written; refused when edited, doubled, cut short or of another version."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler import document
from reconciler.document import copy_json, read_plan, write_json
from reconciler.errors import InputError
from reconciler.models import Item, Status
from reconciler.report import Report
from tests.factories import ENTRY, OTHER

Edit = dict[str, Any]


def planned_items() -> list[Item]:
    return [
        Item(
            ENTRY,
            "p1",
            "Ga_417.2",
            Status.CHANGE,
            "a.yaml:4",
            note="réglé par XPS — µ",
            current="In_451.1",
            element="In",
            manual=False,
        ),
        Item(
            ENTRY, "p2", "N2_337.1", Status.IN_SYNC, "a.yaml:5", current="N2_337.1", element="N2", manual=True
        ),
        Item(
            OTHER, "p9", "Ga_417.2", Status.PEAK_NOT_FOUND, "a.yaml:7", message="the result has no peak 'p9'"
        ),
    ]


def write_plan(tmp_path: Path, items: list[Item] | None = None) -> Path:
    """A plan as `plan --out` writes it."""
    rep = Report(
        "plan",
        "https://x.test/",
        ["a.yaml"],
        planned_items() if items is None else items,
        2,
        "2026-11-29T07:00:00Z",
        overrides_digest="sha256:ab",
    )
    path = tmp_path / "plan.json"
    with path.open("w", encoding="utf-8") as out:
        write_json(rep, out)
    return path


def digest_of(items: list[dict[str, Any]]) -> str:
    """The digest worked out apart from the code under test: sha256 over each item's JSON line."""
    lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def edited(tmp_path: Path, edit: Any, *, re_sign: bool = False) -> str:
    """The saved plan after `edit(document)`; `re_sign` puts a matching digest back, as a forger would."""
    path = write_plan(tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    if re_sign:
        document["items_digest"] = digest_of(document["items"])
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_plan_round_trips(tmp_path: Path) -> None:
    """What `plan --out` writes, `apply --plan` reads back item for item."""
    plan = read_plan(str(write_plan(tmp_path)))
    assert plan.endpoint == "https://x.test/"
    assert plan.overrides_digest == "sha256:ab"
    assert list(plan.items) == planned_items()


def test_digest_is_sha256_over_the_item_lines_written_last(tmp_path: Path) -> None:
    """The plan ends with `items_digest`: sha256 over each item's JSON line as written (non-ASCII kept)."""
    text = write_plan(tmp_path).read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["format_version"] == "2"
    assert list(document)[-1] == "items_digest"
    assert document["items_digest"] == digest_of(document["items"])
    assert "réglé par XPS — µ" in text


def test_empty_plan_round_trips(tmp_path: Path) -> None:
    """A plan of no items carries the digest of nothing and reads back empty."""
    path = write_plan(tmp_path, items=[])
    assert json.loads(path.read_text())["items_digest"] == digest_of([])
    assert read_plan(str(path)).items == ()


def test_plan_written_before_wavelengths_is_still_read(tmp_path: Path) -> None:
    """A plan written before items carried wavelength_nm and verified_by (its digest over lines without
    them) still reads, the two unknown; one that gains either by hand is refused."""
    path = write_plan(tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    for written in document["items"]:
        del written["wavelength_nm"], written["verified_by"]
    document["items_digest"] = digest_of(document["items"])
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    assert list(read_plan(str(path)).items) == planned_items()
    document["items"][0]["wavelength_nm"] = 417.2
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(InputError, match="do not match its items_digest"):
        read_plan(str(path))


def test_wavelengths_and_verification_round_trip(tmp_path: Path) -> None:
    """An item's wavelength and the run that verified it are written and read back, under the digest."""
    items = [
        replace(planned_items()[0], wavelength_nm=401.25),
        replace(planned_items()[1], verified_by=42, message="verified by the record (run 42)"),
    ]
    path = write_plan(tmp_path, items=items)
    assert list(read_plan(str(path)).items) == items
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["items"][0]["wavelength_nm"] == 401.25
    assert document["items"][1]["verified_by"] == 42


def test_reformatted_plan_is_still_accepted(tmp_path: Path) -> None:
    """The digest covers what the items say, not the bytes: a plan pretty-printed (by jq, say) still reads."""
    path = write_plan(tmp_path)
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4), encoding="utf-8")
    assert list(read_plan(str(path)).items) == planned_items()


def _set(index: int, field: str, value: Any) -> Any:
    def edit(document: Edit) -> None:
        document["items"][index][field] = value

    return edit


def _drop_item(document: Edit) -> None:
    del document["items"][1]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(_set(0, "desired", "In_451.1"), id="desired-key"),
        pytest.param(_set(0, "manual", True), id="planned-manual"),
        pytest.param(_set(1, "status", "change"), id="status"),
        pytest.param(_set(2, "message", None), id="message"),
        pytest.param(_set(0, "wavelength_nm", 400.0), id="wavelength"),
        pytest.param(_set(1, "verified_by", 3), id="verified-by"),
        pytest.param(_drop_item, id="item-removed"),
    ],
)
def test_hand_edited_items_are_refused(tmp_path: Path, edit: Any) -> None:
    """Any change to the items after the plan was written no longer matches the digest: refused."""
    path = edited(tmp_path, edit)
    with pytest.raises(InputError) as refused:
        read_plan(path)
    assert (
        str(refused.value)
        == f"{path}: its items do not match its items_digest (edited by hand?); make a new plan"
    )


def test_plan_without_digest_is_refused(tmp_path: Path) -> None:
    """A version-2 plan that carries no digest cannot be trusted: refused."""
    path = edited(tmp_path, lambda document: document.pop("items_digest"))
    with pytest.raises(
        InputError, match=r"plan\.json carries no items_digest \(edited by hand\?\); make a new"
    ):
        read_plan(path)


def test_format_1_plan_is_refused_as_made_by_an_older_version(tmp_path: Path) -> None:
    """A plan of format "1" (no digest) was made by an older oes-reconcile: make a new plan."""

    def older(document: Edit) -> None:
        document["format_version"] = "1"
        document.pop("items_digest")

    with pytest.raises(
        InputError, match=r"made by an older oes-reconcile \(plan format version '1'.*new plan"
    ):
        read_plan(edited(tmp_path, older))


def test_other_format_version_is_refused(tmp_path: Path) -> None:
    """A plan from another format version is refused, saying which versions are involved."""
    with pytest.raises(InputError, match=r"format version '3'.*reads version '2'"):
        read_plan(edited(tmp_path, lambda document: document.update(format_version="3", items="?")))


def _duplicate(index: int, **changes: Any) -> Any:
    def edit(document: Edit) -> None:
        document["items"].append(document["items"][index] | changes)

    return edit


@pytest.mark.parametrize(
    ("edit", "data_id", "peak_id", "first"),
    [
        pytest.param(_duplicate(0), ENTRY, "p1", 1, id="same-item"),
        pytest.param(_duplicate(1, status="change", desired="N2_357.7"), ENTRY, "p2", 2, id="other-key"),
        pytest.param(_duplicate(0, data_id=ENTRY.upper()), ENTRY.upper(), "p1", 1, id="data-id-in-capitals"),
    ],
)
def test_two_items_for_one_peak_are_refused(
    tmp_path: Path, edit: Any, data_id: str, peak_id: str, first: int
) -> None:
    """Two items for the same (data_id, peak_id), data_id compared as the loader normalises it: refused."""
    path = edited(tmp_path, edit, re_sign=True)
    with pytest.raises(InputError) as refused:
        read_plan(path)
    assert str(refused.value) == (
        f"{path}: item 4 (data_id '{data_id}', peak_id '{peak_id}'): a second item for that peak "
        f"(the first is item {first}); make a new plan"
    )


@pytest.mark.parametrize(
    ("index", "field", "value", "problem"),
    [
        pytest.param(0, "data_id", "not-a-uuid", "data_id 'not-a-uuid' is not a UUID", id="data-id"),
        pytest.param(0, "data_id", "../admin", "data_id '../admin' is not a UUID", id="data-id-path"),
        pytest.param(1, "peak_id", "", "peak_id is empty", id="peak-id-empty"),
        pytest.param(
            1,
            "peak_id",
            "p\u200b2",
            "peak_id 'p\\u200b2' contains the control character U+200B",
            id="peak-id-zwsp",
        ),
        pytest.param(0, "desired", "", "desired: candidate_key is empty", id="desired-empty"),
        pytest.param(
            0,
            "desired",
            "G" * 129,
            "desired: candidate_key is 129 characters long (at most 128)",
            id="desired-long",
        ),
        pytest.param(
            0, "status", "applied", "status 'applied' is not one a plan writes", id="status-applied"
        ),
    ],
)
def test_ids_the_loader_would_refuse_are_refused(
    tmp_path: Path, index: int, field: str, value: str, problem: str
) -> None:
    """Ids and keys are checked as the loader checks them, even under a matching digest; the item is named."""
    path = edited(tmp_path, _set(index, field, value), re_sign=True)
    with pytest.raises(InputError) as refused:
        read_plan(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: item {index + 1} (data_id ")
    assert message.endswith(f": {problem}; make a new plan")


def test_data_id_in_capitals_is_normalised(tmp_path: Path) -> None:
    """A data_id in capitals is taken as the loader takes it: lower case."""
    path = edited(tmp_path, _set(0, "data_id", ENTRY.upper()), re_sign=True)
    assert read_plan(path).items[0].data_id == ENTRY


def test_interrupted_plan_is_refused(tmp_path: Path) -> None:
    """A plan whose run was interrupted saw only part of the entries: refused."""
    path = edited(tmp_path, lambda document: document.update(interrupted=True))
    with pytest.raises(InputError) as refused:
        read_plan(path)
    assert str(refused.value) == f"{path} was saved by a plan run that was interrupted; make a new plan"


def test_plan_that_stopped_early_is_refused(tmp_path: Path) -> None:
    """A plan whose run says it stopped early for another reason is refused, naming the reason."""
    path = edited(tmp_path, lambda document: document.update(stopped="API unreachable"))
    with pytest.raises(InputError, match=r"stopped early \(API unreachable\); make a new plan"):
        read_plan(path)


def test_apply_report_is_not_a_plan(tmp_path: Path) -> None:
    """The report of an apply run cannot be applied as a plan."""
    with pytest.raises(InputError, match="not a saved plan"):
        read_plan(edited(tmp_path, lambda document: document.update(command="apply")))


def test_garbage_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    """A file that is not JSON, or not there, is an InputError naming it."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json is not a saved plan"):
        read_plan(str(bad))
    with pytest.raises(InputError, match="cannot read plan"):
        read_plan(str(tmp_path / "missing.json"))


def test_a_copy_of_the_written_report_is_byte_for_byte_what_writing_it_again_gives(tmp_path: Path) -> None:
    """Copying a written report gives the bytes `write_json` writes, and with `ascii_only` those of
    `write_json(..., ascii_only=True)`: non-ASCII escaped as JSON does, surrogate pairs beyond the BMP."""
    items = planned_items()
    items[2] = replace(items[2], note="emoji 😀, DEL \x7f, line sep \u2028, 確認済み")
    path = write_plan(tmp_path, items)
    rep = Report(
        "plan", "https://x.test/", ["a.yaml"], items, 2, "2026-11-29T07:00:00Z", overrides_digest="sha256:ab"
    )
    for ascii_only in (False, True):
        fresh, copied = io.StringIO(), io.StringIO()
        write_json(rep, fresh, ascii_only=ascii_only)
        copy_json(str(path), copied, ascii_only=ascii_only)
        assert copied.getvalue() == fresh.getvalue()
    assert copied.getvalue().isascii()
    assert "\\ud83d\\ude00" in copied.getvalue()
    assert json.loads(copied.getvalue()) == json.loads(path.read_text(encoding="utf-8"))


def test_a_copy_is_read_in_chunks_and_splits_no_character(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report copied a few characters at a time (non-ASCII ones astride the chunk edges) is still whole."""
    monkeypatch.setattr(document, "COPY_CHUNK", 3)
    path = write_plan(tmp_path)
    copied = io.StringIO()
    copy_json(str(path), copied, ascii_only=True)
    assert json.loads(copied.getvalue()) == json.loads(path.read_text(encoding="utf-8"))
    assert copied.getvalue().isascii()
