"""Tests of the load stage: files of both formats read, decoded and merged; the digest; the bad corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler import overrides
from reconciler.errors import FileErrors, Problem
from reconciler.models import Override
from reconciler.overrides import load_overrides, strict_yaml
from tests.overrides.conftest import D1, D2, problems_of, write, yaml_with

REPO = Path(__file__).resolve().parents[2]
BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
EXPECTED: dict[str, str] = json.loads((BAD / "EXPECTED.json").read_text(encoding="utf-8"))


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
        Override(D1, "p2", "N2_337.1", "examples/overrides.yaml", 8, "confirmed by XPS") in loaded.overrides
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


def test_same_key_with_another_wavelength_is_a_warning_naming_the_one_used(here: Path) -> None:
    """The same candidate with two wavelengths: a warning (the first is used), not a conflict; a repeat
    that adds a wavelength the first lacked lends it, so the guard is never lost."""
    write("a.yaml", yaml_with("p1: {candidate_key: Ga_417.2, wavelength_nm: 417.21}\np2: N2_337.1\n"))
    write(
        "b.csv",
        f"data_id,peak_id,candidate_key,wavelength_nm\n{D1},p1,Ga_417.2,417.3\n{D1},p2,N2_337.1,337.05\n",
    )
    loaded = load_overrides(["a.yaml", "b.csv"])
    assert [(o.peak_id, o.wavelength_nm, o.source) for o in loaded.overrides] == [
        ("p1", 417.21, "a.yaml:4"),
        ("p2", 337.05, "a.yaml:5"),
    ]
    again = "is declared again with the same candidate_key (first at a.yaml"
    assert [str(warning) for warning in loaded.warnings] == [
        f"b.csv:2: {D1}/p1 {again}:4), but wavelength_nm 417.3 here and 417.21 there; 417.21 is used",
        f"b.csv:3: {D1}/p2 {again}:5); the wavelength_nm given here (337.05) is used",
    ]


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


# --- The corpus of bad files (run through the CLI in tests/test_bad_input.py) ---


YAML_CASES = sorted(case for case in EXPECTED if case.endswith((".yaml", ".yml")))


@pytest.mark.parametrize("case", YAML_CASES)
def test_pure_python_parser_gives_the_same_places(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml, each bad YAML file fails at the same place (syntax errors in PyYAML's own words)."""
    monkeypatch.chdir(BAD)
    monkeypatch.setattr(strict_yaml, "_LOADER", strict_yaml._PureLoader)
    monkeypatch.setattr(strict_yaml, "_COUNTS_BYTES", False)
    expected = EXPECTED[case]
    if "invalid YAML:" in expected:
        expected = expected.partition("invalid YAML:")[0]
    with pytest.raises(FileErrors) as caught:
        load_overrides([case])
    assert str(caught.value.problems[0]).startswith(expected)


def test_repeats_on_one_line_are_reported_in_the_order_declared(here: Path) -> None:
    """Repeats that share a line (a flow mapping) keep the order they were written in, not the peaks'."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D2},p2,Ga_417.2\n{D1},p1,Ga_417.2\n{D2},p1,X_1\n")
    write("b.yaml", f"version: 1\noverrides: {{{D2}: {{p2: Ga_417.2, p1: Y_2}}, {D1}: {{p1: Ga_417.2}}}}\n")
    with pytest.raises(FileErrors) as caught:
        load_overrides(["a.csv", "b.yaml"])
    assert [str(problem) for problem in caught.value.problems] == [
        f"b.yaml:2: conflict: {D2}/p1 is Y_2 here and X_1 at a.csv:4"
    ]
    write("b.yaml", f"version: 1\noverrides: {{{D2}: {{p2: Ga_417.2}}, {D1}: {{p1: Ga_417.2}}}}\n")
    again = "is declared again with the same candidate_key (first at a.csv"
    assert [str(warning) for warning in load_overrides(["a.csv", "b.yaml"]).warnings] == [
        f"b.yaml:2: {D2}/p2 {again}:2)",
        f"b.yaml:2: {D1}/p1 {again}:3)",
    ]


def test_ids_and_keys_are_shared_across_the_files_of_a_load(here: Path) -> None:
    """A data_id, peak_id or candidate_key named by many CSV rows, in one file or several, is one string."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n{D1},p2,Ga_417.2\n{D2},p1,In_451.1\n")
    write("b.csv", f"data_id,peak_id,candidate_key\n{D2.upper()},p2,Ga_417.2\n")
    first, second, third, fourth = load_overrides(["a.csv", "b.csv"]).overrides
    assert (first.data_id, second.data_id, third.data_id) == (D2, D2, D1)
    assert first.data_id is second.data_id
    assert first.peak_id is third.peak_id
    assert second.peak_id is fourth.peak_id
    assert second.candidate_key is third.candidate_key is fourth.candidate_key


def test_the_yaml_writer_is_found_lazily_and_nothing_else_is() -> None:
    """`render_yaml` comes from the package as before (imported when first asked for); a name the
    package lacks is an AttributeError still."""
    from reconciler.overrides import render_yaml
    from reconciler.overrides.yaml_format import render_yaml as defined

    assert render_yaml is defined
    with pytest.raises(AttributeError, match="has no attribute 'render_yml'"):
        _ = overrides.render_yml
