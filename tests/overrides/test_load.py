"""Tests of the load stage: finding, validating and merging override files."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from reconciler.errors import FileErrors, Problem
from reconciler.models import Override
from reconciler.overrides import find_override_files, load_overrides, strict_yaml

REPO = Path(__file__).resolve().parents[2]
BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
EXPECTED: dict[str, str] = json.loads((BAD / "EXPECTED.json").read_text(encoding="utf-8"))

D1 = "d290f1ee-6c54-4b01-90e6-d701748f0851"
D2 = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory, so display paths are short and deterministic."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, content: str | bytes) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = textwrap.dedent(content).encode()
    path.write_bytes(content)
    return path


def problems_of(*paths: str) -> list[str]:
    with pytest.raises(FileErrors) as caught:
        load_overrides(paths)
    return [str(problem) for problem in caught.value.problems]


def yaml_with(peaks: str, data_id: str = D1) -> str:
    """A valid file around the given peak lines (indented four spaces), which start at line 4."""
    return f"version: 1\noverrides:\n  {data_id}:\n" + textwrap.indent(textwrap.dedent(peaks), "    ")


# --- The examples and the shapes of a valid file ---


def test_examples_load_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped examples load without a problem: 10 overrides from both files, sorted, no warnings."""
    monkeypatch.chdir(REPO)
    loaded = load_overrides(["examples"])
    assert len(loaded.overrides) == 10
    assert loaded.sources == ("examples/overrides.csv", "examples/overrides.yaml")
    assert loaded.warnings == ()
    pairs = [(override.data_id, override.peak_id) for override in loaded.overrides]
    assert pairs == sorted(pairs)
    assert (
        Override(D1, "p2", "N2_337.1", "examples/overrides.yaml", 7, "confirmed by XPS") in loaded.overrides
    )


def test_short_and_long_peak_forms(here: Path) -> None:
    """`p1: KEY` and `p1: {candidate_key, note}` both give an override at the peak's line."""
    write("a.yaml", yaml_with("p1: Ga_417.2\np2:\n  candidate_key: N2_337.1\n  note: confirmed by XPS\n"))
    assert load_overrides(["a.yaml"]).overrides == (
        Override(D1, "p1", "Ga_417.2", "a.yaml", 4),
        Override(D1, "p2", "N2_337.1", "a.yaml", 5, "confirmed by XPS"),
    )


def test_overrides_sorted_by_data_id_then_peak(here: Path) -> None:
    """Overrides come out sorted by (data_id, peak_id), whatever the order in the files."""
    write("a.yaml", yaml_with("p9: N_746.8\np1: Ga_417.2\n", D1) + f"  {D2}:\n    p1: In_451.1\n")
    loaded = load_overrides(["a.yaml"])
    assert [(o.data_id, o.peak_id) for o in loaded.overrides] == [(D2, "p1"), (D1, "p1"), (D1, "p9")]


