"""oes-reconcile: make the manual OES peak assignments on Atomscale agree with override files in git."""

from __future__ import annotations

__version__ = "0.1.0"
