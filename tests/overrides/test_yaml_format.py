"""Tests of YAML override files: the schema read with every problem at its line; and files written."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from yaml.events import ScalarEvent
from yaml.resolver import Resolver

from reconciler.models import Override
from reconciler.overrides import load_overrides, render_yaml, strict_yaml, yaml_format
from reconciler.overrides.rules import Assignment, text_problem
from tests.overrides.conftest import D1, D2, problems_of, write, yaml_with

# The emitters a file may be written with: libyaml's where PyYAML has it, and PyYAML's own everywhere.
EMITTERS = [yaml.SafeDumper] + ([yaml_format._DUMPER] if yaml.__with_libyaml__ else [])


@pytest.fixture(params=EMITTERS, ids=lambda dumper: dumper.__name__)
def emitter(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test using it runs once with each emitter the writer may use."""
    with mock.patch.object(yaml_format, "_DUMPER", request.param):
        yield


def read_back(text: str) -> dict[str, str]:
    """The peaks of a written file, as the loader reads them: peak_id -> candidate_key."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "exported.yaml")
        path.write_text(text, encoding="utf-8")
        return {override.peak_id: override.candidate_key for override in load_overrides([path]).overrides}


# --- Reading ---


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
        "a.yaml:6: unknown key 'candidate' (expected candidate_key, wavelength_nm, note)",
        "a.yaml:7: peak 'p2' must be a candidate_key or a mapping with candidate_key, got a list",
        "a.yaml:8: peak_id 0x1f is read by YAML as a number; quote it: '0x1f'",
    ]


@pytest.fixture(params=["libyaml", "pure"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test using it runs with libyaml's parser (where PyYAML has it) and with PyYAML's own."""
    if request.param == "pure":
        monkeypatch.setattr(strict_yaml, "_LOADER", strict_yaml._PureLoader)
        monkeypatch.setattr(strict_yaml, "_COUNTS_BYTES", False)


def test_plain_data_tags_mean_what_they_say(here: Path, parser: None) -> None:
    """`!!str 417.2` is text; `!!int 5` is a number even as a candidate_key; `!!str` on version is text."""
    write("a.yaml", yaml_with("p1: !!str 417.2\np2: !!int 5\n"))
    write("b.yaml", "version: !!str 1\noverrides: {}\n")
    write("c.yaml", yaml_with("p1: !!str 417.2\n"))
    assert problems_of("a.yaml", "b.yaml") == [
        "a.yaml:5: candidate_key 5 is read by YAML as a number; quote it: '5'",
        "b.yaml:1: version must be 1, got the text '1' (write it without quotes)",
    ]
    assert [o.candidate_key for o in load_overrides(["c.yaml"]).overrides] == ["417.2"]


def test_nesting_up_to_the_limit_is_read_and_one_level_more_refused(here: Path, parser: None) -> None:
    """Nodes 16 levels down are read (and named for what they are); the 17th level is refused at its line."""
    limit = strict_yaml.MAX_DEPTH - 3  # the peak's value sits 3 levels down: document, overrides, entry
    write("a.yaml", yaml_with(f"p1: {'[' * limit}{']' * limit}\n"))
    write("b.yaml", yaml_with(f"p1: {'[' * (limit + 1)}{']' * (limit + 1)}\n"))
    assert problems_of("a.yaml", "b.yaml") == [
        "a.yaml:4: peak 'p1' must be a candidate_key or a mapping with candidate_key, got a list",
        "b.yaml:4: nesting is too deep (more than 16 levels)",
    ]


def test_what_is_skipped_is_still_checked(here: Path, parser: None) -> None:
    """A value read no further (an unknown key's, a list key's) is still refused for an anchor inside it."""
    write("a.yaml", "version: 1\nextra: [a, {b: [c]}]\noverrides: {}\n")
    write("b.yaml", "version: 1\nextra: [a, {b: [&x c]}]\noverrides: {}\n")
    write("c.yaml", yaml_with("? [a, [b]]\n: {c: [d]}\np1: X_1\n"))
    assert problems_of("a.yaml", "b.yaml", "c.yaml") == [
        "a.yaml:2: unknown key 'extra' (expected version, overrides)",
        "b.yaml:2: anchors and aliases are not allowed (found '&x')",
        "c.yaml:4: peak_id must be a string, got a list",
    ]


