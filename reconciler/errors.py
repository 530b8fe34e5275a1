"""The exception hierarchy; each error knows its exit code and renders its own message.

ReconcileError (exit 1)
├── InputError ............ override files, plan files or options are invalid
│   ├── UsageError ........ the command line itself is wrong
│   └── FileErrors ........ one or more `path:line: message` problems, all listed at once
├── ConfigError ........... endpoint, key file or other settings are unusable
├── AuthError ............. the API refused the key (401/403); the run stops at once
├── UnreachableError ...... no request reached the API (connection errors in a row); the run stops
├── RecordError ........... the audit log could not be written; nothing more is sent
├── SafetyLimitError ...... `--max-changes` exceeded; nothing was patched
└── LockHeldError (exit 3)  another run holds `--lock-file`

Outside the root, three exceptions carry a request's fate inside a run and never reach the CLI:
TransientHTTPError (an answer worth retrying), RequestFailed (a request that did not succeed, once retries
ran out: it becomes the status of the items it concerns, `failed` or `fetch_failed`, and the other entries
go on) and RunStopped (the run is stopping: nothing new is sent). An interrupted run is no error: it ends
with its report and exit 130.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# How a command that ends without an error exits (SPEC "Exit codes"); an error carries its own code.
EXIT_OK, EXIT_FAILED, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


class ReconcileError(Exception):
    """Root of every error the CLI turns into a message and an exit code."""

    exit_code = 1

    def render(self) -> str:
        return f"{type(self).__name__}: {self}"


class InputError(ReconcileError):
    """An override file, plan file or option is invalid."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a file, with the place it concerns (line 0: the file as a whole)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class UsageError(InputError):
    """The command line itself is wrong (exit 1, as any invalid input; 2 means changes pending)."""


class FileErrors(InputError):
    """Every problem found in the override files of one run, sorted by place."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in override files")

    def render(self) -> str:
        lines = [f"error: {problem}" for problem in self.problems]
        lines.append(f"InputError: {self}; nothing was sent.")
        return "\n".join(lines)


class ConfigError(ReconcileError):
    """The endpoint, key or another setting is unusable."""


class AuthError(ReconcileError):
    """The API answered 401 or 403: the key is missing, wrong, or lacks access."""


class UnreachableError(ReconcileError):
    """Connection attempts failed in a row and none reached the API: the endpoint or network is wrong."""


class RecordError(ReconcileError):
    """The audit log could not be written: a PATCH that cannot be recorded is not made."""


class SafetyLimitError(ReconcileError):
    """More changes are pending than `--max-changes` allows."""


class LockHeldError(ReconcileError):
    """Another run holds the lock file."""

    exit_code = 3


# --- A request's fate inside a run: handled there, never shown as an error of the run. ---


class TransientHTTPError(Exception):
    """An answer worth retrying (429, 500, 502, 503, 504), with the server's `Retry-After` if it sent one."""

    def __init__(self, status: int, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class RequestFailed(Exception):
    """A request that did not succeed: refused by the server, unreadable, or out of attempts."""

    def __init__(self, reason: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts


class RunStopped(Exception):
    """The run is stopping (the client's `stopped` says why): nothing new is sent.

    `attempts` counts those of the stopped request that went out (0: it was never sent); `abandoned`: the
    last one was on the wire when a second signal gave up waiting for it, so its outcome is unknown.
    """

    def __init__(self, *, abandoned: bool = False) -> None:
        super().__init__("abandoned in flight" if abandoned else "the run is stopping")
        self.abandoned = abandoned
        self.attempts = 0
