"""Shared by the tests of override files: a fresh working directory, and files written into it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.errors import FileErrors
from reconciler.overrides import load_overrides

D1 = "d290f1ee-6c54-4b01-90e6-d701748f0851"
D2 = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory, so display paths are short and deterministic."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, content: str | bytes) -> Path:
    """`content` (dedented, when text) written to `name`, its folders made."""
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = textwrap.dedent(content).encode()
    path.write_bytes(content)
    return path


def problems_of(*paths: str) -> list[str]:
    """The problems loading `paths` raises, as printed."""
    with pytest.raises(FileErrors) as caught:
        load_overrides(paths)
    return [str(problem) for problem in caught.value.problems]


def yaml_with(peaks: str, data_id: str = D1) -> str:
    """A valid file around the given peak lines (indented four spaces), which start at line 4."""
    return f"version: 1\noverrides:\n  {data_id}:\n" + textwrap.indent(textwrap.dedent(peaks), "    ")