def test_a_million_overrides_share_their_strings(here: Path, parser: None) -> None:
    """Peak ids and candidate keys that repeat are one string each, and so is each entry's data_id."""
    write("a.yaml", yaml_with("p1: Ga_417.2\np2: Ga_417.2\n") + f"  {D2}:\n    p1: Ga_417.2\n")
    other, first, second = load_overrides(["a.yaml"]).overrides  # sorted: D2 before D1
    assert (first.peak_id, other.peak_id) == ("p1", "p1")
    assert first.peak_id is other.peak_id
    assert first.candidate_key is second.candidate_key is other.candidate_key
    assert first.data_id is second.data_id
    assert first.data_id is not other.data_id


def test_ids_beyond_those_remembered_are_read_alike(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the ids remembered, each id is still checked and resolved: `1.5` a number, `p3` text."""
    monkeypatch.setattr(strict_yaml, "_MAX_REMEMBERED", 1)
    write("a.yaml", yaml_with('1a: K_1\n2b: K_2\np3: K_3\n1.5: K_4\np5: "\\x01"\n'))
    assert problems_of("a.yaml") == [
        "a.yaml:7: peak_id 1.5 is read by YAML as a number; quote it: '1.5'",
        "a.yaml:8: candidate_key '\\x01' contains the control character U+0001",
    ]
    write("b.yaml", yaml_with("1a: K_1\n2b: K_2\np3: K_3\n"))
    assert [o.peak_id for o in load_overrides(["b.yaml"]).overrides] == ["1a", "2b", "p3"]


def test_a_resolver_for_any_first_character_is_heard(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A YAML implicit resolver registered for any first character is consulted for every plain scalar."""
    resolvers = {**Resolver.yaml_implicit_resolvers, None: [("tag:yaml.org,2002:int", re.compile("^p"))]}
    monkeypatch.setattr(Resolver, "yaml_implicit_resolvers", resolvers)
    write("a.yaml", yaml_with("p1: Ga_417.2\n"))
    assert problems_of("a.yaml") == ["a.yaml:4: peak_id p1 is read by YAML as a number; quote it: 'p1'"]


def test_alias_bomb_is_refused_before_any_expansion(here: Path) -> None:
    """A 'billion laughs' file is refused at its first anchor: 10**60 expansions would never finish."""
    lines = ["version: 1", "overrides: {}", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 60)]
    write("bomb.yaml", "\n".join(lines) + "\n")
    assert problems_of("bomb.yaml") == ["bomb.yaml:3: anchors and aliases are not allowed (found '&l0')"]


def test_a_value_starting_with_a_star_is_an_alias_and_refused(here: Path) -> None:
    """`p1: *Ga` is a YAML alias, not text: refused at its line, naming it (quote it to mean the text)."""
    write("a.yaml", yaml_with("p1: *Ga\n"))
    assert problems_of("a.yaml") == ["a.yaml:4: anchors and aliases are not allowed (found '*Ga')"]


def test_a_candidate_key_indented_one_level_too_deep_names_what_it_got(here: Path) -> None:
    """A candidate_key that YAML reads as a list or a mapping is refused at its line, saying which."""
    peaks = """\
        p1:
          candidate_key: [Ga_417.2]
        p2:
          candidate_key:
            Ga_417.2: yes
    """
    write("a.yaml", yaml_with(peaks))
    assert problems_of("a.yaml") == [
        "a.yaml:5: candidate_key must be a string, got a list",
        "a.yaml:8: candidate_key must be a string, got a mapping",
    ]


def test_an_entry_without_peaks_yet_is_no_override(here: Path) -> None:
    """A data_id written with nothing under it (peaks to come) is accepted and adds nothing."""
    write("a.yaml", f"version: 1\noverrides:\n  {D1}:\n  {D2}:\n    p1: Ga_417.2\n")
    assert [(o.data_id, o.peak_id) for o in load_overrides(["a.yaml"]).overrides] == [(D2, "p1")]


# --- Writing ---


def test_written_file_reads_as_a_person_would_write_it(emitter: None) -> None:
    """UUIDs and plain ids are written bare, comments first, two spaces a level, no folding."""
    assignments = {D1: {"p2": "N2_337.1", "p1": "Ga_417.2"}, D2: {"p1": "In_451.1"}}
    assert render_yaml(assignments, comments=["Manual peak assignments", "second line"]) == (
        "# Manual peak assignments\n"
        "# second line\n"
        "version: 1\n"
        "overrides:\n"
        f"  {D2}:\n"
        "    p1: In_451.1\n"
        f"  {D1}:\n"
        "    p1: Ga_417.2\n"
        "    p2: N2_337.1\n"
    )


