"""Tests of CSV override files: columns, rows and what spreadsheets write (delimiters, encodings); written."""

from __future__ import annotations

import codecs
import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import FileErrors
from reconciler.models import Override
from reconciler.overrides import csv_format, load_overrides, render_csv
from reconciler.overrides.rules import Assignment, text_problem
from tests.conftest import Cli

D1 = "d290f1ee-6c54-4b01-90e6-d701748f0851"
D2 = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"
SAVE_AS = 'save the file as UTF-8 (in Excel, Save As "CSV UTF-8 (Comma delimited)")'


def write(name: str, content: str | bytes) -> Path:
    path = Path(name)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def loaded(*paths: str) -> list[tuple[str, str, str, int, str | None]]:
    """(data_id, peak_id, candidate_key, line, note) of every override, in the loader's order."""
    return [(o.data_id, o.peak_id, o.candidate_key, o.line, o.note) for o in load_overrides(paths).overrides]


def problems_of(*paths: str) -> list[str]:
    with pytest.raises(FileErrors) as caught:
        load_overrides(paths)
    return [str(problem) for problem in caught.value.problems]


# --- Columns and rows ---


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


def test_empty_rows_before_the_header_are_skipped(here: Path) -> None:
    """A spreadsheet that saved an empty row (`,,`) above the header: the header is still found."""
    write("a.csv", f",,\ndata_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n")
    assert [(o.peak_id, o.line) for o in load_overrides(["a.csv"]).overrides] == [("p1", 3)]


def test_text_after_a_closing_quote_is_refused_at_its_line(here: Path) -> None:
    """`"p1"x` is no CSV field: refused at its line, in the csv module's words."""
    write("a.csv", f'data_id,peak_id,candidate_key\n{D1},"p1"x,Ga_417.2\n')
    assert problems_of("a.csv") == ["a.csv:2: invalid CSV: ',' expected after '\"'"]


def test_a_long_bad_value_is_shown_cut_short(here: Path) -> None:
    """A 60-character data_id that is no UUID is named by its first 40 characters and an ellipsis."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{'run-' * 15},p1,Ga_417.2\n")
    assert problems_of("a.csv") == [f"a.csv:2: data_id {'run-' * 10!r}… is not a UUID"]


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
        "a.csv:1: unknown column 'peak' (expected data_id, peak_id, candidate_key, wavelength_nm, note)",
        "a.csv:1: duplicate column 'data_id'",
        "a.csv:1: missing column 'peak_id' (the header needs data_id, peak_id, candidate_key)",
        "a.csv:1: missing column 'candidate_key' (the header needs data_id, peak_id, candidate_key)",
    ]


@given(st.text(alphabet='ab,"\r\n'), st.integers(min_value=1, max_value=6))
def test_lines_come_a_chunk_at_a_time_as_one_file_gives_them(text: str, chunk: int) -> None:
    """However the text is cut into chunks, the csv module is handed the lines a file opened with
    newline="" gives: `\r\n`, `\r` and `\n` each end one line, and none is split."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_format, "_CHUNK", chunk)
        assert list(csv_format._lines(text)) == list(io.StringIO(text, newline=""))


