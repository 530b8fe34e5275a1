"""`oes-reconcile schema`: the schemas are generated, checked in up to date, and hold the files written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.document import _PlanDocument, item_json
from reconciler.models import Item, Status
from reconciler.overrides import load_overrides
from reconciler.report import Report, summary
from reconciler.sandbox import Sandbox
from reconciler.schemas import (
    FORMAT_VERSION,
    ITEM_FIELDS,
    SCHEMAS,
    PlanDocument,
    ReportDocument,
    SummaryDocument,
    schema,
    schema_text,
)
from tests.conftest import Cli

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FOLDER = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"
MISSING = "00000000-0000-4000-8000-000000000000"


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


def errors(name: str, document: Any) -> list[str]:
    return [error.message for error in validator(name).iter_errors(document)]


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_command_prints_a_valid_2020_12_schema(cli: Cli, name: str) -> None:
    """`schema NAME` prints a JSON Schema of draft 2020-12, with its $schema and $id, exit 0."""
    ran = cli("schema", name)
    assert ran.code == 0
    printed = json.loads(ran.out)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["$id"].startswith(f"urn:oes-reconcile:schema:{name}:")
    jsonschema.Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize("name", SCHEMAS)
def test_checked_in_schemas_are_up_to_date(name: str) -> None:
    """schemas/NAME.schema.json is what the command prints: regenerate with `oes-reconcile schema NAME`."""
    path = SCHEMA_FOLDER / f"{name}.schema.json"
    assert path.read_text(encoding="utf-8") == schema_text(name), f"regenerate {path.name}"


def test_an_unknown_schema_is_a_usage_error(cli: Cli) -> None:
    """A name that is no schema exits 1 with the choices."""
    ran = cli("schema", "audit")
    assert ran.code == 1
    assert "overrides" in ran.err
    with pytest.raises(ValueError, match="no schema named"):
        schema("audit")


# --- The override file -------------------------------------------------------------------------------


def example_override_files() -> list[Path]:
    return sorted(path for path in EXAMPLES.rglob("*.y*ml") if "overrides" in path.name)


def test_every_example_override_file_names_the_schema_and_holds_to_it() -> None:
    """Each example override file names the checked-in schema for yaml-language-server on its first line,
    by a path that exists, and validates against it."""
    files = example_override_files()
    assert files
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == SCHEMA_FOLDER / "overrides.schema.json"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert errors("overrides", document) == [], path


VALID = f"""\
version: 1
overrides:
  {GAN.upper()}:
    p1: Ga_417.2
    "2": N2_337.1
    p3: {{candidate_key: Ga_403.3, wavelength_nm: 403.3, note: yes}}
  {MISSING}:
