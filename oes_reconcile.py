"""The console script's entry: runs the CLI only if `import reconciler` finds oes-reconcile's package."""

from __future__ import annotations

import sys
from types import ModuleType

DISTRIBUTION = "oes-reconcile"


def main() -> int:
    """Run `reconciler.cli.main`, or say which other `reconciler` is in the way (exit 1, no traceback)."""
    try:
        import reconciler
    except Exception as exc:  # noqa: BLE001 (whatever another `reconciler` raises: one line, not a traceback)
        print(
            f"{DISTRIBUTION}: its package `reconciler` cannot be imported ({type(exc).__name__}: {exc}); "
            f"reinstall it: `pip install --force-reinstall {DISTRIBUTION}`",
            file=sys.stderr,
        )
        return 1
    if getattr(reconciler, "__distribution__", None) != DISTRIBUTION:
        print(shadowed(reconciler), file=sys.stderr)
        return 1
    from reconciler.cli import main as run

    return run()


def shadowed(package: ModuleType) -> str:
    """The message for a `reconciler` that is not ours: where it was found, and who installed it."""
    from importlib import metadata

    where = getattr(package, "__file__", None) or ", ".join(getattr(package, "__path__", [])) or "?"
    others = sorted(
        name
        for name in metadata.packages_distributions().get("reconciler", [])
        if name.lower().replace("_", "-") != DISTRIBUTION
    )
    head = f"{DISTRIBUTION}: the Python package `reconciler` found first ({where}) is not oes-reconcile's"
    if not others and _installed(package):
        # In site-packages with no owner: another `reconciler` overwrote ours and was uninstalled since.
        return (
            f"{head}: what is left of it belongs to no distribution (another `reconciler` overwrote "
            f"oes-reconcile's files and was removed since). `pip install --force-reinstall {DISTRIBUTION}`."
        )
    if not others:
        return f"{head}: no distribution installed it. Take its folder off PYTHONPATH (or leave that folder)."
    named = " and ".join(repr(name) for name in others)
    return (
        f"{head}: it comes from the distribution {named}. oes-reconcile's package is named `reconciler` too, "
        f"so the two cannot share an environment: `pip uninstall {others[0]}`, then "
        f"`pip install --force-reinstall oes-reconcile` (its files were overwritten), or install "
        "oes-reconcile into an environment of its own (`pipx install`)."
    )


def _installed(package: ModuleType) -> bool:
    """Whether the package lies in an installation's site-packages (not a folder on PYTHONPATH)."""
    where = getattr(package, "__file__", None) or ""
    return "site-packages" in where or "dist-packages" in where
