"""Saved plans: the JSON plan written by `plan --out` and read back by `apply --plan`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.errors import InputError
from reconciler.models import Item, first_problem
from reconciler.report import FORMAT_VERSION


class _PlanDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    format_version: str
    command: str
    endpoint: str
    sources: tuple[str, ...] = ()
    overrides_digest: str | None = None
    # Item is a stdlib dataclass: pydantic checks its fields (status words too) and drops unknown keys.
    items: tuple[Item, ...]


@dataclass(frozen=True)
class SavedPlan:
    """A plan as it was saved: where it was made, from which files, and each item with its planned state."""

    endpoint: str
    sources: tuple[str, ...]
    overrides_digest: str | None
    items: tuple[Item, ...]


def read_plan(path: str) -> SavedPlan:
    """Read a saved plan, refusing anything that is not a plan of this format version."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read plan {path}: {exc.strerror}") from None
    try:
        document = _PlanDocument.model_validate_json(raw)
    except ValidationError as exc:
        raise InputError(f"{path} is not a saved plan: {first_problem(exc, top='top level')}") from None
    if document.format_version != FORMAT_VERSION:
        raise InputError(
            f"{path} is a plan of format version {document.format_version!r}; this oes-reconcile reads "
            f"version {FORMAT_VERSION!r}: make the plan again with this version"
        )
    if document.command != "plan":
        raise InputError(f"{path} is the report of an {document.command!r} run, not a saved plan")
    return SavedPlan(
        endpoint=document.endpoint,
        sources=document.sources,
        overrides_digest=document.overrides_digest,
        items=document.items,
    )
