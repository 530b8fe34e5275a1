"""Override files: found on disk, read and validated in YAML or CSV, merged; and written in both formats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.overrides.csv_format import render_csv
from reconciler.overrides.files import MAX_FILE_BYTES, SUFFIXES, find_override_files
from reconciler.overrides.load import OverrideSet, load_overrides
from reconciler.overrides.rules import Assignments

if TYPE_CHECKING:
    from reconciler.overrides.yaml_format import render_yaml

__all__ = [
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "Assignments",
    "OverrideSet",
    "find_override_files",
    "load_overrides",
    "render_csv",
    "render_yaml",
]


def __getattr__(name: str) -> object:
    # PyYAML is imported when YAML is read or written, not by `validate` of CSV files alone.
    if name == "render_yaml":
        from reconciler.overrides.yaml_format import render_yaml

        return render_yaml
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
