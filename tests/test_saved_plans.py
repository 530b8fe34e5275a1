"""Saved plans end to end: `plan --out`, a hand or a signal spoils the file, `apply --plan` refuses it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Faults, Sandbox
from reconciler.sandbox.synthetic import synthetic_entries, synthetic_overrides
from tests.conftest import Cli
from tests.test_faults import write_overrides

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

GAN = "d290f1ee-6c54-4b01-90e6-d701748f0851"
PINNED = "a7c3e9d1-2f4b-4c6d-8e0f-1a2b3c4d5e6f"
ALUMINIUM = "b8d4f0e2-3a5c-4d7e-9f10-2b3c4d5e6f70"
MISSING = "00000000-0000-4000-8000-000000000000"

CLEAN = f"""\
version: 1
overrides:
  {GAN}:
    p1: Ga_417.2
    p2: N2_337.1
  {PINNED}:
    p3: H_656.3
"""
ERRORS = f"""\
  {ALUMINIUM}:
    p1: Al_999.9
    p9: Al_394.4
  {MISSING}:
    p1: Ga_417.2
"""
WAIT = 20.0  # the longest the signal test may wait before it fails instead of hanging

Document = dict[str, Any]


def read(path: Path) -> Document:
    document: Document = json.loads(path.read_text(encoding="utf-8"))
    return document


def statuses(document: Document) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(i["data_id"], i["peak_id"]): (i["status"], i["message"]) for i in document["items"]}


def make_plan(cli: Cli, sandbox: Sandbox, tmp_path: Path, overrides: str, *, code: int = 0) -> Path:
    """`plan --out` of `overrides`; the sandbox's counters start afresh after it."""
    source = tmp_path / "overrides.yaml"
    source.write_text(overrides)
    plan = tmp_path / "plan.json"
    ran = cli("plan", "--out", str(plan), str(source))
    assert ran.code == code, ran.err
    sandbox.reset_stats()
    return plan


def _change_desired(document: Document) -> None:
    document["items"][0]["desired"] = "In_451.1"


def _duplicate_item(document: Document) -> None:
    document["items"].append(dict(document["items"][0]))


def _break_data_id(document: Document) -> None:
    document["items"][0]["data_id"] = PINNED[:8]


def _set_interrupted(document: Document) -> None:
    document["interrupted"] = True


def _drop_digest(document: Document) -> None:
    del document["items_digest"]


def _as_format_1(document: Document) -> None:
    document["format_version"] = "1"
    del document["items_digest"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            _change_desired, ": its items do not match its items_digest (edited by hand?)", id="desired"
        ),
        pytest.param(
            _duplicate_item,
            f": item 4 (data_id '{PINNED}', peak_id 'p3'): a second item for that peak (the first is item 1)",
            id="duplicate",
        ),
        pytest.param(
            _break_data_id,
            f": item 1 (data_id '{PINNED[:8]}', peak_id 'p3'): data_id '{PINNED[:8]}' is not a UUID",
            id="data-id",
        ),
        pytest.param(_set_interrupted, " was saved by a plan run that was interrupted", id="interrupted"),
        pytest.param(_drop_digest, " carries no items_digest (edited by hand?)", id="no-digest"),
        pytest.param(
            _as_format_1, " was made by an older oes-reconcile (plan format version '1'", id="format-1"
        ),
    ],
)
def test_spoilt_plan_is_refused_before_anything_is_sent(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, edit: Callable[[Document], None], message: str
) -> None:
    """A plan edited after `plan --out`: exit 1, one line naming the file (and item), no request sent."""
    plan = make_plan(cli, sandbox, tmp_path, CLEAN)
    document = read(plan)
    edit(document)
    plan.write_text(json.dumps(document, indent=2), encoding="utf-8")
    ran = cli("apply", "--plan", str(plan))
    assert ran.code == 1
    assert f"{plan}{message}" in ran.err
    assert "make a new plan" in ran.err
    assert "Traceback" not in ran.err
    assert sandbox.stats()["requests"] == 0


