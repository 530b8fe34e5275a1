"""The run lock: exclusive, naming its holder, released when the holder ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import LockHeldError
from reconciler.lock import hold_lock


def test_second_holder_is_refused_with_pid_and_start_time(tmp_path: Path) -> None:
    """While one run holds the lock, another gets exit code 3 and learns who holds it."""
    path = str(tmp_path / "run.lock")
    with hold_lock(path):
        with pytest.raises(LockHeldError) as caught, hold_lock(path):
            pass
        assert caught.value.exit_code == 3
        assert f"PID {os.getpid()}, started 20" in str(caught.value)


def test_lock_is_free_again_after_the_run(tmp_path: Path) -> None:
    """Leaving the block releases the lock."""
    path = str(tmp_path / "run.lock")
    with hold_lock(path):
        pass
    with hold_lock(path):
        pass


def test_lock_of_a_killed_process_is_released_by_the_os(tmp_path: Path) -> None:
    """A holder that dies without cleaning up does not block the next run."""
    path = tmp_path / "run.lock"
    code = f"import os; from reconciler.lock import hold_lock\nwith hold_lock({str(path)!r}): os._exit(9)"
    done = subprocess.run([sys.executable, "-c", code], check=False, timeout=30)
    assert done.returncode == 9
    assert path.read_text().startswith('{"pid"')
    with hold_lock(str(path)):
        pass