def test_data_id_is_lower_cased(here: Path) -> None:
    """An upper-case UUID is accepted and normalised to lower case."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D1.upper()},p1,Ga_417.2\n")
    assert load_overrides(["a.csv"]).overrides[0].data_id == D1


def test_empty_overrides_mapping_is_zero_overrides(here: Path) -> None:
    """`overrides: {}` and a bare `overrides:` are valid files with nothing to do."""
    write("a.yaml", "version: 1\noverrides: {}\n")
    write("b.yaml", "version: 1\noverrides:\n")
    assert load_overrides(["a.yaml", "b.yaml"]).overrides == ()


def test_quoted_numbers_and_slashes_are_plain_strings(here: Path) -> None:
    """Quoted ids are strings; '/' is allowed in a peak_id (it travels in the JSON body, not the URL)."""
    write("a.yaml", yaml_with("'417.2': \"Ga_417.2\"\n\"yes\": 'no'\nline/3: N2_337.1\n"))
    loaded = load_overrides(["a.yaml"])
    assert [(o.peak_id, o.candidate_key) for o in loaded.overrides] == [
        ("417.2", "Ga_417.2"),
        ("line/3", "N2_337.1"),
        ("yes", "no"),
    ]


def test_ids_of_128_characters_are_accepted(here: Path) -> None:
    """The length limit is inclusive: 128 characters pass (129 are refused, see the corpus)."""
    write("a.yaml", yaml_with(f"{'p' * 128}: {'G' * 128}\n"))
    assert len(load_overrides(["a.yaml"]).overrides) == 1


def test_note_is_free_text_taken_as_written(here: Path) -> None:
    """A note YAML would read as a boolean or a date stays the text written; empty means no note."""
    peaks = """\
        p1: {candidate_key: Ga_417.2, note: yes}
        p2: {candidate_key: Ga_417.2, note: 2024-01-15}
        p3: {candidate_key: Ga_417.2, note: }
        p4: {candidate_key: Ga_417.2, note: ""}
    """
    write("a.yaml", yaml_with(peaks))
    assert [o.note for o in load_overrides(["a.yaml"]).overrides] == ["yes", "2024-01-15", None, None]


def test_multi_line_notes(here: Path) -> None:
    """A block-scalar note in YAML and a quoted multi-line note in CSV keep their lines; places stay exact."""
    write(
        "a.yaml",
        yaml_with("p1:\n  candidate_key: Ga_417.2\n  note: |\n    first line\n    second line\np2: X_1\n"),
    )
    write(
        "b.csv",
        f'data_id,peak_id,candidate_key,note\n{D2},p1,Ga_417.2,"first line\nsecond line"\n{D2},p2,X_1,\n',
    )
    loaded = load_overrides(["a.yaml", "b.csv"])
    assert [(o.source, o.note) for o in loaded.overrides] == [
        ("b.csv:2", "first line\nsecond line"),
        ("b.csv:4", None),
        ("a.yaml:4", "first line\nsecond line"),
        ("a.yaml:9", None),
    ]


def test_byte_order_mark_is_tolerated(here: Path) -> None:
    """A UTF-8 BOM at the start of a YAML or CSV file is ignored, and line numbers are unchanged."""
    write("a.yaml", b"\xef\xbb\xbf" + yaml_with("p1: Ga_417.2\n").encode())
    write("b.csv", b"\xef\xbb\xbfdata_id,peak_id,candidate_key\n" + f"{D2},p1,Ga_417.2\n".encode())
    assert [o.source for o in load_overrides(["a.yaml", "b.csv"]).overrides] == ["b.csv:2", "a.yaml:4"]


def test_windows_line_endings(here: Path) -> None:
    """CRLF files load, with the same line numbers as LF ones."""
    write("a.yaml", yaml_with("p1: Ga_417.2\np2: X_1\n").replace("\n", "\r\n").encode())
    write("b.csv", f"data_id,peak_id,candidate_key\r\n{D2},p1,Ga_417.2\r\n\r\n{D2},p2,X_1\r\n".encode())
    sources = [o.source for o in load_overrides(["a.yaml", "b.csv"]).overrides]
    assert sources == ["b.csv:2", "b.csv:4", "a.yaml:4", "a.yaml:5"]


# --- CSV specifics ---


def test_csv_columns_in_any_order_and_note_optional(here: Path) -> None:
    """The CSV header may list its columns in any order, with or without `note`."""
    write("a.csv", f"candidate_key,data_id,note,peak_id\nGa_417.2,{D1},checked,p1\n")
    write("b.csv", f"peak_id,candidate_key,data_id\np2,X_1,{D1}\n")
    assert load_overrides(["a.csv", "b.csv"]).overrides == (
        Override(D1, "p1", "Ga_417.2", "a.csv", 2, "checked"),
        Override(D1, "p2", "X_1", "b.csv", 2),
    )


def test_csv_short_row_and_blank_lines(here: Path) -> None:
    """A row that stops before the optional note is fine; blank lines and empty rows are skipped."""
    write("a.csv", f"data_id,peak_id,candidate_key,note\n\n{D1},p1,Ga_417.2\n,,,\n{D1},p2,X_1,why\n")
    assert [(o.line, o.note) for o in load_overrides(["a.csv"]).overrides] == [(3, None), (5, "why")]


def test_csv_every_problem_of_a_row_is_listed(here: Path) -> None:
    """Each bad field of a row is its own problem, at the row's physical line."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\nnope,,\n")
    assert problems_of("a.csv") == [
        "a.csv:3: data_id 'nope' is not a UUID",
        "a.csv:3: peak_id is empty",
        "a.csv:3: candidate_key is empty",
    ]


