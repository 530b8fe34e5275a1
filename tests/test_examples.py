"""The ready-made wiring (cron, GitHub Actions, pre-commit) parses and calls only options that exist."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import build_parser, main
from reconciler.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CRONTAB = EXAMPLES / "crontab"
WORKFLOW = EXAMPLES / ".github" / "workflows" / "oes-reconcile.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"

# `$(date +%F)`, `${{ secrets.X }}`: what the shell or the runner fills in, replaced before parsing.
_SUBSTITUTIONS = re.compile(r"\$\([^()]*\)|\$\{\{.*?\}\}")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")"})
_REDIRECTS = frozenset({">", ">>", "<", ">&", "<&", ">|"})
_CRON_FIELD = re.compile(r"[0-9*/,\-]+|[A-Za-z]{3}(-[A-Za-z]{3})?")


def commands_in(script: str) -> Iterator[list[str]]:
    """The simple commands of a shell script, each as its words, with redirections left out."""
    script = _SUBSTITUTIONS.sub("PLACEHOLDER", script.replace("\\\n", " "))
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        words: list[str] = []
        tokens = iter(lexer)
        for token in tokens:
            if token in _SEPARATORS:
                if words:
                    yield words
                words = []
            elif token in _REDIRECTS:
                next(tokens, None)  # the redirection's target
            else:
                words.append(token)
        if words:
            yield words


def oes_reconcile_calls(script: str) -> list[list[str]]:
    """The arguments of every `oes-reconcile` call in a script (whatever the path to the executable)."""
    return [words[1:] for words in commands_in(script) if Path(words[0]).name == "oes-reconcile"]


def assert_parses(arguments: list[str]) -> None:
    """The CLI's own parser accepts the arguments (a renamed or removed option raises UsageError)."""
    build_parser().parse_args(arguments)


def cron_jobs() -> list[tuple[list[str], str]]:
    """The crontab's jobs: schedule fields and command, skipping comments and variable settings."""
    jobs = []
    for line in CRONTAB.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"\w+=", line):
            continue
        *schedule, command = line.split(maxsplit=5)
        jobs.append((schedule, command))
    return jobs


def workflow_scripts(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_crontab_runs_apply_nightly_with_every_safeguard() -> None:
    """The crontab's line has five schedule fields and runs `apply` with lock, dated report, audit log, -q."""
    [(schedule, command)] = cron_jobs()
    assert len(schedule) == 5
    assert all(_CRON_FIELD.fullmatch(field) for field in schedule)
    assert "%" not in command.replace("\\%", "")  # a bare % would end the command
    [arguments] = oes_reconcile_calls(command.replace("\\%", "%"))
    assert arguments[0] == "apply"
    for option in ("--lock-file", "--report", "--audit-log", "-q", "--api-key-file"):
        assert option in arguments
    assert "$(date +\\%F)" in command
    assert_parses(arguments)


def test_crontab_explains_every_exit_code() -> None:
    """The crontab's comments say what each exit code of the spec means."""
    comments = [line for line in CRONTAB.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    for code in ("0", "1", "2", "3", "130"):
        assert any(re.match(rf"#\s+{code}\s+\S", line) for line in comments), code


def test_workflow_validates_and_plans_pull_requests_and_applies_main() -> None:
    """The workflow parses; its `oes-reconcile` calls are validate, plan (markdown, exit 2 ok) and apply."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    scripts = workflow_scripts(workflow)
    calls = [arguments for script in scripts for arguments in oes_reconcile_calls(script)]
    assert [arguments[0] for arguments in calls] == ["validate", "plan", "apply"]
    for arguments in calls:
        assert_parses(arguments)
    _validate, plan, apply = calls
    assert {"--format", "markdown", "--detailed-exitcode"} <= set(plan)
    assert {"--report", "--audit-log"} <= set(apply)
    assert any("gh pr comment" in script and "--body-file plan.md" in script for script in scripts)
    assert any('"$code" -eq 2' in script for script in scripts)


def test_workflow_takes_the_key_from_a_secret_and_installs_from_git() -> None:
    """The key reaches the runs as AS_API_KEY from a secret; the tool installs from the git placeholder."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    keyed = [step for step in steps if "oes-reconcile plan" in step.get("run", "")]
    keyed += [step for step in steps if "oes-reconcile apply" in step.get("run", "")]
    assert all(step["env"]["AS_API_KEY"] == "${{ secrets.AS_API_KEY }}" for step in keyed)
    assert workflow["env"]["OES_RECONCILE"].startswith("git+https://github.com/YOUR-ORG/oes-reconcile")
    assert "--api-key" not in WORKFLOW.read_text(encoding="utf-8")


def test_pre_commit_hook_validates_yaml_and_csv_files() -> None:
    """The hook runs `oes-reconcile validate` on the YAML and CSV files passed to it."""
    [hook] = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert hook["id"] == "oes-reconcile-validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert all(files.search(name) for name in ("o/gan.yaml", "o/gan.yml", "o/gan.csv"))
    assert not any(files.search(name) for name in ("o/gan.json", "o/yaml.txt"))
    [entry] = oes_reconcile_calls(hook["entry"])
    assert entry == ["validate"]
    assert_parses([*entry, "overrides/gan.yaml"])


@pytest.mark.parametrize("script", ["oes-reconcile plan --no-such-option x/", "oes-reconcile aply x/"])
def test_a_renamed_option_breaks_the_check(script: str) -> None:
    """The check is real: an option or command the CLI does not know fails it."""
    [arguments] = oes_reconcile_calls(script)
    with pytest.raises(UsageError, match="see --help"):
        assert_parses(arguments)


def test_example_overrides_validate(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate examples/` passes: the example files are valid, and the wiring is not read as overrides."""
    assert main(["validate", str(EXAMPLES)]) == 0
    assert capsys.readouterr().out == "Valid: 10 overrides for 4 data entries in 2 files.\n"
