"""Child processes lacking a facility, as Windows or a rarer system does: loop signal handlers, fcntl."""

from __future__ import annotations

import sys
from collections.abc import Sequence

PRELUDE = """\
import asyncio, runpy, sys

def _refuse(*args, **kwargs):
    raise NotImplementedError  # as Windows' Proactor loop does
"""


def without(*, loop_signals: bool = False, modules: Sequence[str] = ()) -> str:
    """Python source that takes the facilities away from the process that runs it, before any import."""
    lines = [PRELUDE]
    # `import fcntl` raises ImportError once sys.modules holds None for it.
    lines += [f"sys.modules[{name!r}] = None\n" for name in modules]
    if loop_signals:
        lines.append("asyncio.SelectorEventLoop.add_signal_handler = _refuse\n")
    return "".join(lines)


def reconciler_without(*, loop_signals: bool = False, modules: Sequence[str] = ()) -> list[str]:
    """The argv of `python -m reconciler` (arguments to follow) in a child lacking those facilities."""
    run = "runpy.run_module('reconciler', run_name='__main__', alter_sys=True)\n"
    return [sys.executable, "-c", without(loop_signals=loop_signals, modules=modules) + run]
