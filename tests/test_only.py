"""`--only DATA_ID` on plan and apply: the files' overrides of those entries only, as Terraform's -target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.conftest import Cli

pytestmark = pytest.mark.slow  # the sandbox on loopback

GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"
INGAN = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"
MISSING = "00000000-0000-4000-8000-000000000000"


def data_ids(report: Path) -> set[str]:
    return {item["data_id"] for item in json.loads(report.read_text())["items"]}


def test_plan_only_fetches_the_named_entry(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """plan --only (typed in upper case) fetches that entry alone and reports its overrides alone."""
    report = tmp_path / "report.json"
    ran = cli("plan", "--only", GAN.upper(), "--report", str(report), "examples/")
    assert ran.code == 0, ran.err
    assert sandbox.stats()["by_method"] == {"GET": 1}
    assert data_ids(report) == {GAN}


def test_only_repeats(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """--only given twice works on both entries, and only on them."""
    report = tmp_path / "report.json"
    ran = cli("plan", "--only", GAN, "--only", INGAN, "--report", str(report), "examples/")
    assert ran.code == 0, ran.err
    assert sandbox.stats()["by_method"] == {"GET": 2}
    assert data_ids(report) == {GAN, INGAN}


def test_apply_only_patches_the_named_entry(sandbox: Sandbox, cli: Cli) -> None:
    """apply --only patches that entry's changes; the other entries still differ afterwards."""
    assert cli("apply", "--only", INGAN, "examples/").code == 0
    assert sandbox.stats()["by_method"] == {"GET": 1, "PATCH": 1}
    sandbox.reset_stats()
    assert cli("plan", "--only", INGAN, "--detailed-exitcode", "examples/").code == 0
    assert cli("plan", "--detailed-exitcode", "examples/").code == 2


@pytest.mark.parametrize(
    ("data_id", "expected"),
    [
        (MISSING, f"--only {MISSING}: no override for that data entry in examples/overrides"),
        ("not-a-uuid", "--only: data_id 'not-a-uuid' is not a UUID"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_an_entry_no_file_names_is_refused_before_sending(
    sandbox: Sandbox, cli: Cli, command: str, data_id: str, expected: str
) -> None:
    """--only naming an entry the files do not hold (or no UUID) exits 1 and sends nothing."""
    ran = cli(command, "--only", GAN, "--only", data_id, "examples/")
    assert ran.code == 1
    assert expected in ran.err
    assert sandbox.stats()["requests"] == 0


def test_a_saved_plan_takes_no_only(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """apply --plan --only is refused: the plan was made for what it holds; --only goes to `plan`."""
    plan = tmp_path / "plan.json"
    assert cli("plan", "--only", GAN, "--out", str(plan), "examples/").code == 0
    assert data_ids(plan) == {GAN}
    sandbox.reset_stats()
    ran = cli("apply", "--plan", str(plan), "--only", GAN)
    assert ran.code == 1
    assert "give --only to the `plan` that saves it" in ran.err
    assert sandbox.stats()["requests"] == 0
