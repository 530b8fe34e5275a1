"""Bad input end to end: every malformed override file is refused by `apply` before a single request."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest
import yaml

from reconciler.sandbox import Sandbox
from tests.conftest import Cli, Ran

pytestmark = pytest.mark.slow  # the sandbox on loopback or a child process: not in `make test-fast`

BAD = Path(__file__).resolve().parent / "data" / "bad"
EXPECTED: dict[str, str] = json.loads((BAD / "EXPECTED.json").read_text(encoding="utf-8"))
NOTHING_SENT = "; nothing was sent."


def expected_line(expected: str) -> str:
    """The `error:` line the CLI prints; without libyaml only the place of a syntax error is pinned."""
    if not yaml.__with_libyaml__ and "invalid YAML:" in expected:
        return "error: " + expected.partition("invalid YAML:")[0]
    return "error: " + expected


def assert_refused(ran: Ran, sandbox: Sandbox, line: str) -> None:
    """Exit 1, the `path:line: message` on stderr, no traceback, and not one request to the server."""
    assert ran.code == 1, ran.out + ran.err
    assert any(printed.startswith(line) for printed in ran.err.splitlines()), ran.err
    assert ran.err.rstrip().endswith(NOTHING_SENT)
    assert "Traceback" not in ran.err
    assert ran.out == ""
    assert sandbox.stats()["requests"] == 0


def test_corpus_expectations_cover_every_file() -> None:
    """EXPECTED.json names every file and folder of the bad corpus, and nothing else: at least 45 cases."""
    cases = {entry.name for entry in BAD.iterdir() if entry.name != "EXPECTED.json"}
    assert set(EXPECTED) == cases
    assert len(cases) >= 45


def test_every_bad_file_is_refused_in_one_run_before_any_request(
    sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply` of the whole corpus in one run (its folder, and the .txt file a folder search skips): exit 1,
    each bad file's first error exactly as EXPECTED.json records it, and not one request."""
    monkeypatch.chdir(BAD)
    ran = cli("apply", ".", "not-an-override-file.txt")
    assert_refused(ran, sandbox, "error: ")
    printed = ran.err.splitlines()
    first = {
        case: next((line for line in printed if line.startswith((f"error: {case}:", f"error: {case}/"))), "")
        for case in EXPECTED
    }
    if yaml.__with_libyaml__:
        assert first == {case: "error: " + expected for case, expected in EXPECTED.items()}
    else:
        assert all(first[case].startswith(expected_line(expected)) for case, expected in EXPECTED.items())


def test_file_over_50_mb_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 60 MB override file (sparse, made here) is refused by its size: exit 1, nothing sent."""
    monkeypatch.chdir(tmp_path)
    with Path("big.yaml").open("wb") as big:
        big.truncate(60 * 1024 * 1024)
    line = "error: big.yaml: file is 62,914,560 bytes; override files are limited to 50 MB"
    assert_refused(cli("apply", "big.yaml"), sandbox, line)


def test_missing_path_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that does not exist is an input error: exit 1, named, nothing sent."""
    monkeypatch.chdir(tmp_path)
    line = "error: overrides/gone.yaml: no such file or directory"
    assert_refused(cli("apply", "overrides/gone.yaml"), sandbox, line)


def test_one_bad_file_among_good_ones_stops_them_all(
    sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examples plus one bad file: the good files are not applied either; nothing is sent."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    monkeypatch.chdir(BAD)
    ran = cli("apply", str(examples), "peak-id-number.yaml")
    assert_refused(ran, sandbox, expected_line(EXPECTED["peak-id-number.yaml"]))


SAVED_PLANS = [
    pytest.param("not json", " is not a saved plan: Invalid JSON", id="not-json"),
    pytest.param(
        '{"format_version": "9", "command": "plan", "endpoint": "x", "items": []}',
        " is a plan of format version '9'",
        id="other-format-version",
    ),
    pytest.param(
        '{"format_version": "2", "command": "apply", "endpoint": "x", "items": []}',
        " is the report of an 'apply' run, not a saved plan",
        id="apply-report",
    ),
    pytest.param(
        '{"format_version": "2", "command": "plan", "endpoint": "x", "items": [{"status": "done"}]}',
        " is not a saved plan:",
        id="bad-item",
    ),
]


@pytest.mark.parametrize(("content", "message"), SAVED_PLANS)
def test_bad_saved_plan_is_refused_before_any_request(
    content: str, message: str, tmp_path: Path, sandbox: Sandbox, cli: Cli
) -> None:
    """`apply --plan` of a file that is not a plan of this version: exit 1, a message, nothing sent."""
    plan = tmp_path / "plan.json"
    plan.write_text(content)
    ran = cli("apply", "--plan", str(plan))
    assert ran.code == 1
    assert f"InputError: {plan}{message}" in ran.err
    assert "Traceback" not in ran.err
    assert sandbox.stats()["requests"] == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes (FIFOs) on this platform")
def test_fifo_among_override_files_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply` of a folder holding a FIFO named like an override file: exit 1 at once, nothing sent."""
    monkeypatch.chdir(tmp_path)
    examples = Path(__file__).resolve().parent.parent / "examples"
    Path("o").mkdir()
    os.mkfifo("o/pipe.yaml")

    # Should the FIFO be opened for reading after all, a writer comes after 5 s: the test fails, not hangs.
    def unblock_reader() -> None:
        with contextlib.suppress(OSError):
            os.close(os.open("o/pipe.yaml", os.O_WRONLY | os.O_NONBLOCK))

    unblock = threading.Timer(5, unblock_reader)
    unblock.start()
    try:
        ran = cli("apply", str(examples), "o")
    finally:
        unblock.cancel()
    assert_refused(ran, sandbox, "error: o/pipe.yaml: is a FIFO (named pipe), not a regular file")


def test_link_loop_among_override_files_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply` of a folder holding a link loop named like an override file: exit 1, no traceback."""
    monkeypatch.chdir(tmp_path)
    Path("o").mkdir()
    Path("o/self.yaml").symlink_to("self.yaml")
    line = "error: o/self.yaml: is a symbolic link loop (it points to 'self.yaml', and following the links"
    assert_refused(cli("apply", "o"), sandbox, line)


def test_csv_in_utf16_without_a_byte_order_mark_is_refused_before_any_request(
    tmp_path: Path, sandbox: Sandbox, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apply` of a BOM-less UTF-16 CSV: exit 1 naming the encoding, nothing sent."""
    monkeypatch.chdir(tmp_path)
    row = "d290f1ee-6c54-4b01-90e6-d701748f0851,p1,Ga_417.2"
    Path("a.csv").write_bytes(f"data_id,peak_id,candidate_key\n{row}\n".encode("utf-16-le"))
    line = "error: a.csv: looks like UTF-16 (little-endian) without a byte-order mark"
    assert_refused(cli("apply", "a.csv"), sandbox, line)
