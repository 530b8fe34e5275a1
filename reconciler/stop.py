"""Why a run ended early: the reason every stage can read, set once by whoever stops the run first."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StopKind(enum.Enum):
    """What stopped the run; each kind ends it with its own exit code and message."""

    SIGNAL = "signal"
    REFUSED_KEY = "refused_key"
    UNREACHABLE = "unreachable"
    UNRECORDABLE = "unrecordable"
    INTERNAL_ERROR = "internal_error"
    CHANGE_LIMIT = "change_limit"


@dataclass(frozen=True)
class Stop:
    """A stop: its kind, why in the report's words ("not patched: <reason>"), and the error it ends with.

    `error` is raised once the report of what was done is written: a `ReconcileError` becomes its message
    and exit code; anything else is a bug, shown with its (scrubbed) traceback. A signal has none (130).
    """

    kind: StopKind
    reason: str
    error: BaseException | None = None


INTERRUPTED = Stop(StopKind.SIGNAL, "the run was interrupted")