def test_nothing_to_write_is_an_empty_mapping_that_loads(emitter: None) -> None:
    """No assignments: `overrides: {}`, a valid file of zero overrides."""
    text = render_yaml({})
    assert text == "version: 1\noverrides: {}\n"
    assert read_back(text) == {}


def test_output_is_sorted_whatever_the_order_given(emitter: None) -> None:
    """The same assignments in another order give the same bytes: re-exports never show a diff."""
    peaks = {f"p{n}": f"Ga_{n}" for n in (3, 1, 2)}
    first = render_yaml({D1: peaks, D2: {"x": "y_1"}})
    again = render_yaml({D2: {"x": "y_1"}, D1: dict(reversed(peaks.items()))})
    assert first == again
    assert first.index("p1:") < first.index("p2:") < first.index("p3:")


@pytest.mark.parametrize(
    "value",
    [
        "p 1",
        "1",
        "417.2",
        "yes",
        "y",
        "N",
        "null",
        "Null",
        "~",
        "0x1A",
        "1e3",
        ".inf",
        "2024-01-15",
        "<<",
        "=",
    ],
)
def test_text_yaml_would_read_otherwise_is_double_quoted(value: str, emitter: None) -> None:
    """A peak_id or key YAML (1.1 or 1.2) could read as a number, boolean, date or null is double-quoted."""
    text = render_yaml({D1: {value: value}})
    assert text.endswith(f'    "{value}": "{value}"\n')
    assert read_back(text) == {value: value}


@pytest.mark.parametrize(
    "value",
    [
        "line\u2028break",
        "para\u2029graph",
        "no\u00a0break",
        "emoji \U0001f600",
        'say "x"',
        "back\\slash",
        "a: b",
        "# not a comment",
        "- dash",
        "? key",
        "'single'",
        "p" * 128,
        "\U0001d4e3" * 128,
    ],
)
def test_odd_characters_read_back_unchanged(value: str, emitter: None) -> None:
    """Separators, quotes, indicators, characters outside the BMP and ids of the longest length round-trip."""
    text = render_yaml({D1: {value: value}})
    assert "\u2028" not in text
    assert "\u2029" not in text
    assert read_back(text) == {value: value}


def test_written_ids_read_back_without_libyaml(monkeypatch: pytest.MonkeyPatch, emitter: None) -> None:
    """A file written here reads back the same with PyYAML's pure-Python parser."""
    monkeypatch.setattr(strict_yaml, "_LOADER", strict_yaml._PureLoader)
    monkeypatch.setattr(strict_yaml, "_COUNTS_BYTES", False)
    peaks = {"yes": "1e3", "line\u2028break": "emoji \U0001f600", "p" * 128: "\U0001d4e3" * 128}
    assert read_back(render_yaml({D1: peaks})) == peaks


def test_comment_lines_never_break_the_file() -> None:
    """A comment holding line breaks is written as several `#` lines; the file still loads."""
    text = render_yaml({D1: {"p1": "Ga_417.2"}}, comments=["from http://x\nversion: 2", ""])
    assert text.startswith("# from http://x\n# version: 2\n#\nversion: 1\n")
    assert read_back(text) == {"p1": "Ga_417.2"}


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=4))
def test_any_text_survives_the_yaml_layer(peaks: dict[str, str]) -> None:
    """Control characters, line breaks and BOMs too: the strict reader gets back every string written.

    (The loader then refuses such ids by its rules; what matters here is that the YAML is never wrong.)
    """
    for dumper in EMITTERS:
        with mock.patch.object(yaml_format, "_DUMPER", dumper):
            stream = strict_yaml.events(render_yaml({D1: peaks}))
        written = [text for pair in sorted(peaks.items()) for text in pair]
        assert [event.value for event in stream if isinstance(event, ScalarEvent)] == [
            "version",
            "1",
            "overrides",
            D1,
            *written,
        ]


_ACCEPTED = st.text(min_size=1, max_size=128).filter(
    lambda text: text_problem("id", text) is None and text == text.strip()
)


