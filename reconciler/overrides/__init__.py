"""Override files: found on disk, read and validated in YAML or CSV, merged; and written in both formats."""

from __future__ import annotations

from reconciler.overrides.files import MAX_FILE_BYTES, SUFFIXES, find_override_files
from reconciler.overrides.load import OverrideSet, load_overrides

__all__ = ["MAX_FILE_BYTES", "SUFFIXES", "OverrideSet", "find_override_files", "load_overrides"]
