"""The sandbox's own reading of candidate keys, which the client's may one day differ from."""

from __future__ import annotations

import pytest

from reconciler.sandbox.keys import element_of, line_of


@pytest.mark.parametrize(
    ("key", "element", "line"),
    [("Ga_417.2", "Ga", 417.2), ("N2_337.1", "N2", 337.1), ("Ga_II_417.2", "Ga_II", 417.2)],
)
def test_a_key_names_its_element_before_the_last_underscore_and_its_line_after(
    key: str, element: str, line: float
) -> None:
    """`Ga_417.2` is element `Ga` at 417.2 nm: the element is what a PATCH of that key shows."""
    assert (element_of(key), line_of(key)) == (element, line)


def test_a_key_without_an_underscore_is_its_own_element() -> None:
    """A key with no `_` (a data file may hold one) names itself as the element."""
    assert element_of("Zn") == "Zn"
