"""Tests of the rules every override file obeys, whatever its format: ids and keys, and values shared."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from reconciler.overrides.rules import MAX_ID_LENGTH, SharedValues, shown, text_problem

D1 = "d290f1ee-6c54-4b01-90e6-d701748f0851"


def control_problem(field: str, value: str) -> str | None:
    """What text_problem answered before its fast path: every character's category looked up."""
    if not value:
        return f"{field} is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{field} is {len(value)} characters long (at most {MAX_ID_LENGTH})"
    for character in value:
        if unicodedata.category(character) in ("Cc", "Cf"):
            return f"{field} {shown(value)} contains the control character U+{ord(character):04X}"
    return None


def test_no_printable_character_is_a_control_character() -> None:
    """Over every code point, a printable character is never Cc or Cf, so `isprintable()` is a safe
    shortcut; and a single character gets the same verdict as from the category of each character."""
    for point in range(sys.maxunicode + 1):
        character = chr(point)
        if character.isprintable():
            assert unicodedata.category(character) not in ("Cc", "Cf"), hex(point)
        assert text_problem("peak_id", character) == control_problem("peak_id", character), hex(point)


@given(st.text(max_size=MAX_ID_LENGTH + 2))
def test_text_problem_answers_as_the_category_of_each_character(value: str) -> None:
    """Any text, control characters and unassigned code points included, gets the verdict it always had."""
    assert text_problem("candidate_key", value) == control_problem("candidate_key", value)


def test_shared_values_are_one_string_each() -> None:
    """The same id or key, met again as another string, comes back as the first one met."""
    shared = SharedValues()
    first, again = "".join(["p", "1"]), "".join(["p", "1"])
    assert first is not again
    assert shared.text(first) is first
    assert shared.text(again) is first
    lower, upper = "".join(D1), D1.upper()
    assert shared.data_id(lower) is lower  # already normal: kept as written
    assert shared.data_id(upper) is lower  # normalised to the same string
    assert SharedValues().data_id(upper) == D1


def test_shared_values_refuse_what_the_rules_refuse() -> None:
    """A value the rules refuse is never shared: None, and it is not remembered as valid."""
    shared = SharedValues()
    assert shared.data_id("entry-7") is None
    assert shared.data_id("entry-7") is None
    assert shared.text("p\u200b1") is None
    assert shared.text("") is None
    assert shared.text("x" * (MAX_ID_LENGTH + 1)) is None
