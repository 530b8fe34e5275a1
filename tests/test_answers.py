"""The API's answers as the models read them: the candidate shapes a server may send, odd ones included."""

from __future__ import annotations

import json

from reconciler.answers import OESResult, PeakState


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
