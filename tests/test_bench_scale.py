"""The scale benchmark's pure parts (benchmarks/scale*.py): verdicts, medians, tables, input files, counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import scale
from scale_files import Tree, check_report, count_items, overrides, write_csv, write_yaml
from scale_table import Cell, Row, median, render_markdown, render_text, to_json

FAST = Cell(seconds=4.0, mb=250.0, cpu_seconds=3.5)
SLOW = Cell(seconds=13.0, mb=1100.0, cpu_seconds=12.0)


def test_median_of_odd_and_even_counts() -> None:
    """The middle value; of an even count, the mean of the middle two."""
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_median_of_nothing_is_an_error() -> None:
    """No runs is a bug in the harness, not a figure of zero."""
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_verdicts() -> None:
    """Met within every limit set; missed over either; nothing to judge without limits or figures."""
    row = Row("validate YAML", "1,000,000", SLOW, FAST, "<= 8 s, <= 400 MB", 8.0, 400.0)
    assert row.verdict == "met"
    assert Row("w", "1", None, SLOW, "t", 8.0, 400.0).verdict == "missed"
    assert Row("w", "1", None, Cell(4.0, 500.0, 1.0), "t", 8.0, 400.0).verdict == "missed"
    assert Row("w", "1", None, Cell(9.0, 100.0, 1.0), "t", 8.0, None).verdict == "missed"
    assert Row("w", "1", None, Cell(9.0, 100.0, 1.0), "t", None, 400.0).verdict == "met"
    assert Row("w", "1", SLOW, FAST).verdict == ""
    assert Row("w", "1", SLOW, None, "t", 8.0, None).verdict == "not run"


def test_curve_rows_are_judged_at_the_issue_size_only() -> None:
    """A row below 1M overrides carries no target; at 1M it carries the issue's."""
    trees = [Tree("baseline x", Path("/b")), Tree("current", Path("/c"))]
    found = {"baseline x": SLOW, "current": FAST}
    small = scale._curve_row("validate YAML", 1000, found, trees, limits=None, note="n")
    big = scale._curve_row("validate YAML", 1_000_000, found, trees, limits=(8.0, 400.0), note="n")
    assert (small.baseline, small.current, small.verdict, small.target) == (SLOW, FAST, "", "")
    assert (big.verdict, big.target) == ("met", "<= 8 s, <= 400 MB")


def test_text_table() -> None:
    """One line per row under the headers, notes indented under their row, a dash for no baseline."""
    rows = [
        Row("validate YAML", "1,000,000", SLOW, FAST, "<= 8 s, <= 400 MB", 8.0, 400.0, "a note"),
        Row("validate CSV", "1,000", None, Cell(0.11, 32.8, 0.1), note=""),
    ]
    lines = render_text(rows, heading=["title"]).splitlines()
    assert lines[0] == "title"
    assert lines[2].split()[:3] == ["work", "size", "baseline"]
    assert lines[3].split()[-2:] == ["MB", "met"]
    assert lines[3].split()[3:7] == ["13.00", "1100", "4.00", "250"]
    assert lines[4] == "    a note"
    assert lines[5].split()[3:] == ["—", "—", "0.11", "32.8"]


def test_markdown_table() -> None:
    """A Markdown table with a separator row; a missed target in bold."""
    rows = [Row("plan", "1,000,000", FAST, SLOW, "<= 100 s, <= 700 MB", 100.0, 700.0, "note")]
    lines = render_markdown(rows).splitlines()
    assert lines[0].startswith("| work | size | baseline s")
    assert lines[1].startswith("|---|---:|")
    assert (
        lines[2]
        == "| plan | 1,000,000 | 4.00 | 250 | 13.00 | 1100 | <= 100 s, <= 700 MB | **missed** | note |"
    )


def test_json_has_every_row_and_its_verdict() -> None:
    """--json: the settings, and each row's cells, limits and verdict."""
    document = json.loads(
        to_json([Row("w", "1", None, FAST, "t", 8.0, None)], settings={"smoke": True}, extra={})
    )
    assert document["settings"] == {"smoke": True}
    assert document["rows"][0]["verdict"] == "met"
    assert document["rows"][0]["current"] == {"seconds": 4.0, "mb": 250.0, "cpu_seconds": 3.5}


def test_yaml_file_is_what_pyyaml_would_write(tmp_path: Path) -> None:
    """The streamed YAML file is byte for byte safe_dump's document of the same overrides."""
    wanted = overrides(30)
    mapping: dict[str, dict[str, str]] = {}
    for data_id, peak_id, key in wanted:
        mapping.setdefault(data_id, {})[peak_id] = key
    written = write_yaml(tmp_path / "o.yaml", wanted).read_text(encoding="utf-8")
    assert written == yaml.safe_dump({"version": 1, "overrides": mapping}, sort_keys=False)
    assert (len(wanted), len(mapping)) == (30, 3)


def test_csv_file(tmp_path: Path) -> None:
    """A header and one line per override."""
    lines = write_csv(tmp_path / "o.csv", overrides(20)).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "data_id,peak_id,candidate_key"
    assert len(lines) == 21


@pytest.mark.parametrize("chunk", [1, 5, 9, 10, 1 << 20])
def test_items_are_counted_across_chunk_boundaries(tmp_path: Path, chunk: int) -> None:
    """A key cut by a chunk boundary is counted once, in any chunk size."""
    path = tmp_path / "r.json"
    path.write_text('{"items": [{"peak_id": "p1"}, {"peak_id":"p2"},\n{"peak_id": "p3"}]}', encoding="utf-8")
    assert count_items(path, chunk=chunk) == 3


def test_report_check(tmp_path: Path) -> None:
    """A report of the expected items passes; a short one, or a summary that disagrees, is a problem."""
    path = tmp_path / "r.json"
    items = [{"peak_id": f"p{i}"} for i in range(3)]
    path.write_text(json.dumps({"summary": {"overrides": 3}, "items": items}), encoding="utf-8")
    assert check_report(path, expected=3, what="r") == []
    assert check_report(path, expected=4, what="r") == ["r: 3 items, expected 4"]
    path.write_text(json.dumps({"summary": {"overrides": 2}, "items": items}), encoding="utf-8")
    assert check_report(path, expected=3, what="r") == ["r: items or summary.overrides is not 3"]
    assert check_report(path, expected=3, what="r", parse_below=3) == []


def test_smoke_options() -> None:
    """--smoke: the smallest sizes, no baseline, no apply (run.py --smoke covers it)."""
    args = scale.parse_args(["--smoke"])
    assert (args.no_baseline, args.sizes, args.max_plan_size, args.startup_runs) == (True, [1000], 1000, 3)
    assert "apply" not in args.rows
    assert scale.parse_args([]).sizes == [1000, 10_000, 100_000, 1_000_000]


@pytest.mark.parametrize("sizes", ["5", "1000,1005", "a", ""])
def test_sizes_are_tens_of_overrides(sizes: str) -> None:
    """Sizes are N/10 entries of 10 peaks: each a multiple of 10."""
    with pytest.raises(SystemExit):
        scale.parse_args(["--sizes", sizes])


def test_rows_must_be_known() -> None:
    """--rows names rows of ROWS only."""
    assert scale.parse_args(["--rows", "plan,validate"]).rows == ["plan", "validate"]
    with pytest.raises(SystemExit):
        scale.parse_args(["--rows", "plan,nope"])
