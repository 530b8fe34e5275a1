"""What an override file holds, whatever its format: the rules its ids and keys obey, the shape written."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

MAX_ID_LENGTH = 128

# The canonical 8-4-4-4-12 form only: the id goes into a URL path, so nothing looser may pass.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

Assignments = Mapping[str, Mapping[str, str]]  # what the writers take: data_id -> peak_id -> candidate_key
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


def clean_note(value: str) -> str | None:
    """A note as reports show it: outer blank space dropped, and empty meaning none."""
    return value.strip() or None
