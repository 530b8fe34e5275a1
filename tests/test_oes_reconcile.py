"""The console script's entry: another `reconciler` first on the path is named, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import types
from pathlib import Path

import pytest

import oes_reconcile
import reconciler

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def console_script() -> str:
    """The installed `oes-reconcile` of this environment (what pip, pipx and uv put on PATH)."""
    found = shutil.which("oes-reconcile", path=sysconfig.get_path("scripts"))
    assert found, "oes-reconcile is not installed in this environment (pip install -e .)"
    return found


def run_script(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The console script run with ARGS, `pythonpath` first on the module search path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [console_script(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def fake_reconciler(folder: Path, *, distribution: str | None = None) -> Path:
    """An unrelated package named `reconciler` in FOLDER, installed by DISTRIBUTION (metadata) if given."""
    (folder / "reconciler").mkdir(parents=True)
    (folder / "reconciler" / "__init__.py").write_text(
        '"""Someone else\'s reconciler."""\n__version__ = "3.0"\n'
    )
    if distribution is not None:
        info = folder / f"{distribution}-3.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 3.0\n")
        (info / "top_level.txt").write_text("reconciler\n")
    return folder


@pytest.mark.slow
def test_version_of_the_installed_command() -> None:
    """`oes-reconcile --version` prints the one version, written in reconciler/__init__.py."""
    done = run_script("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"oes-reconcile {reconciler.__version__}\n", "")


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--version"], ["plan", "--sandbox", str(EXAMPLES / "overrides.yaml")]])
def test_a_reconciler_on_pythonpath_is_named(tmp_path: Path, args: list[str]) -> None:
    """A `reconciler` folder first on PYTHONPATH: exit 1 with its path and the remedy, no traceback."""
    fake = fake_reconciler(tmp_path)
    done = run_script(*args, pythonpath=fake)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr == (
        f"oes-reconcile: the Python package `reconciler` found first ({fake / 'reconciler' / '__init__.py'}) "
        "is not oes-reconcile's: no distribution installed it. Take its folder off PYTHONPATH (or leave that "
        "folder).\n"
    )


@pytest.mark.slow
def test_the_unrelated_reconciler_distribution_is_named(tmp_path: Path) -> None:
    """The package index's other `reconciler`, installed: named, with how to remove it and reinstall ours."""
    done = run_script("--version", pythonpath=fake_reconciler(tmp_path, distribution="reconciler"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "it comes from the distribution 'reconciler'" in done.stderr
    assert "`pip uninstall reconciler`, then `pip install --force-reinstall oes-reconcile`" in done.stderr


def test_entry_runs_the_cli_when_reconciler_is_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry hands the command line to reconciler.cli when the package carries our mark."""
    monkeypatch.setattr("sys.argv", ["oes-reconcile", "validate", str(EXAMPLES)])
    assert oes_reconcile.main() == 0


def test_entry_refuses_a_package_without_our_mark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `reconciler` without `__distribution__ = "oes-reconcile"` is refused before anything runs."""
    other = types.ModuleType("reconciler")
    other.__file__ = "/elsewhere/reconciler/__init__.py"
    monkeypatch.setitem(sys.modules, "reconciler", other)
    assert oes_reconcile.main() == 1
    assert "(/elsewhere/reconciler/__init__.py) is not oes-reconcile's" in capsys.readouterr().err


def test_entry_says_so_when_reconciler_is_gone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no `reconciler` at all (uninstalled under us), one line says to reinstall."""
    monkeypatch.setitem(sys.modules, "reconciler", None)
    assert oes_reconcile.main() == 1
    assert "its package `reconciler` cannot be imported" in capsys.readouterr().err


@pytest.mark.slow
def test_a_reconciler_that_raises_on_import_is_one_line(tmp_path: Path) -> None:
    """A `reconciler` whose import raises something else than ImportError: one line, no traceback."""
    fake = fake_reconciler(tmp_path)
    (fake / "reconciler" / "__init__.py").write_text('raise RuntimeError("broken on import")\n')
    done = run_script("--version", pythonpath=fake)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "RuntimeError: broken on import" in done.stderr
    assert "pip install --force-reinstall oes-reconcile" in done.stderr


def test_leftovers_of_an_overwritten_install_get_the_reinstall_remedy(tmp_path: Path) -> None:
    """Our files overwritten by another `reconciler`, that one uninstalled since: what is left lies in
    site-packages with no owner; the remedy is to reinstall oes-reconcile, not to edit PYTHONPATH."""
    left = tmp_path / "site-packages" / "reconciler"
    left.mkdir(parents=True)
    (left / "__init__.py").write_text("")
    package = types.ModuleType("reconciler")
    package.__file__ = str(left / "__init__.py")
    message = oes_reconcile.shadowed(package)
    assert "belongs to no distribution" in message
    assert message.endswith("`pip install --force-reinstall oes-reconcile`.")