def test_a_record_across_chunks_keeps_its_lines(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quoted note spanning lines, read a few characters at a time: the notes, lines and problems of a
    file read whole."""
    rows = f'{D1},p1,Ga_417.2,"one\r\ntwo\rthree"\r\n\r{D1},p2,X_1,\n{D2},"p\n3",In_451.1,x\nbad,p4,K_1,\n'
    write("a.csv", "data_id,peak_id,candidate_key,note\n" + rows)
    with pytest.raises(FileErrors) as caught:
        load_overrides(["a.csv"])
    monkeypatch.setattr(csv_format, "_CHUNK", 5)
    with pytest.raises(FileErrors) as chunked:
        load_overrides(["a.csv"])
    assert [str(problem) for problem in chunked.value.problems] == [str(p) for p in caught.value.problems]
    assert [str(problem) for problem in chunked.value.problems] == [
        "a.csv:7: peak_id 'p\\n3' contains the control character U+000A",
        "a.csv:9: data_id 'bad' is not a UUID",
    ]
    write("a.csv", "data_id,peak_id,candidate_key,note\n" + rows.partition(f"{D2},")[0])
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, "one\r\ntwo\rthree"), (D1, "p2", "X_1", 6, None)]


# --- Header names ---


def test_header_names_in_any_case_and_with_outer_spaces(here: Path) -> None:
    """`Data_ID`, ` PEAK_ID `, `Candidate_Key ` and `Note` name the usual columns."""
    write("a.csv", f"Data_ID, PEAK_ID ,Candidate_Key ,Note\n{D1},p1,Ga_417.2,checked\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, "checked")]


def test_header_names_with_inner_spaces_mean_underscores(here: Path) -> None:
    """`Data ID`, `Peak  ID` and `candidate key`, as typed in a spreadsheet, name data_id, peak_id and
    candidate_key."""
    write("a.csv", f"Data ID,Peak  ID,candidate key\n{D1},p1,Ga_417.2\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, None)]


def test_two_header_cells_naming_one_column_are_a_duplicate(here: Path) -> None:
    """`Peak ID` and `peak_id` in one header are the same column twice: an error naming both cells."""
    write("a.csv", f"data_id,Peak ID,peak_id,candidate_key\n{D1},p1,p1,X_1\n")
    assert problems_of("a.csv") == [
        "a.csv:1: duplicate column 'peak_id': 'Peak ID' before it names 'peak_id' too"
    ]


def test_empty_header_cells_padded_by_a_spreadsheet_are_accepted(here: Path) -> None:
    """Trailing empty columns (`,,`) are read when empty; a value under a column with no name is an error."""
    write(
        "a.csv", f"data_id,peak_id,candidate_key,,\n{D1},p1,Ga_417.2,,\n{D1},p2,X_1, ,\n{D1},p3,X_1,,stray\n"
    )
    assert problems_of("a.csv") == ["a.csv:4: field 5, 'stray', is in a column with no name"]
    write("a.csv", f"data_id,peak_id,candidate_key,,\n{D1},p1,Ga_417.2,,\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, None)]


# --- Delimiters ---


def test_semicolon_delimiter_is_read_from_the_header(here: Path) -> None:
    """A file of Excel in a comma-decimal locale (`;`) is read; a comma inside a note stays in the note."""
    write("a.csv", f"data_id;peak_id;candidate_key;note\n{D1};p1;Ga_417.2;seen at 417,2 nm\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, "seen at 417,2 nm")]


def test_comma_file_with_semicolons_in_its_notes_stays_comma(here: Path) -> None:
    """The header decides: a comma header with `;` in a note is read with commas."""
    write("a.csv", f"data_id,peak_id,candidate_key,note\n{D1},p1,Ga_417.2,XPS; Raman\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, "XPS; Raman")]


def test_tab_delimiter_is_read(here: Path) -> None:
    """A tab-separated file (Excel's "Text (Tab delimited)") is read."""
    write("a.csv", f"data_id\tpeak_id\tcandidate_key\n{D1}\tp1\tGa_417.2\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 2, None)]


def test_semicolon_header_with_comma_rows_names_the_rows(here: Path) -> None:
    """Rows that do not use the header's delimiter fail on their own lines, not silently."""
    write("a.csv", f"data_id;peak_id;candidate_key\n{D1},p1,Ga_417.2\n")
    assert problems_of("a.csv") == [
        "a.csv:2: missing peak_id (the row has 1 fields)",
        "a.csv:2: missing candidate_key (the row has 1 fields)",
    ]


# --- The `sep=` line ---


def test_sep_line_is_honoured_and_line_numbers_stay_physical(here: Path) -> None:
    """`sep=;` is skipped and obeyed; overrides and problems keep the lines of the file as written."""
    write("a.csv", f"sep=;\r\ndata_id;peak_id;candidate_key\r\n{D1};p1;Ga_417.2\r\n\r\nnope;p2;X_1\r\n")
    assert problems_of("a.csv") == ["a.csv:5: data_id 'nope' is not a UUID"]
    write("a.csv", f"sep=;\ndata_id;peak_id;candidate_key\n{D1};p1;Ga_417.2\n{D1};p2;X_1\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 3, None), (D1, "p2", "X_1", 4, None)]


def test_sep_line_with_a_comma_is_honoured(here: Path) -> None:
    """`sep=,` before a comma header reads as usual, a line further down."""
    write("a.csv", f"sep=,\ndata_id,peak_id,candidate_key,note\n{D1},p1,Ga_417.2,a; b\n")
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 3, "a; b")]


def test_sep_line_naming_another_delimiter_than_the_header_uses(here: Path) -> None:
    """`sep=,` above a `;` header is refused naming both delimiters, at the header's line."""
    write("a.csv", f"sep=,\ndata_id;peak_id;candidate_key\n{D1};p1;Ga_417.2\n")
    assert problems_of("a.csv") == [
        "a.csv:2: the header is separated by ';', but the line before it says sep=,"
    ]


@pytest.mark.parametrize("line", ["sep=", "sep=;;", "sep=a", 'sep="'])
def test_sep_line_that_names_no_one_delimiter_is_refused(line: str, here: Path) -> None:
    """A `sep=` line must name exactly one delimiter character (not a letter, not a quote)."""
    write("a.csv", f"{line}\ndata_id;peak_id;candidate_key\n{D1};p1;Ga_417.2\n")
    assert problems_of("a.csv") == [
        f"a.csv:1: the first line {line!r} must name one delimiter (sep=; or sep=,)"
    ]


def test_sep_line_after_a_utf8_byte_order_mark(here: Path) -> None:
    """A BOM before `sep=;` does not hide the line."""
    write("a.csv", codecs.BOM_UTF8 + f"sep=;\ndata_id;peak_id;candidate_key\n{D1};p1;Ga_417.2\n".encode())
    assert loaded("a.csv") == [(D1, "p1", "Ga_417.2", 3, None)]


# --- Encodings ---


UNICODE_TEXT = (
    f"data_id\tpeak_id\tcandidate_key\tnote\r\n{D1}\tp1\tGa_417.2\tCécile's\r\n{D2}\tp2\tIn_451.1\t\r\n"
)


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(codecs.BOM_UTF16_LE + UNICODE_TEXT.encode("utf-16-le"), id="utf-16-le"),
        pytest.param(codecs.BOM_UTF16_BE + UNICODE_TEXT.encode("utf-16-be"), id="utf-16-be"),
        pytest.param(UNICODE_TEXT.encode("utf-16"), id="utf-16-native"),
        pytest.param(UNICODE_TEXT.encode("utf-32"), id="utf-32"),
    ],
)
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(encoded: bytes, here: Path) -> None:
    """Excel's "Unicode Text" (UTF-16 with a BOM, tabs) is read, either byte order; so is UTF-32 with one."""
    write("a.csv", encoded)
    assert loaded("a.csv") == [(D2, "p2", "In_451.1", 3, None), (D1, "p1", "Ga_417.2", 2, "Cécile's")]


