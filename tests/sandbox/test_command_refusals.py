"""`oes-reconcile sandbox` refuses what it cannot serve in one line, before listening; data round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli

PEAKS = [
    1,
    {"peak_id": ""},
    {"peak_id": "p2", "candidates": 5},
    {"peak_id": "p3", "candidates": [{"wavelength_nm": 417.2}]},
]
ENTRIES = [1, {"data_id": "x", "detected_peaks": PEAKS}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b'{"entries": ["caf\xe9"]}', "not a UTF-8 JSON file", id="latin-1"),
        pytest.param(
            json.dumps({"entries": ENTRIES}).encode(),
            "entries[0]: must be a JSON object (a result document); "
            "entries[1].detected_peaks[0]: must be an object; "
            "entries[1].detected_peaks[1].peak_id: must be a non-empty string; "
            "entries[1].detected_peaks[2].candidates: must be a list or a mapping; "
            "entries[1].detected_peaks[3].candidates: an object without a `key` or `candidate_key` string",
            id="shapes",
        ),
    ],
)
def test_a_data_file_that_cannot_serve_names_every_problem(
    cli: Cli, tmp_path: Path, content: bytes, message: str
) -> None:
    """`--data FILE` of the wrong encoding or shape: one line naming the file and each problem, exit 1."""
    data = tmp_path / "data.json"
    data.write_bytes(content)
    ran = cli("sandbox", "--data", str(data), "--print-data")
    assert (ran.code, ran.out) == (1, "")
    assert ran.err == f"InputError: {data}: {message}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(("--api-key", ""), "the sandbox needs a non-empty API key", id="empty-key"),
        pytest.param(
            ("--fault-rate", "0.3", "--fault-kinds", " , "),
            "fault_rate needs at least one of fault_kinds",
            id="rate-without-kinds",
        ),
    ],
)
def test_settings_it_cannot_serve_with_are_refused_before_listening(
    cli: Cli, argv: tuple[str, ...], message: str
) -> None:
    """An empty key, or random faults of no kind: a configuration error, exit 1, nothing served."""
    ran = cli("sandbox", "--port", "0", *argv)
    assert (ran.code, ran.out, ran.err) == (1, "", f"ConfigError: {message}\n")


def test_printed_data_is_a_data_file_that_prints_the_same(cli: Cli, tmp_path: Path) -> None:
    """`--print-data` writes the example data as a `--data` file; read back from it, it prints the same."""
    printed = cli("sandbox", "--print-data")
    assert (printed.code, printed.err) == (0, "")
    entries = json.loads(printed.out)["entries"]
    assert "d290f1ee-6c54-4b01-90e6-d701748f0851" in {entry["data_id"] for entry in entries}
    data = tmp_path / "data.json"
    data.write_text(printed.out, encoding="utf-8")
    assert cli("sandbox", "--data", str(data), "--print-data") == printed
