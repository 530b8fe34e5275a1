"""Where the record lives: --state, OES_RECONCILE_STATE, the XDG state folder; none with --no-state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import ConfigError, UsageError
from reconciler.record import state_path


def test_state_option_wins_over_the_variable_and_xdg() -> None:
    """--state names the file, whatever the environment says."""
    env = {"OES_RECONCILE_STATE": "/env/state.db", "XDG_STATE_HOME": "/xdg"}
    assert state_path(given="mine.db", no_state=False, env=env) == Path("mine.db")


def test_the_variable_wins_over_xdg() -> None:
    """Without --state, OES_RECONCILE_STATE names the file."""
    env = {"OES_RECONCILE_STATE": "/env/state.db", "XDG_STATE_HOME": "/xdg"}
    assert state_path(given=None, no_state=False, env=env) == Path("/env/state.db")


def test_xdg_state_home_then_home() -> None:
    """Else $XDG_STATE_HOME/oes-reconcile/state.db, and ~/.local/state when XDG_STATE_HOME is unset,
    empty or relative (the XDG rule: a relative path there is invalid)."""
    assert state_path(given=None, no_state=False, env={"XDG_STATE_HOME": "/xdg", "HOME": "/h"}) == Path(
        "/xdg/oes-reconcile/state.db"
    )
    default = Path("/h/.local/state/oes-reconcile/state.db")
    for xdg in ({}, {"XDG_STATE_HOME": ""}, {"XDG_STATE_HOME": "relative/state"}):
        assert state_path(given=None, no_state=False, env={"HOME": "/h", **xdg}) == default


def test_no_state_means_no_record_and_contradicts_state() -> None:
    """--no-state turns the record off, even when the environment names one; with --state it is a slip."""
    assert state_path(given=None, no_state=True, env={"OES_RECONCILE_STATE": "/env/state.db"}) is None
    with pytest.raises(UsageError, match="contradict"):
        state_path(given="mine.db", no_state=True, env={})


def test_empty_names_are_refused() -> None:
    """An empty --state or OES_RECONCILE_STATE is refused, never taken as the current folder."""
    with pytest.raises(UsageError, match="--state is empty"):
        state_path(given=" ", no_state=False, env={})
    with pytest.raises(ConfigError, match="OES_RECONCILE_STATE is set but empty"):
        state_path(given=None, no_state=False, env={"OES_RECONCILE_STATE": ""})


def test_tests_never_see_the_real_home() -> None:
    """The suite points XDG_STATE_HOME at a temporary folder for every test, children included."""
    path = state_path(given=None, no_state=False, env=os.environ)
    assert path is not None
    assert not path.is_relative_to(Path.home() / ".local")
    assert "OES_RECONCILE_STATE" not in os.environ
