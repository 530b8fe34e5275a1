"""Measured child processes: wall time from spawn to exit (start-up included), that child's peak RSS."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.record import STATE_VARIABLE

KILL_AFTER = 600.0  # seconds; no benchmark child should come near it


@dataclass(frozen=True, slots=True)
class Machine:
    """Machine-wide counters (Linux /proc; zero elsewhere): busy CPU seconds, listen queue overflows."""

    busy_seconds: float
    listen_drops: int

    @classmethod
    def now(cls) -> Machine:
        return cls(_busy_seconds(), _listen_drops())

    def since(self, before: Machine) -> Machine:
        return Machine(self.busy_seconds - before.busy_seconds, self.listen_drops - before.listen_drops)


def _busy_seconds() -> float:
    """CPU time all processes have used (user, nice, system, irq, softirq, steal), summed over CPUs."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _listen_drops() -> int:
    """Connections the kernel dropped because a listen queue was full; each costs the client a 1 s wait."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(counters.get("ListenDrops", 0))
    return 0


@dataclass(frozen=True, slots=True)
class Measured:
    """One finished child: exit code, wall time, peak RSS, its CPU time, and what the machine did meanwhile.

    `started_at` and `ended_at` are `time.monotonic()`, which the sandbox's stats use too.
    """

    returncode: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    machine: Machine
    stdout: Path
    stderr: Path
    started_at: float
    ended_at: float

    def tail(self, lines: int = 5) -> str:
        """The last lines of its stderr (else stdout): what to show when it failed."""
        for path in (self.stderr, self.stdout):
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                return "\n".join(text.splitlines()[-lines:])
        return "(no output)"


def child_env(work: Path) -> dict[str, str]:
    """This process's environment for a child, with the record kept inside the run's work folder.

    `apply` writes its record at `$XDG_STATE_HOME/oes-reconcile/state.db` by default: pointing that into
    `work` (absolute: a relative XDG_STATE_HOME is ignored) and dropping OES_RECONCILE_STATE keeps every
    child away from the real home directory's record.
    """
    env = {k: v for k, v in os.environ.items() if k != STATE_VARIABLE}
    return env | {"XDG_STATE_HOME": str(work.resolve() / "state")}


def cli_command() -> list[str]:
    """How to start the real CLI: the console script next to this interpreter, else `python -m reconciler`."""
    script = Path(sys.executable).with_name("oes-reconcile")
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    out_dir: Path,
    name: str,
    timeout: float = KILL_AFTER,
) -> Measured:
    """Run `argv` to its end; the peak RSS is this one child's (os.wait4), not the max over all children.

    stdout and stderr go to files in `out_dir` (a pipe left undrained could stall the child).
    """
    stdout, stderr = out_dir / f"{name}.out", out_dir / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        before = Machine.now()
        started_at, started = time.monotonic(), time.perf_counter()
        process = subprocess.Popen(argv, env=dict(env), stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        guard = threading.Timer(timeout, process.kill)
        guard.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            # Interrupted (Ctrl-C): leave no child behind.
            process.kill()
            process.wait()
            raise
        finally:
            guard.cancel()
        seconds, ended_at = time.perf_counter() - started, time.monotonic()
        machine = Machine.now().since(before)
    # Reaped here, not by Popen: tell it, so it never waits for the pid again.
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        returncode=process.returncode,
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        machine=machine,
        stdout=stdout,
        stderr=stderr,
        started_at=started_at,
        ended_at=ended_at,
    )


def best_of(argv: Sequence[str], *, runs: int, env: Mapping[str, str], out_dir: Path, name: str) -> float:
    """The shortest wall time of `runs` runs (the least disturbed by the rest of the machine)."""
    times = []
    for index in range(runs):
        measured = run_measured(argv, env=env, out_dir=out_dir, name=f"{name}-{index}", timeout=60.0)
        if measured.returncode != 0:
            raise ChildFailed(f"{' '.join(argv)} exited {measured.returncode}:\n{measured.tail()}")
        times.append(measured.seconds)
    return min(times)


class ChildFailed(Exception):
    """A benchmark child (the CLI or the sandbox) did not do what the benchmark needs."""


@contextlib.contextmanager
def work_folder(*, prefix: str, keep: bool) -> Iterator[Path]:
    """A fresh temporary folder for a benchmark's files and children's output; removed at the end unless
    `keep` (then its place is printed)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
