"""Where the record lives: `--state`, else OES_RECONCILE_STATE, else the XDG state folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import ConfigError, UsageError

STATE_VARIABLE = "OES_RECONCILE_STATE"


def state_path(*, given: str | None, no_state: bool, env: Mapping[str, str]) -> Path | None:
    """Where the record lives: `--state`, else OES_RECONCILE_STATE, else the XDG state folder; None with
    `--no-state` (nothing is recorded)."""
    if no_state:
        if given is not None:
            raise UsageError("--state and --no-state contradict each other; give one of them")
        return None
    if given is not None:
        if not given.strip():
            raise UsageError("--state is empty: name the record's file, or pass --no-state")
        return Path(given)
    named = env.get(STATE_VARIABLE)
    if named is not None:
        if not named.strip():
            raise ConfigError(
                f"{STATE_VARIABLE} is set but empty: name the record's file, unset it for the default "
                "place, or pass --no-state"
            )
        return Path(named)
    # The XDG rule: a relative XDG_STATE_HOME is invalid and ignored.
    xdg = env.get("XDG_STATE_HOME", "")
    home = env.get("HOME") or str(Path.home())
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path(home) / ".local" / "state"
    return base / "oes-reconcile" / "state.db"