def test_utf16_problems_carry_the_physical_line(here: Path) -> None:
    """A bad row of a UTF-16 file is named at its line, as in a UTF-8 file."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n\nnope,p2,X_1\n".encode("utf-16"))
    assert problems_of("a.csv") == ["a.csv:4: data_id 'nope' is not a UUID"]


def test_broken_utf16_after_its_byte_order_mark_is_refused_at_its_line(here: Path) -> None:
    """A lone surrogate in a UTF-16 file is refused, naming the encoding and the line."""
    head = f"data_id,peak_id,candidate_key\n{D1},p1,".encode("utf-16-le")
    write("a.csv", codecs.BOM_UTF16_LE + head + b"\x00\xd8" + "x\n".encode("utf-16-le"))
    assert problems_of("a.csv") == [
        "a.csv:2: not valid UTF-16 (byte 0x00), though it starts with a UTF-16 byte-order mark"
    ]


def test_yaml_in_utf16_with_a_byte_order_mark_is_read(here: Path) -> None:
    """A YAML file saved as UTF-16 with a BOM (legal YAML) is read, lines intact."""
    text = f"version: 1\noverrides:\n  {D1}:\n    p1: Ga_417.2\n    p2: 417.2\n"
    write("a.yaml", text.encode("utf-16"))
    assert problems_of("a.yaml") == [
        "a.yaml:5: candidate_key 417.2 is read by YAML as a number; quote it: '417.2'"
    ]
    write("a.yaml", codecs.BOM_UTF16_BE + text.replace("417.2\n", "'417.2'\n").encode("utf-16-be"))
    assert [o.line for o in load_overrides(["a.yaml"]).overrides] == [4, 5]


@pytest.mark.parametrize(
    ("codec", "found"),
    [
        ("utf-16-le", "UTF-16 (little-endian)"),
        ("utf-16-be", "UTF-16 (big-endian)"),
        ("utf-32-le", "UTF-32 (little-endian)"),
        ("utf-32-be", "UTF-32 (big-endian)"),
    ],
)
def test_utf16_and_utf32_without_a_byte_order_mark_are_refused(codec: str, found: str, here: Path) -> None:
    """UTF-16/32 without a BOM (valid UTF-8 bytes full of NULs) is refused, naming what it looks like."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n".encode(codec))
    write("b.yaml", "version: 1\noverrides: {}\n".encode(codec))
    assert problems_of("a.csv", "b.yaml") == [
        f"a.csv: looks like {found} without a byte-order mark; {SAVE_AS}",
        f"b.yaml: looks like {found} without a byte-order mark; save the file as UTF-8",
    ]