@given(st.dictionaries(_ACCEPTED, _ACCEPTED, max_size=4))
def test_any_accepted_id_reads_back_unchanged(peaks: dict[str, str]) -> None:
    """Every peak_id and candidate_key the loader accepts reads back unchanged, whichever the emitter."""
    for dumper in EMITTERS:
        with mock.patch.object(yaml_format, "_DUMPER", dumper):
            assert read_back(render_yaml({D1: peaks} if peaks else {})) == peaks


# --- wavelength_nm ---


def test_long_form_takes_a_wavelength_as_an_int_or_a_float(here: Path) -> None:
    """`wavelength_nm` in the long form is a number: YAML's int or float, in decimal notation."""
    write(
        "a.yaml",
        yaml_with(
            "p1: {candidate_key: Ga_417.2, wavelength_nm: 417.21}\n"
            "p2:\n  candidate_key: N2_337.1\n  wavelength_nm: 337\n  note: by XPS\n"
            "p3: {candidate_key: X_1, wavelength_nm: 4.1e+2}\n"
        ),
    )
    assert [(o.peak_id, o.wavelength_nm, o.note) for o in load_overrides(["a.yaml"]).overrides] == [
        ("p1", 417.21, None),
        ("p2", 337.0, "by XPS"),
        ("p3", 410.0, None),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"417.21"', "got the text '417.21' (write it without quotes)"),
        ("' 417 '", "got the text ' 417 ' (write it without quotes)"),
        ("about 417", "got the text 'about 417'"),
        ("", "got nothing (leave wavelength_nm out when it is not known)"),
        ("null", "got null (leave wavelength_nm out when it is not known)"),
        ("yes", "got yes"),
        (".inf", "got .inf"),
        (".nan", "got .nan"),
        ("0x1A0", "got 0x1A0"),
        ("1:30", "got 1:30"),
        ("[417.2]", "got a list"),
    ],
)
def test_a_wavelength_that_is_not_a_decimal_number_is_refused(here: Path, value: str, message: str) -> None:
    """Text (quoted numbers suggest unquoting), null, booleans, hex, sexagesimal, infinities: all refused."""
    write("a.yaml", yaml_with(f"p1:\n  candidate_key: Ga_417.2\n  wavelength_nm: {value}\n"))
    assert problems_of("a.yaml") == [
        f"a.yaml:6: wavelength_nm must be a number of nm such as 417.21, {message}"
    ]


@pytest.mark.parametrize("value", ["0", "0.0", "-417.21", "100000", "1.0e+999"])
def test_a_wavelength_no_peak_can_have_is_refused(here: Path, value: str) -> None:
    """Zero, negative, 100000 nm and beyond (a float YAML reads as infinite too): refused, value named."""
    write("a.yaml", yaml_with(f"p1: {{candidate_key: Ga_417.2, wavelength_nm: {value}}}\n"))
    expected = f"a.yaml:4: wavelength_nm must be above 0 and below 100000 (nm), got {value}"
    assert problems_of("a.yaml") == [expected]


def test_wavelengths_and_notes_are_written_in_the_long_form_on_one_line(emitter: None) -> None:
    """A peak with a wavelength (or note) is written `{candidate_key: …, wavelength_nm: …}`; reads back."""
    peaks: dict[str, str | Assignment] = {
        "p1": Assignment("Ga_417.2", 417.21),
        "p2": Assignment("N2_337.1", 337.0, "reverts run 12"),
        "p3": "X_1",
        "p4": Assignment("Y_2"),
        "p5": Assignment("Z_3", 1e-05),
    }
    text = render_yaml({D1: peaks})
    assert text.splitlines()[3:] == [
        "    p1: {candidate_key: Ga_417.2, wavelength_nm: 417.21}",
        '    p2: {candidate_key: N2_337.1, wavelength_nm: 337.0, note: "reverts run 12"}',
        "    p3: X_1",
        "    p4: Y_2",
        "    p5: {candidate_key: Z_3, wavelength_nm: 0.00001}",
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "exported.yaml")
        path.write_text(text, encoding="utf-8")
        read = [(o.candidate_key, o.wavelength_nm, o.note) for o in load_overrides([path]).overrides]
    assert read == [
        ("Ga_417.2", 417.21, None),
        ("N2_337.1", 337.0, "reverts run 12"),
        ("X_1", None, None),
        ("Y_2", None, None),
        ("Z_3", 1e-05, None),
    ]