def test_untouched_plan_applies(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """The same plan, not edited, applies its changes (the refusals above are the edits' doing)."""
    plan = make_plan(cli, sandbox, tmp_path, CLEAN)
    ran = cli("apply", "--plan", str(plan), "--format", "json")
    assert ran.code == 0, ran.err
    document = json.loads(ran.out)
    assert document["format_version"] == "2"
    assert document["summary"]["applied"] == 2
    assert sandbox.stats()["by_method"] == {"GET": 2, "PATCH": 2}


def test_error_items_are_reported_again_and_the_changes_applied(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """A plan with errors: its changes are applied, its errors reported again as they were, exit 1."""
    plan = make_plan(cli, sandbox, tmp_path, CLEAN + ERRORS, code=1)
    saved = read(plan)
    report = tmp_path / "applied.json"
    ran = cli("apply", "--plan", str(plan), "--report", str(report))
    assert ran.code == 1
    planned, applied = statuses(saved), statuses(read(report))
    errors = {key: outcome for key, outcome in planned.items() if outcome[0] not in ("change", "in_sync")}
    assert {status for status, _ in errors.values()} == {
        "invalid_candidate",
        "peak_not_found",
        "entry_not_found",
    }
    assert {key: applied[key] for key in errors} == errors
    assert applied[(GAN, "p1")][0] == applied[(PINNED, "p3")][0] == "applied"
    assert applied[(GAN, "p2")] == planned[(GAN, "p2")] == ("in_sync", None)
    summary = read(report)["summary"]
    assert (summary["overrides"], summary["entries"], summary["errors"]) == (6, 4, 3)
    assert summary["entries"] == saved["summary"]["entries"]
    assert f"! {MISSING} p1" in ran.out
    assert ran.out.splitlines()[-1].endswith("3 errors.")
    # The plan's error entries are not asked again: only the two entries with changes.
    assert sandbox.stats()["by_method"] == {"GET": 2, "PATCH": 2}


def test_plan_of_only_errors_sends_nothing_and_exits_1(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """A plan holding nothing to change but errors: nothing is sent, the errors are reported, exit 1."""
    plan = make_plan(cli, sandbox, tmp_path, "version: 1\noverrides:\n" + ERRORS, code=1)
    ran = cli("apply", "--plan", str(plan), "--format", "json")
    assert ran.code == 1
    assert statuses(json.loads(ran.out)) == statuses(read(plan))
    assert sandbox.stats()["requests"] == 0


def test_plan_stopped_by_a_refused_key_is_refused(
    sandbox: Sandbox, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `plan --out` stopped by a refused key saves its plan saying so; `apply --plan` refuses it."""
    source = tmp_path / "overrides.yaml"
    source.write_text(CLEAN)
    plan = tmp_path / "plan.json"
    monkeypatch.setenv("AS_API_KEY", "not-the-key")
    assert cli("plan", "--out", str(plan), str(source)).code == 1
    assert read(plan)["stopped"] == "the API refused the key"
    monkeypatch.setenv("AS_API_KEY", "sandbox")
    sandbox.reset_stats()
    ran = cli("apply", "--plan", str(plan))
    assert ran.code == 1
    assert (
        f"{plan} was saved by a plan run that stopped early (the API refused the key); make a new plan"
        in ran.err
    )
    assert sandbox.stats()["requests"] == 0


def test_plan_cut_short_by_a_signal_is_refused(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `plan --out` stopped by SIGINT saves its plan marked interrupted; `apply --plan` refuses it."""
    entries = synthetic_entries(40, peaks=2, points=64, differing=1)
    overrides = write_overrides(tmp_path / "overrides.csv", synthetic_overrides(40, peaks=2, differing=1))
    plan = tmp_path / "plan.json"
    with Sandbox(entries=entries, faults=Faults(latency=0.2)) as sandbox:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "ATOMSCALE_API_KEY"}
        env |= {"AS_API_KEY": "sandbox", "AS_API_ENDPOINT": sandbox.url}
        argv = [
            sys.executable,
            "-m",
            "reconciler",
            "plan",
            "--concurrency",
            "2",
            "--out",
            str(plan),
            str(overrides),
        ]
        child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + WAIT
            while sandbox.stats()["by_method"].get("GET", 0) < 3:
                assert time.monotonic() < deadline, "the plan run never reached the sandbox"
                time.sleep(0.01)
            child.send_signal(signal.SIGINT)
            _out, err = child.communicate(timeout=WAIT)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=WAIT)
        assert child.returncode == 130, err
        assert read(plan)["interrupted"] is True
        monkeypatch.setenv("AS_API_KEY", "sandbox")
        monkeypatch.setenv("AS_API_ENDPOINT", sandbox.url)
        sandbox.reset_stats()
        ran = cli("apply", "--plan", str(plan))
        assert ran.code == 1
        assert f"{plan} was saved by a plan run that was interrupted; make a new plan" in ran.err
        assert sandbox.stats()["requests"] == 0


def test_a_planned_peak_moved_is_carried_as_an_error_and_not_patched(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """An override whose peak sits elsewhere: peak_moved in the plan, reported again by apply --plan, exit 1,
    never patched; the other change goes through. A wider --wavelength-tolerance makes it a change."""
    overrides = f"""\
version: 1
overrides:
  {GAN}:
    p1: {{candidate_key: Ga_417.2, wavelength_nm: 430.0}}
  {PINNED}:
    p3: H_656.3
"""
    plan = make_plan(cli, sandbox, tmp_path, overrides, code=1)
    moved = statuses(read(plan))[(GAN, "p1")]
    assert moved[0] == "peak_moved"
    assert "peaks near 430 nm now: none" in (moved[1] or "")
    ran = cli("apply", "--plan", str(plan), "--format", "json")
    assert ran.code == 1
    assert statuses(json.loads(ran.out))[(GAN, "p1")] == moved
    assert sandbox.stats()["by_method"] == {"GET": 1, "PATCH": 1}
    wide = cli("plan", "--wavelength-tolerance", "20", str(tmp_path / "overrides.yaml"), "--format", "json")
    assert wide.code == 0, wide.err
    assert statuses(json.loads(wide.out))[(GAN, "p1")][0] == "change"
