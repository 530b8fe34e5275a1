"""Output files: bad paths fail before the run, and a file is written whole or not at all."""

from __future__ import annotations

import errno
import io
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

import pytest

from reconciler.errors import ConfigError
from reconciler.output import prepare, to_stdout, write_atomically
from reconciler.sandbox import Sandbox
from tests.conftest import Cli


def test_prepare_makes_the_folder(tmp_path: Path) -> None:
    """A report into a dated folder that does not exist yet: the folder is made."""
    prepare(str(tmp_path / "2026-11-29" / "report.json"))
    assert (tmp_path / "2026-11-29").is_dir()


def test_prepare_refuses_a_folder(tmp_path: Path) -> None:
    """Naming a folder where a file is wanted is an error before anything is sent."""
    with pytest.raises(ConfigError, match="is a folder"):
        prepare(str(tmp_path))


def test_prepare_refuses_a_device_and_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    """`--report /dev/null` is no file to write a report to; nor is a path below a regular file."""
    with pytest.raises(ConfigError, match="/dev/null is a character device, not a regular file"):
        prepare("/dev/null")
    (tmp_path / "plain").write_text("")
    with pytest.raises(ConfigError, match=r"the folder of .*/plain/day/r\.json: Not a directory"):
        prepare(str(tmp_path / "plain" / "day" / "r.json"))


def test_failed_write_leaves_neither_half_a_file_nor_debris(tmp_path: Path) -> None:
    """If writing fails midway, the old file is intact and no temporary file is left."""
    target = tmp_path / "report.json"
    target.write_text("old")

    def broken(out: TextIO) -> None:
        out.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(ConfigError, match="No space left on device"):
        write_atomically(str(target), broken)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.slow
def test_report_path_that_is_a_folder_fails_before_any_request(
    sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """`apply --report DIR` is refused before anything is fetched or patched."""
    ran = cli("apply", "--report", str(tmp_path), "examples/")
    assert ran.code == 1
    assert "is a folder" in ran.err
    assert sandbox.stats()["requests"] == 0


@pytest.mark.slow
def test_export_into_a_new_folder(sandbox: Sandbox, cli: Cli, tmp_path: Path) -> None:
    """`export -o overrides/current.yaml` in a fresh repository makes the folder."""
    target = tmp_path / "overrides" / "current.yaml"
    ran = cli("export", "d290f1ee-6c54-4b01-90e6-d701748f0851", "-o", str(target))
    assert ran.code == 0, ran.err
    assert target.read_text().startswith("# Manual peak assignments")


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    """A report kept private (mode 600) stays private when a run replaces it."""
    report = tmp_path / "r.json"
    report.write_text("old\n")
    report.chmod(0o600)
    write_atomically(str(report), lambda out: out.write("new\n"))
    assert report.read_text() == "new\n"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


class _ShortWrites(io.RawIOBase):
    """A stdout as `python -u` has it (no buffer under the text layer) that takes at most `most` bytes per
    write(), and after `until` bytes in all fails as a pipe whose reader has gone."""

    def __init__(self, most: int, until: int | None = None) -> None:
        self.most, self.until, self.got = most, until, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.until is not None and len(self.got) >= self.until:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        taken = bytes(data)[: self.most]
        self.got += taken
        return len(taken)


def _unbuffered_stdout(monkeypatch: pytest.MonkeyPatch, raw: _ShortWrites) -> None:
    monkeypatch.setattr(
        sys, "stdout", io.TextIOWrapper(cast(BinaryIO, raw), encoding="utf-8", write_through=True)
    )


def test_unbuffered_stdout_gets_every_byte_of_a_big_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `python -u`, a write the system takes in part is finished, not dropped: all of it arrives."""
    raw = _ShortWrites(most=4096)
    _unbuffered_stdout(monkeypatch, raw)
    text = '{"note": "é"}\n' * 20_000
    assert to_stdout(lambda out: out.write(text)) is None
    assert raw.got.decode() == text


def test_unbuffered_stdout_whose_reader_left_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `python -u`, a pipe that takes 64 KiB and then breaks: one line for stderr, not a silent cut."""
    _unbuffered_stdout(monkeypatch, _ShortWrites(most=65_536, until=65_536))
    assert (
        to_stdout(lambda out: out.write("x" * 1_000_000))
        == "could not write the report to stdout (Broken pipe)"
    )