"""


# Each broken file: the loader refuses it, and so does the schema (what a schema of the data can see).
BROKEN = {
    "version quoted": VALID.replace("version: 1", "version: '1'"),
    "version 2": VALID.replace("version: 1", "version: 2"),
    "unknown top key": VALID + "extra: 1\n",
    "no overrides": "version: 1\n",
    "data_id not a UUID": VALID.replace(MISSING, "not-a-uuid"),
    "candidate key a number": VALID.replace("Ga_417.2", "417"),
    "candidate key empty": VALID.replace("Ga_417.2", "''"),
    "candidate key too long": VALID.replace("Ga_417.2", "x" * 129),
    "control character": VALID.replace("Ga_417.2", '"Ga\\u200b_417.2"'),
    "long form without key": VALID.replace("candidate_key: Ga_403.3, ", ""),
    "long form unknown key": VALID.replace("note: yes", "comment: yes"),
    "wavelength quoted": VALID.replace("403.3, note", "'403.3', note"),
    "wavelength zero": VALID.replace("403.3, note", "0, note"),
    "wavelength huge": VALID.replace("403.3, note", "100000, note"),
    "peaks a list": VALID.replace(f"  {MISSING}:\n", f"  {MISSING}: [p1]\n"),
}


def test_a_valid_file_is_valid_for_the_loader_and_the_schema(tmp_path: Path) -> None:
    """A file using every form (quoted peak id, long form, empty entry, upper-case UUID) passes both."""
    path = tmp_path / "overrides.yaml"
    path.write_text(VALID)
    assert len(load_overrides([path]).overrides) == 3
    assert errors("overrides", yaml.safe_load(VALID)) == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_schema_refuses_what_the_loader_refuses(tmp_path: Path, case: str) -> None:
    """A broken override file fails both the loader and the schema: the editor flags what the run would."""
    from reconciler.errors import ReconcileError

    path = tmp_path / "overrides.yaml"
    path.write_text(BROKEN[case], encoding="utf-8")
    with pytest.raises(ReconcileError):
        load_overrides([path])
    assert errors("overrides", yaml.safe_load(BROKEN[case])) != []


# --- The report and saved plan -----------------------------------------------------------------------


def test_the_models_are_the_writers_fields() -> None:
    """The models name exactly what is written: an item's fields, the summary's counts, the reader's keys
    (a field added to the writer and not to the model fails here, and the real reports below)."""
    item = Item(data_id=GAN, peak_id="p1", desired="Ga_417.2", status=Status.CHANGE, source="a:1")
    assert tuple(item_json(item)) == ITEM_FIELDS
    report = Report(
        command="plan", endpoint="http://x", sources=(), items=(item,), entries=1, generated_at=""
    )
    assert set(summary(report)) == set(SummaryDocument.model_fields)
    assert set(_PlanDocument.model_fields) <= set(PlanDocument.model_fields)
    assert ReportDocument.model_fields["format_version"].annotation.__args__ == (FORMAT_VERSION,)  # type: ignore[union-attr]


def run_files(cli: Cli, tmp_path: Path, *extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A saved plan and an apply report of the examples plus an entry the server lacks (an error item)."""
    folder = tmp_path / "overrides"
    folder.mkdir()
    (folder / "lab.yaml").write_text(
        (EXAMPLES / "overrides.yaml").read_text(encoding="utf-8") + f"  {MISSING}:\n    p1: H_656.3\n"
    )
    plan, report = tmp_path / "plan.json", tmp_path / "report.json"
    assert cli("plan", "--out", str(plan), str(folder), *extra).code == 1  # the missing entry: an error
    assert cli("apply", "--report", str(report), str(folder), *extra).code == 1
    return json.loads(plan.read_text()), json.loads(report.read_text())


@pytest.mark.slow
def test_real_reports_and_plans_validate(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """A saved plan and an apply report written against the sandbox hold to their schemas; an apply report
    (its items `applied`) is no saved plan."""
    plan, report = run_files(cli, tmp_path)
    assert {item["status"] for item in plan["items"]} >= {"change", "in_sync", "entry_not_found"}
    assert errors("plan", plan) == []
    assert errors("report", plan) == []
    assert "applied" in {item["status"] for item in report["items"]}
    assert errors("report", report) == []
    assert errors("plan", report) != []


@pytest.mark.slow
def test_a_stdout_json_report_validates(sandbox: Sandbox, cli: Cli) -> None:
    """`plan --format json` on stdout is the same document: it validates as a report and a plan."""
    ran = cli("plan", "--format", "json", "examples/")
    assert ran.code == 0
    document = json.loads(ran.out)
    assert errors("report", document) == []
    assert errors("plan", document) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "breakage",
    [
        "no items_digest",
        "unknown key",
        "status not planned",
        "format version",
        "count negative",
        "item field missing",
    ],
)
def test_a_broken_plan_fails_validation(sandbox: Sandbox, cli: Cli, tmp_path: Path, breakage: str) -> None:
    """A saved plan edited out of shape fails the plan schema."""
    plan, _report = run_files(cli, tmp_path)
    item = plan["items"][0]
    if breakage == "no items_digest":
        del plan["items_digest"]
    elif breakage == "unknown key":
        plan["extra"] = True
    elif breakage == "status not planned":
        item["status"] = "applied"
    elif breakage == "format version":
        plan["format_version"] = "1"
    elif breakage == "count negative":
        plan["summary"]["change"] = -1
    else:
        del item["desired"]
    assert errors("plan", plan) != []
