"""The incremental reader of an answer's top-level fields: any chunk split, the same fields as json.loads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.fields import MAX_DEPTH, FieldReader, NotAnObject

WANTED = ("detected_peaks", "last_updated", "wavelengths", 'k"ey', "ü")

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(WANTED) | st.text(max_size=6)
documents = st.dictionaries(keys, values, max_size=6)


def read(body: bytes, cuts: list[int] | None = None, wanted: tuple[str, ...] = WANTED) -> dict[str, bytes]:
    """The kept fields of `body` fed in pieces cut at `cuts` (sorted offsets)."""
    reader = FieldReader(wanted)
    start = 0
    for cut in [*(cuts or []), len(body)]:
        reader.feed(body[start:cut])
        start = cut
    return reader.finish()


def split(body: bytes, data: st.DataObject) -> list[int]:
    """Random chunk boundaries, often one byte apart (every escape and bracket is cut somewhere)."""
    if not body:
        return []
    return sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))


@settings(max_examples=300)
@given(doc=documents, data=st.data(), ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_any_split_keeps_the_wanted_fields_as_json_loads_reads_them(
    doc: dict[str, Any], data: st.DataObject, ascii_only: bool, indent: int | None
) -> None:
    """Random documents, random chunk boundaries: each kept field's text parses to json.loads's value."""
    body = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode()
    kept = read(body, split(body, data))
    assert set(kept) == {key for key in doc if key in WANTED}
    for key, raw in kept.items():
        assert json.loads(raw) == doc[key]


def test_one_byte_chunks_read_escapes_and_nesting() -> None:
    """Fed a byte at a time, escaped quotes and backslashes, nested brackets and braces are followed."""
    doc = {"skip": ['a\\"]}', {"x": [[], {}]}], "detected_peaks": [{"peak_id": 'p\\1"'}], "z": "}"}
    body = json.dumps(doc).encode()
    kept = read(body, list(range(1, len(body))))
    assert kept == {"detected_peaks": json.dumps(doc["detected_peaks"]).encode()}


def test_an_escaped_key_is_matched_by_its_meaning() -> None:
    """A key written with escapes (`\\u00fc`) is the key it means."""
    assert read(b'{"\\u00fc": 1, "k\\"ey": [2]}') == {"ü": b"1", 'k"ey': b"[2]"}


def test_the_last_of_a_repeated_key_wins() -> None:
    """As json.loads (and pydantic) do, a key given twice keeps its last value."""
    assert read(b'{"last_updated": "a", "last_updated": "b"}') == {"last_updated": b'"b"'}


MALFORMED = [
    (b"", "Invalid JSON: EOF while parsing a value at line 1 column 0"),
    (b"   ", "Invalid JSON: EOF while parsing a value at line 1 column 3"),
    (b"\x00\xffgarbage", "Invalid JSON: expected value at line 1 column 1"),
    (b"[1]", "Input should be an object"),
    (b'"x"', "Input should be an object"),
    (b'{"detected_peaks": [', "Invalid JSON: EOF while parsing a list at line 1 column 20"),
    (b'{"a":1', "Invalid JSON: EOF while parsing an object at line 1 column 6"),
    (b'{"a":"x', "Invalid JSON: EOF while parsing a string at line 1 column 7"),
    (b'{"a', "Invalid JSON: EOF while parsing a string at line 1 column 3"),
    (b'{"a":1} x', "Invalid JSON: trailing characters at line 1 column 9"),
    (b'{"a" 1}', "Invalid JSON: expected `:` at line 1 column 6"),
    (b'{"a":1,}', "Invalid JSON: trailing comma at line 1 column 8"),
    (b'{"a":[1}]}', "Invalid JSON: expected `,` or `]` at line 1 column 8"),
    (b'{"a":{"b":1]}', "Invalid JSON: expected `,` or `}` at line 1 column 12"),
    (b'{"a":1]', "Invalid JSON: expected `,` or `}` at line 1 column 7"),
    (b'{"a":1 "b":2}', "Invalid JSON: expected `,` or `}` at line 1 column 8"),
    (b'{"a":}', "Invalid JSON: expected value at line 1 column 6"),
    (b"{1:2}", "Invalid JSON: key must be a string at line 1 column 2"),
    (b'{\n"a":\n?}', "Invalid JSON: expected value at line 3 column 1"),
    (b'{"\\x": 1}', "Invalid JSON: invalid escape in a key"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED)
def test_bodies_that_are_no_json_object_are_refused_as_pydantic_words_it(body: bytes, message: str) -> None:
    """Empty, garbage, another type, truncated, unbalanced: a NotAnObject in pydantic's words."""
    for cuts in ([], list(range(1, len(body)))):
        with pytest.raises(NotAnObject) as refused:
            read(body, cuts)
        assert str(refused.value) == message


@pytest.mark.parametrize(("body", "message"), MALFORMED)
def test_a_kept_value_is_refused_in_the_same_words_as_a_skipped_one(body: bytes, message: str) -> None:
    """A kept value whole in one chunk is found by one regex match; when it is malformed, the reading
    falls back to bracket by bracket and gives the very message a skipped value gives."""
    with pytest.raises(NotAnObject) as refused:
        read(body, wanted=("a",))
    assert str(refused.value) == message


def test_a_kept_value_nested_deeper_than_the_one_match_reaches_is_read_whole() -> None:
    """Deeper than the single-match regex goes (6 levels), a kept value is read bracket by bracket."""
    for depth in (5, 6, 7, 40):
        value = "[" * depth + '"]"' + "]" * depth
        assert read(f'{{"a": {value}, "b": 1}}'.encode(), wanted=("a",)) == {"a": value.encode()}
    with pytest.raises(NotAnObject, match="expected `,` or `]`"):
        read(b'{"a": [[[[[[[[1}]]]]]]]}', wanted=("a",))


def test_nesting_deeper_than_pydantic_allows_is_refused() -> None:
    """A skipped value nested past serde_json's limit is refused, as a whole-body parse would refuse it."""
    depth = MAX_DEPTH
    with pytest.raises(NotAnObject, match="recursion limit exceeded"):
        read(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    assert read(b'{"a":' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}") == {}


def test_skipped_values_are_not_kept_or_built() -> None:
    """Only the wanted fields are kept: a big array beside them leaves no trace in the reader."""
    body = json.dumps({"wavelengths": [1.5] * 10_000, "last_updated": "t"}).encode()
    assert read(body, list(range(0, len(body), 997)), wanted=("last_updated",)) == {"last_updated": b'"t"'}


@settings(max_examples=60)
@given(
    points=st.integers(0, 3_000),
    nested=st.booleans(),
    data=st.data(),
)
def test_long_flat_arrays_are_jumped_over_under_any_split(
    points: int, nested: bool, data: st.DataObject
) -> None:
    """Spectra-like runs of numbers (found by memchr) beside strings and brackets, split anywhere."""
    series: list[Any] = [i / 7 for i in range(points)]
    if nested:
        series[points // 2 : points // 2] = [["]", {"x": '"['}]]
    doc = {"wavelengths": series, "sample": [series, "\\"], "detected_peaks": [{"peak_id": "p1"}], "z": 1}
    body = json.dumps(doc).encode()
    kept = read(body, split(body, data))
    assert json.loads(kept["wavelengths"]) == series
    assert json.loads(kept["detected_peaks"]) == doc["detected_peaks"]