def test_windows_1252_is_refused_naming_the_byte_its_character_and_line(here: Path) -> None:
    """Excel's plain "CSV (Comma delimited)" on Windows writes cp1252: refused at the line of the first
    non-UTF-8 byte, naming it and what it is in Windows-1252, with the format to save as."""
    write(
        "a.csv",
        f"data_id,peak_id,candidate_key,note\n{D1},p1,Ga_417.2,\n{D2},p2,X_1,Cécile\n".encode("cp1252"),
    )
    assert problems_of("a.csv") == [f"a.csv:3: not valid UTF-8 (byte 0xe9, 'é' in Windows-1252); {SAVE_AS}"]


def test_a_byte_windows_1252_leaves_undefined_is_named_alone(here: Path) -> None:
    """A byte that is neither UTF-8 nor a Windows-1252 character (0x81): named, with no character guessed."""
    write("a.csv", b"data_id,peak_id,candidate_key\n" + D1.encode() + b",p1,Ga\x81417.2\n")
    assert problems_of("a.csv") == [f"a.csv:2: not valid UTF-8 (byte 0x81); {SAVE_AS}"]


def test_workbook_renamed_to_csv_is_refused_as_a_workbook(here: Path) -> None:
    """An .xlsx (a zip archive) or an old .xls saved under a .csv name is named for what it is."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    write("a.csv", archive.getvalue())
    write("b.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert problems_of("a.csv", "b.csv") == [
        f"a.csv: is a zip archive (an Excel .xlsx workbook?), not text; {SAVE_AS}",
        f"b.csv: is an Office document (an Excel .xls workbook?), not text; {SAVE_AS}",
    ]


# --- Through the CLI ---


def test_validate_reads_what_excel_writes(here: Path, cli: Cli) -> None:
    """`validate` accepts a `sep=;` file, a `;` file with odd header case and a UTF-16 "Unicode Text" file."""
    write("a.csv", f"sep=;\nData_ID;Peak ID;Candidate_Key\n{D1};p3;Ga_417.2\n")
    write("b.csv", f"DATA_ID;PEAK_ID;CANDIDATE_KEY;NOTE\n{D1};p2;X_1;417,2\n")
    write("c.csv", UNICODE_TEXT.encode("utf-16"))
    ran = cli("validate", "a.csv", "b.csv", "c.csv")
    assert (ran.code, ran.out, ran.err) == (0, "Valid: 4 overrides for 2 data entries in 3 files.\n", "")
    sources = [o.source for o in load_overrides(["a.csv", "b.csv", "c.csv"]).overrides]
    assert sources == ["c.csv:3", "c.csv:2", "b.csv:2", "a.csv:3"]


def test_validate_refuses_what_it_cannot_read_naming_the_encoding(here: Path, cli: Cli) -> None:
    """`validate` of a BOM-less UTF-16 file and a cp1252 file: exit 1, each named with what was found."""
    write("a.csv", f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n".encode("utf-16-le"))
    write("b.csv", f"data_id,peak_id,candidate_key,note\n{D1},p2,X_1,±0.1 nm\n".encode("cp1252"))
    ran = cli("validate", "a.csv", "b.csv")
    assert ran.code == 1
    assert ran.err.splitlines() == [
        f"error: a.csv: looks like UTF-16 (little-endian) without a byte-order mark; {SAVE_AS}",
        f"error: b.csv:2: not valid UTF-8 (byte 0xb1, '±' in Windows-1252); {SAVE_AS}",
        "InputError: 2 errors in override files; nothing was sent.",
    ]


# --- Writing ---


def test_written_csv_has_the_header_sorted_rows_and_newline_endings(here: Path) -> None:
    """The header names the five columns; rows come sorted by data_id and peak_id, each ending in `\\n`."""
    text = render_csv({D1: {"p2": "N2_337.1", "p1": "Ga_417.2"}, D2: {"p1": "In_451.1"}})
    assert text == (
        f"data_id,peak_id,candidate_key,wavelength_nm,note\n"
        f"{D2},p1,In_451.1,,\n{D1},p1,Ga_417.2,,\n{D1},p2,N2_337.1,,\n"
    )
    write("a.csv", text)
    assert [(o.peak_id, o.line) for o in load_overrides(["a.csv"]).overrides] == [
        ("p1", 2),
        ("p1", 3),
        ("p2", 4),
    ]


def test_nothing_to_write_is_a_header_that_loads(here: Path) -> None:
    """No assignments: the header alone, a valid file of zero overrides."""
    write("a.csv", render_csv({}))
    assert loaded("a.csv") == []


def test_delimiters_and_quotes_in_ids_are_quoted(here: Path) -> None:
    """An id holding a comma, a quote or a semicolon is quoted and reads back unchanged."""
    text = render_csv({D1: {"a,b": 'say "x"', "c;d": "e"}})
    assert f'{D1},"a,b","say ""x""",,\n' in text
    write("a.csv", text)
    assert [(o.peak_id, o.candidate_key) for o in load_overrides(["a.csv"]).overrides] == [
        ("a,b", 'say "x"'),
        ("c;d", "e"),
    ]