@given(st.floats(min_value=0, max_value=100_000, exclude_min=True, exclude_max=True))
def test_any_wavelength_reads_back_as_the_same_float(wavelength: float) -> None:
    """Every wavelength the loader accepts is written as a YAML float that reads back bit for bit."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "exported.yaml")
        path.write_text(render_yaml({D1: {"p1": Assignment("Ga_417.2", wavelength)}}), encoding="utf-8")
        assert load_overrides([path]).overrides[0].wavelength_nm == wavelength


# --- The candidates beside each peak ---

HOSTILE_KEYS = [
    "# not a comment",
    "line\nbreak: x",
    "cr\rreturn",
    "next\x85line",
    "sep\u2028arator\u2029",
    'say "x", y',
    "back\\slash\\",
    "bell\x07 del\x7f c1\x9b",
    "bidi \u202eesrever\u2066",
    "\ufeffbom",
    "emoji \U0001f600",
    "",
]


def candidates_of(line: str) -> str:
    return line.partition("  # candidates: ")[2]


def test_candidates_are_a_comment_beside_each_peak(emitter: None) -> None:
    """A peak whose candidates are known gets `# candidates: …` on its line; one without gets none."""
    peaks: dict[str, str | Assignment] = {
        "p1": Assignment("Ga_417.2", 416.9, candidates=("Ga_417.2", "In_451.1")),
        "p2": Assignment("N2_337.1", candidates=("N2_337.1",)),
        "p3": "Al_396.2",
    }
    assert render_yaml({D1: peaks}).endswith(
        f"  {D1}:\n"
        "    p1: {candidate_key: Ga_417.2, wavelength_nm: 416.9}  # candidates: Ga_417.2, In_451.1\n"
        "    p2: N2_337.1  # candidates: N2_337.1\n"
        "    p3: Al_396.2\n"
    )


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_candidate_keys_never_break_the_file(key: str, emitter: None) -> None:
    """Keys holding `#`, line breaks of every kind, quotes, controls or bidi overrides stay inside their
    comment, escaped: the file has its lines, reads back unchanged, and the key shows as JSON would."""
    hostile = ("Ga_417.2", key, "In_451.1")
    peaks = {
        "p1": Assignment("Ga_417.2", 417.2, note="a # note", candidates=hostile),
        "p 2": Assignment("yes", candidates=hostile),
    }
    plain: dict[str, str | Assignment] = {
        peak_id: Assignment(value.candidate_key, value.wavelength_nm, value.note)
        for peak_id, value in peaks.items()
    }
    text = render_yaml({D1: peaks})
    without = render_yaml({D1: plain})
    assert read_back(text) == read_back(without)
    lines, plain_lines = text.split("\n"), without.split("\n")
    assert len(lines) == len(plain_lines)
    for line, plain_line in zip(lines, plain_lines, strict=True):
        assert line.startswith(plain_line)
        if plain_line.startswith("    "):
            assert candidates_of(line) == candidates_of(lines[4])
    shown = candidates_of(text.split("\n")[4])
    assert shown.startswith("Ga_417.2, ")
    assert shown.endswith(", In_451.1")
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]", shown)
    middle = shown.removeprefix("Ga_417.2, ").removesuffix(", In_451.1")
    assert json.loads(middle) == key  # the escapes are JSON's (\u for what JSON leaves raw)
    # The pure-Python reader, which refuses what is not printable anywhere in a file, reads it too.
    assert yaml.load(text, Loader=yaml.SafeLoader)["overrides"][D1]["p 2"] == "yes"


def test_a_long_list_of_candidates_is_summed_up(emitter: None) -> None:
    """Beyond 20 candidates the comment names 20 and counts the rest; repeats are shown once."""
    keys = (*[f"Ga_{400 + n}.0" for n in range(25)], "Ga_400.0")
    line = render_yaml({D1: {"p1": Assignment("Ga_400.0", candidates=keys)}}).split("\n")[-2]
    assert candidates_of(line) == ", ".join(keys[:20]) + ", … 5 more"


def test_candidates_keep_the_output_byte_stable(emitter: None) -> None:
    """The same assignments in another order give the same bytes, comments included."""
    peaks = {f"p{n}": Assignment(f"Ga_{n}", candidates=(f"Ga_{n}", "In_451.1")) for n in (3, 1, 2)}
    first = render_yaml({D1: peaks, D2: {"x": "y_1"}})
    assert first == render_yaml({D2: {"x": "y_1"}, D1: dict(reversed(peaks.items()))})
    assert first.count("# candidates:") == 3
