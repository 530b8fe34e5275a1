"""The JSON Schemas (draft 2020-12) of the files: report and plan from their models; the override file."""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from reconciler.models import ERROR_STATUSES, Status
from reconciler.overrides.rules import MAX_ID_LENGTH, MAX_WAVELENGTH_NM, UUID

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FORMAT_VERSION = "2"  # of the report and saved plan; document.py writes and reads this one
# What a `plan` run writes; `applied`, `failed` or `stale` in a plan would claim work that was never done.
PLANNED_STATUSES = frozenset({Status.IN_SYNC, Status.CHANGE}) | ERROR_STATUSES
SCHEMAS = ("overrides", "report", "plan")


def _text_pattern() -> str:
    """A regex of non-empty text without control or format characters (Cc, Cf: what the loader refuses),
    as a JSON Schema (ECMA-262) class of the Basic Multilingual Plane."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if unicodedata.category(chr(code)) in ("Cc", "Cf") and not 0xD800 <= code <= 0xDFFF:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    refused = "".join(f"\\u{low:04x}" + (f"-\\u{high:04x}" if high > low else "") for low, high in ranges)
    return f"^[^{refused}]+$"


TEXT_PATTERN = _text_pattern()
UUID_PATTERN = f"^{UUID.pattern}$"

DataId = Annotated[str, Field(pattern=UUID_PATTERN, description="the data entry (a UUID)")]
PeakId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=TEXT_PATTERN)]
CandidateKey = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=TEXT_PATTERN)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemDocument(_Document):
    """One override's line: what is wanted, what the server shows, and the status. The writer writes
    exactly these fields, in this order (document.py takes the list from here)."""

    data_id: DataId
    peak_id: PeakId
    desired: CandidateKey = Field(description="the candidate key the override file asks for")
    current: str | None = Field(description="the candidate key the server shows, when it sends one")
    element: str | None = Field(description="the element the server shows")
    manual: bool | None = Field(description="whether the server shows the peak as manually assigned")
    status: Status
    source: str = Field(description="path:line of the override")
    note: str | None
    message: str | None = Field(description="why, for an error, a conflict or a failure")
    last_updated: str | None
    wavelength_nm: float | None = Field(description="where the server measured the peak, when it says")
    verified_by: int | None = Field(
        description="the run whose PATCH the record verifies an element-only match by"
    )


ITEM_FIELDS = tuple(ItemDocument.model_fields)


class PlannedItemDocument(ItemDocument):
    """An item of a saved plan: only the statuses a plan run writes."""

    status: Annotated[Status, WithJsonSchema({"enum": sorted(PLANNED_STATUSES)})]


class SummaryDocument(_Document):
    """The counts of the report (report.summary writes exactly these)."""

    overrides: int = Field(ge=0)
    entries: int = Field(ge=0)
    in_sync: int = Field(ge=0)
    change: int = Field(ge=0)
    applied: int = Field(ge=0)
    failed: int = Field(ge=0)
    stale: int = Field(ge=0)
    errors: int = Field(ge=0)
    element_only: int = Field(ge=0)


class ReportDocument(_Document):
    """The JSON report of `plan` or `apply` (`--report`, `--format json`)."""

    model_config = ConfigDict(title="oes-reconcile report")

    format_version: Literal["2"]
    command: Literal["plan", "apply"]
    generated_at: str = Field(description="when the run ended, UTC, ISO 8601")
    endpoint: str
    sources: list[str] = Field(description="the override files (or those of the saved plan)")
    summary: SummaryDocument
    interrupted: bool = Field(default=False, description="written (true) only when the run was interrupted")
    stopped: str | None = Field(default=None, description="why the run stopped early, when it did")
    overrides_digest: str | None = Field(default=None, description="sha256 of the override files")
    items: list[ItemDocument]
    items_digest: str = Field(pattern="^sha256:[0-9a-f]{64}$", description="sha256 over the items' lines")


class PlanDocument(ReportDocument):
    """The saved plan of `plan --out`, which `apply --plan` takes: a report of a whole plan run."""

    model_config = ConfigDict(title="oes-reconcile saved plan")

    command: Literal["plan"]
    items: list[PlannedItemDocument]  # type: ignore[assignment]  # narrower items: the planned statuses


def _generated(model: type[BaseModel], *, name: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"$schema": DRAFT, "$id": schema_id(name), **schema}


def schema_id(name: str) -> str:
    """The schema's identifier: a URN, as no URL is published (one that no one can fetch is worse)."""
    return f"urn:oes-reconcile:schema:{name}:{FORMAT_VERSION if name != 'overrides' else '1'}"


def overrides_schema() -> dict[str, Any]:
    """The override file (YAML, version 1), by the loader's rules; the loader stays the authority (it also
    refuses YAML's anchors, tags and duplicate keys, which a schema of the parsed data cannot see)."""
    text = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": TEXT_PATTERN}
    long_form = {
        "type": "object",
        "description": "the long form: the candidate key, and where the peak was measured and a note",
        "required": ["candidate_key"],
        "additionalProperties": False,
        "properties": {
            "candidate_key": text,
            "wavelength_nm": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": MAX_WAVELENGTH_NM,
                "description": "where the peak was measured, in nm",
            },
            "note": {"type": ["string", "number", "boolean", "null"], "description": "free text"},
        },
    }
    peaks = {
        "type": ["object", "null"],
        "description": "peak_id -> candidate_key, or the long form",
        "propertyNames": text,
        "additionalProperties": {"oneOf": [text | {"description": "the candidate key"}, long_form]},
    }
    return {
        "$schema": DRAFT,
        "$id": schema_id("overrides"),
        "title": "oes-reconcile override file",
        "description": "Manual OES peak assignments: data_id -> peak_id -> candidate_key.",
        "type": "object",
        "required": ["version", "overrides"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1},
            "overrides": {
                "type": ["object", "null"],
                "description": "data_id (a UUID) -> its peaks",
                "propertyNames": {"type": "string", "pattern": UUID_PATTERN},
                "additionalProperties": peaks,
            },
        },
    }


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of `overrides`, `report` or `plan`."""
    if name == "report":
        return _generated(ReportDocument, name=name)
    if name == "plan":
        return _generated(PlanDocument, name=name)
    if name == "overrides":
        return overrides_schema()
    raise ValueError(f"no schema named {name!r} (expected one of {', '.join(SCHEMAS)})")


def schema_text(name: str) -> str:
    """The schema as `oes-reconcile schema NAME` prints it and the repository's schemas/ folder holds it."""
    return json.dumps(schema(name), indent=2) + "\n"
