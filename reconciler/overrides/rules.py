"""What an override file holds, whatever its format: the rules its ids and keys obey, the shape written."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

MAX_ID_LENGTH = 128
MAX_WAVELENGTH_NM = 100_000.0  # far beyond any OES line (they lie from about 190 to 1100 nm)

# The canonical 8-4-4-4-12 form only: the id goes into a URL path, so nothing looser may pass.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Assignment:
    """One peak as the writers put it: the candidate key, and where the peak was measured and a note,
    when known (then YAML writes the long form); the keys the server lists for the peak, for YAML to show
    in a comment (no loader reads them back)."""

    candidate_key: str
    wavelength_nm: float | None = None
    note: str | None = None
    candidates: tuple[str, ...] = ()


# What the writers take: data_id -> peak_id -> candidate_key, or the Assignment with what else is known.
Assignments = Mapping[str, Mapping[str, str | Assignment]]


def assignment(value: str | Assignment) -> Assignment:
    return value if isinstance(value, Assignment) else Assignment(value)


_SHOWN_CHARACTERS = 40


def shown(value: str) -> str:
    """A value quoted for a message: control characters escaped, long values cut short."""
    if len(value) > _SHOWN_CHARACTERS:
        return repr(value[:_SHOWN_CHARACTERS]) + "…"
    return repr(value)


def data_id_problem(value: str) -> str | None:
    """What is wrong with a data_id, or None when it is a UUID."""
    if UUID.fullmatch(value):
        return None
    return f"data_id {shown(value)} is not a UUID"


def normalise_data_id(value: str) -> str:
    return value.lower()


def text_problem(field: str, value: str) -> str | None:
    """What is wrong with a peak_id or candidate_key (named by `field`), or None when it is acceptable."""
    if not value:
        return f"{field} is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{field} is {len(value)} characters long (at most {MAX_ID_LENGTH})"
    if value.isprintable():  # never true of a Cc or Cf character: the common case, without a loop
        return None
    for character in value:
        if _is_control(character):
            return f"{field} {shown(value)} contains the control character U+{ord(character):04X}"
    return None


def peak_id_problem(value: str) -> str | None:
    """What is wrong with a peak_id, or None when it is acceptable."""
    return text_problem("peak_id", value)


def candidate_key_problem(value: str) -> str | None:
    """What is wrong with a candidate_key, or None when it is acceptable."""
    return text_problem("candidate_key", value)


def _is_control(character: str) -> bool:
    # Cc is U+0000-001F and U+007F-009F; Cf adds the invisible ones (zero-width space, BOM, direction
    # marks) that would make two ids look equal on screen while differing on the server.
    return unicodedata.category(character) in ("Cc", "Cf")


class SharedValues:
    """The ids and keys of one load, each checked once and kept as one string however often it recurs.

    A million overrides name each data_id ten times and each peak_id and candidate_key thousands of
    times; each row's own copy of them would cost about 200 bytes an override.
    """

    __slots__ = ("_data_ids", "_texts")

    def __init__(self) -> None:
        self._data_ids: dict[str, str] = {}  # a valid data_id as written: its normalised form
        self._texts: dict[str, str] = {}  # a valid peak_id or candidate_key: itself

    def data_id(self, value: str) -> str | None:
        """The normalised data_id, shared; None when `value` is not one (`data_id_problem` says why)."""
        known = self._data_ids.get(value)
        if known is None and data_id_problem(value) is None:
            normal = normalise_data_id(value)
            # The normal form stands for itself too: `ABC…` and `abc…` share one string.
            known = self._data_ids[value] = self._data_ids.setdefault(
                normal, value if normal == value else normal
            )
        return known

    def text(self, value: str) -> str | None:
        """The peak_id or candidate_key, shared; None when `text_problem` finds it wrong."""
        known = self._texts.get(value)
        if known is None and text_problem("", value) is None:
            known = self._texts[value] = value
        return known


def clean_note(value: str) -> str | None:
    """A note as reports show it: outer blank space dropped, and empty meaning none."""
    return value.strip() or None


# A wavelength as people write it: decimal digits, an optional point and exponent. Not hex, not `1_000`,
# not YAML 1.1's sexagesimal `1:30` (90), nor `.inf` and `.nan`.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def decimal_number(text: str) -> float | None:
    """The number `text` writes in decimal notation, or None when it is not one."""
    return float(text) if _DECIMAL.fullmatch(text) else None


def wavelength_problem(value: float, written: str) -> str | None:
    """What is wrong with a wavelength_nm (as `written`), or None when it can be where a peak is."""
    if not math.isfinite(value) or not 0 < value < MAX_WAVELENGTH_NM:
        return f"wavelength_nm must be above 0 and below {MAX_WAVELENGTH_NM:.0f} (nm), got {written}"
    return None


def wavelength_text(value: float) -> str:
    """A wavelength as the writers put it: the shortest text that reads back as the same float, always
    with a point and never in exponent form (YAML 1.1 reads `1e-05` as text)."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else f"{text}.0"
