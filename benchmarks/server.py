"""The sandbox in a process of its own: started on a free port, URL read from stdout, stats over HTTP."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from measure import ChildFailed, cli_command

API_KEY = "sandbox"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
LISTENING = re.compile(r"Sandbox listening on (http://127\.0\.0\.1:\d+/)")


@dataclass(frozen=True, slots=True)
class Data:
    """What the sandbox serves: synthetic entries of `peaks` peaks, `points` points, `differing` to change."""

    entries: int
    peaks: int
    points: int
    differing: int

    @property
    def overrides(self) -> int:
        return self.entries * self.peaks

    @property
    def patches(self) -> int:
        """PATCHes an apply needs on fresh data: one per differing peak."""
        return self.entries * self.differing


class SandboxProcess:
    """`oes-reconcile sandbox --synthetic N ...` in its own process, stopped (killed if need be) on exit."""

    def __init__(
        self, data: Data, *, latency: float, log_dir: Path, env: Mapping[str, str], name: str = "sandbox"
    ) -> None:
        self.data = data
        self.latency = latency
        self._env = dict(env)
        self._log = log_dir / f"{name}.err"
        self._process: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self.url = ""

    def __enter__(self) -> SandboxProcess:
        data = self.data
        argv = [
            *cli_command(),
            "sandbox",
            "--port=0",
            f"--api-key={API_KEY}",
            f"--synthetic={data.entries}",
            f"--peaks={data.peaks}",
            f"--points={data.points}",
            f"--differing={data.differing}",
            f"--latency={self.latency}",
        ]
        with self._log.open("wb") as err:
            self._process = subprocess.Popen(
                argv, env=self._env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL
            )
        try:
            self.url = self._read_url(self._process)
            self._client = httpx.Client(base_url=self.url, headers={"X-API-KEY": API_KEY}, timeout=30.0)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stats(self) -> dict[str, Any]:
        """The sandbox's counters (`GET /_sandbox/stats`)."""
        assert self._client is not None
        response = self._client.get("_sandbox/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def reset_stats(self) -> None:
        assert self._client is not None
        self._client.post("_sandbox/reset-stats").raise_for_status()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the sandbox has used so far; None where /proc is not there to tell."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        # After the command name: state is field 3, utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _read_url(self, process: subprocess.Popen[bytes]) -> str:
        """Wait (bounded) for the line that names the URL; the sandbox prints it once it listens."""
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        buffered = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(timeout=left):
                    continue
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                buffered += chunk
                found = LISTENING.search(buffered.decode(errors="replace"))
                if found:
                    return found.group(1)
        log = self._log.read_text(encoding="utf-8", errors="replace").strip()
        raise ChildFailed(f"the sandbox did not say where it listens within {START_TIMEOUT:.0f} s:\n{log}")

    def _stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()