def test_csv_header_problems_are_all_listed(here: Path) -> None:
    """A header with an unknown, a repeated and a missing column gets one problem for each."""
    write("a.csv", f"data_id,peak,data_id\n{D1},p1,x\n")
    assert problems_of("a.csv") == [
        "a.csv:1: unknown column 'peak' (expected data_id, peak_id, candidate_key, note)",
        "a.csv:1: duplicate column 'data_id'",
        "a.csv:1: missing column 'peak_id' (the header needs data_id, peak_id, candidate_key)",
        "a.csv:1: missing column 'candidate_key' (the header needs data_id, peak_id, candidate_key)",
    ]


# --- Finding files ---


def test_directories_are_searched_recursively_in_sorted_order(here: Path) -> None:
    """A directory yields its override files at any depth, sorted; other files and hidden folders are not."""
    for name in ("o/b.yaml", "o/a.csv", "o/a/z.yml", "o/a/sub/y.yaml", "o/readme.txt", "o/.ci/ci.yml"):
        write(name, "")
    files, problems = find_override_files(["o"])
    assert [file.as_posix() for file in files] == ["o/a/sub/y.yaml", "o/a/z.yml", "o/a.csv", "o/b.yaml"]
    assert problems == []


def test_paths_keep_the_order_given_and_each_file_is_read_once(here: Path) -> None:
    """Paths are taken in the order given; a file named again, or also found in a folder, is read once."""
    write("o/a.yaml", yaml_with("p1: Ga_417.2\n"))
    write("z.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    loaded = load_overrides(["z.csv", "o", "o/a.yaml", "./z.csv"])
    assert loaded.sources == ("z.csv", "o/a.yaml")
    assert loaded.warnings == ()


def test_paths_that_are_not_override_files(here: Path) -> None:
    """A missing path, a directory without override files and a file of another kind are each a problem."""
    write("empty/notes.txt", "")
    write("notes.md", "")
    assert problems_of("nothing-here", "empty", "notes.md") == [
        "empty: no override files (*.yaml, *.yml, *.csv) in this directory",
        "notes.md: not an override file (expected *.yaml, *.yml, *.csv)",
        "nothing-here: no such file or directory",
    ]


def test_file_over_50_mb_is_refused_without_being_read(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over 50 MB is refused from its size alone: it is never opened."""
    with Path("big.yaml").open("wb") as big:
        big.truncate(60 * 1024 * 1024)  # sparse: no disk is written

    def no_open(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(os, "open", no_open)
    monkeypatch.setattr(Path, "open", no_open)
    assert problems_of("big.yaml") == [
        "big.yaml: file is 62,914,560 bytes; override files are limited to 50 MB"
    ]


# --- Merging ---


def test_conflict_across_yaml_and_csv_names_both_places(here: Path) -> None:
    """One peak wanted with two different keys in two files is a conflict at the second, naming the first."""
    write("a.yaml", yaml_with("p1: Ga_417.2\n"))
    write("b.csv", f"data_id,peak_id,candidate_key\n{D1.upper()},p1,In_451.1\n")
    assert problems_of("a.yaml", "b.csv") == [
        f"b.csv:2: conflict: {D1}/p1 is In_451.1 here and Ga_417.2 at a.yaml:4"
    ]


def test_same_value_twice_is_a_warning_and_the_first_is_kept(here: Path) -> None:
    """The same override declared twice loads once, from its first place, with a warning at the second."""
    write("a.yaml", yaml_with("p1: {candidate_key: Ga_417.2, note: first}\n"))
    write("b.csv", f"data_id,peak_id,candidate_key,note\n{D1},p1,Ga_417.2,second\n")
    loaded = load_overrides(["a.yaml", "b.csv"])
    assert loaded.overrides == (Override(D1, "p1", "Ga_417.2", "a.yaml", 4, "first"),)
    assert loaded.warnings == (
        Problem("b.csv", 2, f"{D1}/p1 is declared again with the same candidate_key (first at a.yaml:4)"),
    )


def test_all_problems_of_all_files_are_raised_together_sorted(here: Path) -> None:
    """Every problem of every file comes in one FileErrors, sorted by path then line; nothing is returned."""
    write("b.yaml", yaml_with("p1: 417.2\nok: Ga_417.2\np3: yes\n", "entry-7") + "extra: 1\n")
    write("a.csv", f"data_id,peak_id,candidate_key\n{D2},p1,\n")
    write("c.yaml", yaml_with("p1: Ga_417.2\n"))
    with pytest.raises(FileErrors) as caught:
        load_overrides(["b.yaml", "c.yaml", "a.csv"])
    assert [str(problem) for problem in caught.value.problems] == [
        "a.csv:2: candidate_key is empty",
        "b.yaml:3: data_id 'entry-7' is not a UUID",
        "b.yaml:4: candidate_key 417.2 is read by YAML as a number; quote it: '417.2'",
        "b.yaml:6: candidate_key yes is read by YAML as a boolean; quote it: 'yes'",
        "b.yaml:7: unknown key 'extra' (expected version, overrides)",
    ]
    assert caught.value.render().endswith("InputError: 5 errors in override files; nothing was sent.")


# --- Safety ---


def test_alias_bomb_is_refused_before_any_expansion(here: Path) -> None:
    """A 'billion laughs' file is refused at its first anchor: 10**60 expansions would never finish."""
    lines = ["version: 1", "overrides: {}", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 60)]
    write("bomb.yaml", "\n".join(lines) + "\n")
    assert problems_of("bomb.yaml") == ["bomb.yaml:3: anchors and aliases are not allowed (found '&l0')"]


def test_every_yaml_problem_names_its_line(here: Path) -> None:
    """Keys, values and structure problems each carry the line of the node concerned."""
    peaks = """\
        p1:
          candidate_key: Ga_417.2
          candidate: In_451.1
        p2: [a]
        0x1f: Ga_417.2
    """
    write("a.yaml", yaml_with(peaks))
    assert problems_of("a.yaml") == [
        "a.yaml:6: unknown key 'candidate' (expected candidate_key, note)",
        "a.yaml:7: peak 'p2' must be a candidate_key or a mapping with candidate_key, got a list",
        "a.yaml:8: peak_id 0x1f is read by YAML as a number; quote it: '0x1f'",
    ]


# --- Digest ---


def test_digest_follows_the_bytes_and_paths_of_the_files(here: Path) -> None:
    """The digest is stable for the same files and changes when a byte or a file's path changes."""
    write("a.yaml", yaml_with("p1: Ga_417.2\n"))
    first = load_overrides(["a.yaml"]).digest
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert load_overrides(["a.yaml"]).digest == first
    write("a.yaml", yaml_with("p1: Ga_417.2\n") + "# reviewed\n")
    changed = load_overrides(["a.yaml"]).digest
    Path("a.yaml").rename("b.yaml")
    assert len({first, changed, load_overrides(["b.yaml"]).digest}) == 3


# --- The corpus of bad files ---


def _first_problem(case: str) -> str:
    with pytest.raises(FileErrors) as caught:
        load_overrides([case])
    return str(caught.value.problems[0])


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_file_is_refused_with_the_expected_first_error(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bad file (or folder) of the corpus fails with exactly the `path:line: message` recorded for it."""
    monkeypatch.chdir(BAD)
    expected = EXPECTED[case]
    if yaml.__with_libyaml__:
        assert _first_problem(case) == expected
    else:  # pure-Python PyYAML words its syntax errors differently; the place is the same
        assert _first_problem(case).startswith(expected.partition("invalid YAML:")[0])


def test_corpus_expectations_cover_every_file() -> None:
    """EXPECTED.json names every file and folder of the bad corpus, and nothing else."""
    cases = {entry.name for entry in BAD.iterdir() if entry.name != "EXPECTED.json"}
    assert set(EXPECTED) == cases
    assert len(cases) >= 45


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_pure_python_parser_gives_the_same_places(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml, every bad file fails at the same place, with the same message bar syntax wording."""
    monkeypatch.chdir(BAD)
    monkeypatch.setattr(strict_yaml, "_LOADER", strict_yaml._PureLoader)
    monkeypatch.setattr(strict_yaml, "_COUNTS_BYTES", False)
    expected = EXPECTED[case]
    if "invalid YAML:" in expected:
        expected = expected.partition("invalid YAML:")[0]
    assert _first_problem(case).startswith(expected)
