"""Candidate keys as the sandbox reads them: `Ga_417.2` is the element `Ga` and the line 417.2 nm.

The sandbox's own copy of the rule, not the client's: a fake server must be free to disagree with it.
"""

from __future__ import annotations

import math


def element_of(candidate_key: str) -> str:
    """The element a key names: the text before its last `_` (`N2_337.1` -> `N2`), else the whole key."""
    element, sep, _line = candidate_key.rpartition("_")
    return element if sep else candidate_key


def line_of(candidate_key: str) -> float:
    """The reference line of a candidate key, in nm (`Ga_417.2` -> 417.2)."""
    return float(candidate_key.rpartition("_")[2])


def is_candidate_key(text: str) -> bool:
    """Whether `text` reads as a key: an element, `_`, and a finite line in nm (`Ga_417.2`)."""
    element, sep, line = text.rpartition("_")
    try:
        return bool(sep and element) and math.isfinite(float(line))
    except ValueError:
        return False
