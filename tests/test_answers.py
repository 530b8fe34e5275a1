"""The API's answers as the models read them: the candidate shapes a server may send, odd ones included."""

from __future__ import annotations

import json
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import answers
from reconciler.answers import OESResult, PeakState, series


def peak_of(**fields: object) -> PeakState:
    """The one peak of an answer holding `fields`, parsed from bytes as the client parses answers."""
    body = json.dumps({"detected_peaks": [{"peak_id": "p1", **fields}]}).encode()
    peak = OESResult.model_validate_json(body).peak("p1")
    assert peak is not None
    return peak


def test_candidates_mapped_to_plain_values_still_give_their_keys() -> None:
    """A mapping from key to something other than an object lists the keys, none of them selected."""
    peak = peak_of(candidates={"Ga_417.2": True, "In_451.1": None})
    assert peak.candidate_keys == frozenset({"Ga_417.2", "In_451.1"})
    assert peak.applied is None


def test_candidates_as_plain_keys_or_null_are_read() -> None:
    """A list of bare keys lists them; `null` (or no candidates at all) lists none, and nothing fails."""
    assert peak_of(candidates=["Ga_417.2"]).candidate_keys == frozenset({"Ga_417.2"})
    assert peak_of(candidates=None).candidate_keys is None
    assert peak_of().candidate_keys is None


def test_a_peak_is_found_by_id_the_first_of_two_alike() -> None:
    """Look-ups by peak id (a dict, not a scan per override): the first of two peaks with one id wins,
    as it did; a missing id is None."""
    result = OESResult.model_validate(
        {
            "detected_peaks": [
                {"peak_id": "p1", "element": "Ga"},
                {"peak_id": "p2", "element": "In"},
                {"peak_id": "p1", "element": "N2"},
            ]
        }
    )
    first = result.peak("p1")
    assert first is not None
    assert first.element == "Ga"
    assert result.peak("p3") is None
    assert result.model_dump()["detected_peaks"][0]["peak_id"] == "p1"  # the cache is no field


@settings(max_examples=200)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6), max_size=60
    ),
    indent=st.sampled_from([None, 0, 2]),
    piece=st.integers(1, 40),
)
def test_a_series_of_numbers_is_an_array_equal_to_what_json_reads(
    values: list[float], indent: int | None, piece: int
) -> None:
    """Any list of numbers as a server may lay it out, converted in pieces of any size: the same numbers."""
    raw = json.dumps(values, indent=indent).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answers, "_SLICE", piece)
        read = series(raw)
    assert isinstance(read, array)
    assert list(read) == [float(value) for value in json.loads(raw)]


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        (b"[1.5, null, 2]", [1.5, None, 2]),  # not only numbers: as JSON reads it, for the page to sort out
        (b'"noise"', "noise"),
        (b"null", None),
        (b"[1,,2]", None),  # no JSON: nothing to plot
        (b"[1, 2,]", None),
        (b"[1,]", None),
        (b"[, 1]", None),
        (b"[1 2]", None),
        (b"[", None),
    ],
)
def test_a_series_that_is_not_plain_numbers_is_read_as_json_or_not_at_all(raw: bytes, read: object) -> None:
    """A series with other values is what JSON makes of it; a malformed one is None (left unplotted), in
    pieces of any size."""
    for piece in (1, 2, 3, answers._SLICE):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(answers, "_SLICE", piece)
            assert series(raw) == read


def test_an_empty_series_is_an_empty_array() -> None:
    """`[]`, however spaced, is an array of no points."""
    assert series(b"[ \n ]") == array("d")
