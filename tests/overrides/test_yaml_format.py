"""Tests of YAML override files: the schema read with every problem at its line."""

from __future__ import annotations

from pathlib import Path

from reconciler.models import Override
from reconciler.overrides import load_overrides
from tests.overrides.conftest import D1, problems_of, write, yaml_with


def test_short_and_long_peak_forms(here: Path) -> None:
    """`p1: KEY` and `p1: {candidate_key, note}` both give an override at the peak's line."""
    write("a.yaml", yaml_with("p1: Ga_417.2\np2:\n  candidate_key: N2_337.1\n  note: confirmed by XPS\n"))
    assert load_overrides(["a.yaml"]).overrides == (
        Override(D1, "p1", "Ga_417.2", "a.yaml", 4),
        Override(D1, "p2", "N2_337.1", "a.yaml", 5, "confirmed by XPS"),
    )


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


def test_alias_bomb_is_refused_before_any_expansion(here: Path) -> None:
    """A 'billion laughs' file is refused at its first anchor: 10**60 expansions would never finish."""
    lines = ["version: 1", "overrides: {}", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 60)]
    write("bomb.yaml", "\n".join(lines) + "\n")
    assert problems_of("bomb.yaml") == ["bomb.yaml:3: anchors and aliases are not allowed (found '&l0')"]
