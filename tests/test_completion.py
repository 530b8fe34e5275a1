"""`oes-reconcile completion`: scripts generated from the parser, valid in their shells, and completing."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.cli import build_parser
from reconciler.cli.completion import SHELLS, script
from tests.conftest import Cli


def written(tmp_path: Path, shell: str) -> Path:
    path = tmp_path / f"oes-reconcile.{shell}"
    path.write_text(script(shell, build_parser()))
    return path


def complete_bash(tmp_path: Path, *words: str) -> list[str]:
    """What bash completes for the last of `words` (the command line so far), with the script sourced."""
    path = written(tmp_path, "bash")
    line = " ".join(f"'{word}'" for word in ("oes-reconcile", *words))
    program = (
        f"source {path}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
        'complete -p oes-reconcile >/dev/null && { _oes_reconcile; printf "%s\\n" "${COMPREPLY[@]}"; }'
    )
    ran = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, check=True)
    return ran.stdout.split()


@pytest.mark.parametrize("shell", SHELLS)
def test_the_command_prints_the_script(cli: Cli, shell: str) -> None:
    """`completion SHELL` prints that shell's script, exit 0."""
    ran = cli("completion", shell)
    assert ran.code == 0
    assert "oes-reconcile" in ran.out
    assert ran.out == script(shell, build_parser())


def test_an_unknown_shell_is_a_usage_error(cli: Cli) -> None:
    """A shell with no script exits 1 naming the choices."""
    ran = cli("completion", "fish")
    assert ran.code == 1
    assert "bash" in ran.err
    with pytest.raises(ValueError, match="no completion"):
        script("fish", build_parser())


def every_flag(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of the parser and its commands."""
    flags = {flag for action in parser._actions for flag in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= every_flag(sub)
    return flags


@pytest.mark.parametrize("shell", SHELLS)
def test_every_option_of_the_parser_is_in_the_script(shell: str) -> None:
    """The scripts are generated from the parser: no option or command is left out (tcsh: by its name)."""
    text = script(shell, build_parser())
    for flag in every_flag(build_parser()):
        assert flag.lstrip("-") in text, flag
    for command in ("plan", "apply", "validate", "export", "sandbox", "history", "undo", "schema"):
        assert command in text


def test_bash_script_is_valid(tmp_path: Path) -> None:
    """`bash -n` accepts the script."""
    subprocess.run(["bash", "-n", str(written(tmp_path, "bash"))], check=True)


def test_bash_completes_commands_options_and_choices(tmp_path: Path) -> None:
    """bash completes a command, a command's option, an option's choices and a positional's choices."""
    assert complete_bash(tmp_path, "pl") == ["plan"]
    assert complete_bash(tmp_path, "--ver") == ["--version"]
    assert complete_bash(tmp_path, "plan", "--detailed") == ["--detailed-exitcode"]
    assert complete_bash(tmp_path, "apply", "--ov") == ["--overwrite-conflicts"]
    assert complete_bash(tmp_path, "plan", "--max-ch") == []  # an apply option is not offered to plan
    assert complete_bash(tmp_path, "plan", "--format", "m") == ["markdown"]
    assert complete_bash(tmp_path, "schema", "re") == ["report"]
    assert complete_bash(tmp_path, "completion", "z") == ["zsh"]
    # After an option taking a path: nothing from the script, so bash completes file names.
    assert complete_bash(tmp_path, "plan", "--report", "") == []


def test_zsh_script_is_valid_and_registers(tmp_path: Path) -> None:
    """`zsh -n` accepts the script, and sourced after compinit it registers the completion function."""
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    path = written(tmp_path, "zsh")
    subprocess.run(["zsh", "-n", str(path)], check=True)
    program = f"autoload -U compinit; compinit -u -D; source {path}; print -r -- $_comps[oes-reconcile]"
    ran = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "_oes_reconcile"


def test_tcsh_script_is_valid_and_registers(tmp_path: Path) -> None:
    """tcsh sources the script without error, and then completes oes-reconcile."""
    if shutil.which("tcsh") is None:
        pytest.skip("tcsh is not installed")
    path = written(tmp_path, "tcsh")
    ran = subprocess.run(
        ["tcsh", "-f", "-c", f"source {path} && complete oes-reconcile"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stderr == ""
    assert "p/1/(plan apply" in ran.stdout
