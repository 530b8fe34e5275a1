"""oes-reconcile: make the manual OES peak assignments on Atomscale agree with override files in git."""

from __future__ import annotations

# The one place the version is written: pyproject.toml reads it from here (setuptools' `attr:`).
__version__ = "0.2.0.dev0"

# Whose `reconciler` this is: an unrelated distribution on the package index is named `reconciler` too, and
# the console script (oes_reconcile.py) refuses to run a package without this mark.
__distribution__ = "oes-reconcile"
