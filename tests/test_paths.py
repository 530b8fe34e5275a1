"""The files of a run: a file it writes is never also one it reads, another it writes, or an override file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.paths import refuse_overlaps
from reconciler.sandbox import Sandbox
from tests.conftest import Cli

OVERRIDES = "version: 1\noverrides: {}\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of override files, and the cwd of the test."""
    (tmp_path / "ov").mkdir()
    (tmp_path / "ov" / "gan.yaml").write_text(OVERRIDES)
    (tmp_path / "ov" / "list.csv").write_text("data_id,peak_id,candidate_key\n")
    return tmp_path


@pytest.mark.parametrize(
    ("writes", "reads", "message"),
    [
        (
            {"--report": "ov/gan.yaml"},
            {},
            "--report ov/gan.yaml is a .yaml file inside ov, a folder searched",
        ),
        ({"--out": "ov/../ov/list.csv"}, {}, "--out ov/../ov/list.csv is a .csv file inside ov"),
        ({"--audit-log": "link.json"}, {}, "--audit-log link.json leads to"),
        ({"--audit-log": "r.json", "--report": "r.json"}, {}, "--audit-log r.json is also the --report"),
        ({"--report": "r.json", "--out": "./r.json"}, {}, "--report r.json is also the --out"),
        ({"--report": "key"}, {"--api-key-file": "key"}, "--report key is also the --api-key-file"),
        ({"--audit-log": "plan.json"}, {"--plan": "plan.json"}, "--audit-log plan.json is also the --plan"),
        ({"--report": "hard.json"}, {"--plan": "plan.json"}, "--report hard.json is also the --plan"),
    ],
)
def test_a_written_file_that_is_another_file_of_the_run_is_refused(
    folder: Path, monkeypatch: pytest.MonkeyPatch, writes: dict[str, str], reads: dict[str, str], message: str
) -> None:
    """By name, by another spelling, through a symlink or a hard link: refused, naming both options."""
    monkeypatch.chdir(folder)
    (folder / "link.json").symlink_to(folder / "ov" / "gan.yaml")
    (folder / "plan.json").write_text("{}")
    os.link(folder / "plan.json", folder / "hard.json")
    (folder / "key").write_text("k\n")
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        refuse_overlaps(writes=writes, reads=reads, overrides=["ov"])


def test_separate_files_pass(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file its own: nothing is refused, and nothing is created by the check."""
    monkeypatch.chdir(folder)
    writes = {"--report": "r.json", "--out": "p.json", "--audit-log": "a.jsonl", "--lock-file": "l"}
    refuse_overlaps(writes=writes, reads={"--api-key-file": "key"}, overrides=["ov", "other.yaml"])
    assert sorted(path.name for path in folder.iterdir()) == ["ov"]


@pytest.mark.parametrize(
    "argv",
    [
        ("plan", "--report", "ov/gan.yaml", "ov/"),
        ("apply", "--report", "ov/gan.yaml", "ov/"),
        ("plan", "--out", "ov/gan.yaml", "ov/"),
        ("apply", "--audit-log", "ov/gan.yaml", "ov/"),
        ("apply", "--audit-log", "r.json", "--report", "r.json", "ov/"),
        ("plan", "--report", "key", "--api-key-file", "key", "ov/"),
        ("apply", "--audit-log", "key", "--api-key-file", "key", "ov/"),
        ("plan", "--report", "link.json", "ov/"),
    ],
)
@pytest.mark.slow
def test_no_run_writes_over_its_own_inputs(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    """A report, plan or audit log named like an override file, the key file or each other: exit 1
    before anything is sent, every file byte for byte as it was."""
    monkeypatch.chdir(tmp_path)
    Path("ov").mkdir()
    Path("ov/gan.yaml").write_bytes(
        Path(__file__).parents[1].joinpath("examples/overrides.yaml").read_bytes()
    )
    Path("key").write_text("sandbox\n")
    Path("link.json").symlink_to(tmp_path / "ov" / "gan.yaml")
    before = {path: path.read_bytes() for path in (Path("ov/gan.yaml"), Path("key"))}
    ran = cli(*argv)
    assert ran.code == 1
    assert "is also the" in ran.err or "a folder searched for override files" in ran.err
    assert "Traceback" not in ran.err
    assert sandbox.stats()["requests"] == 0
    assert {path: path.read_bytes() for path in before} == before
    assert not Path("r.json").exists()