_ACCEPTED = st.text(min_size=1, max_size=128).filter(
    lambda text: text_problem("id", text) is None and text == text.strip()
)


@given(st.dictionaries(_ACCEPTED, _ACCEPTED, max_size=4))
def test_any_accepted_id_reads_back_unchanged(peaks: dict[str, str]) -> None:
    """Every peak_id and candidate_key the loader accepts reads back unchanged from a written CSV."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "exported.csv")
        path.write_text(render_csv({D1: peaks} if peaks else {}), encoding="utf-8")
        assert {o.peak_id: o.candidate_key for o in load_overrides([path]).overrides} == peaks


# --- wavelength_nm ---


def test_wavelength_column_is_optional_and_an_empty_cell_is_none(here: Path) -> None:
    """`wavelength_nm` is read where given (as a number, spaces around it dropped); empty means unknown."""
    write("a.csv", f"data_id,peak_id,candidate_key,wavelength_nm\n{D1},p1,Ga_417.2, 417.21 \n{D1},p2,X_1,\n")
    assert [(o.peak_id, o.wavelength_nm) for o in load_overrides(["a.csv"]).overrides] == [
        ("p1", 417.21),
        ("p2", None),
    ]
    write("b.csv", f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n")
    assert load_overrides(["b.csv"]).overrides[0].wavelength_nm is None


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("about 417", "wavelength_nm 'about 417' is not a number"),
        ("nan", "wavelength_nm 'nan' is not a number"),
        ("0x1A", "wavelength_nm '0x1A' is not a number"),
        (
            '"417,21"',
            "wavelength_nm '417,21' is not a number (write the decimal separator as a point: 417.21)",
        ),
        ("0", "wavelength_nm must be above 0 and below 100000 (nm), got 0"),
        ("-3.5", "wavelength_nm must be above 0 and below 100000 (nm), got -3.5"),
        ("1e9", "wavelength_nm must be above 0 and below 100000 (nm), got 1e9"),
        ("1e999", "wavelength_nm must be above 0 and below 100000 (nm), got 1e999"),
    ],
)
def test_a_wavelength_that_is_not_a_number_is_an_error_naming_line_and_value(
    here: Path, cell: str, message: str
) -> None:
    """A cell that is no decimal number, or no place for a peak, is an error at its physical line."""
    write(
        "a.csv", f"data_id,peak_id,candidate_key,wavelength_nm\n{D1},p1,Ga_417.2,417.2\n{D1},p2,X_1,{cell}\n"
    )
    assert problems_of("a.csv") == [f"a.csv:3: {message}"]


def test_written_wavelengths_and_notes_read_back_exactly(here: Path) -> None:
    """Wavelengths are written in the shortest exact form (never exponent), notes as given; both read back."""
    peaks: dict[str, str | Assignment] = {
        "p1": Assignment("Ga_417.2", 417.21000000000004, "by XPS, twice"),
        "p2": Assignment("N2_337.1", 1e-05),
        "p3": "X_1",
    }
    text = render_csv({D1: peaks})
    assert text.splitlines()[1:] == [
        f'{D1},p1,Ga_417.2,417.21000000000004,"by XPS, twice"',
        f"{D1},p2,N2_337.1,0.00001,",
        f"{D1},p3,X_1,,",
    ]
    write("a.csv", text)
    assert [(o.wavelength_nm, o.note) for o in load_overrides(["a.csv"]).overrides] == [
        (417.21000000000004, "by XPS, twice"),
        (1e-05, None),
        (None, None),
    ]


@given(st.floats(min_value=0, max_value=100_000, exclude_min=True, exclude_max=True))
def test_any_wavelength_reads_back_as_the_same_float(wavelength: float) -> None:
    """Every wavelength the loader accepts is written so that it reads back bit for bit."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "exported.csv")
        path.write_text(render_csv({D1: {"p1": Assignment("Ga_417.2", wavelength)}}), encoding="utf-8")
        assert load_overrides([path]).overrides[0].wavelength_nm == wavelength
