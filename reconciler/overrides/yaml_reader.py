"""YAML override files read event by event, never as a tree, so that every problem names its line."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from yaml.events import (
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
)

from reconciler.errors import Problem, UnreadableText
from reconciler.models import Override
from reconciler.overrides.rules import (
    Assignment,
    SharedValues,
    candidate_key_problem,
    clean_note,
    data_id_problem,
    decimal_number,
    peak_id_problem,
    shown,
    wavelength_problem,
)
from reconciler.overrides.strict_yaml import STR, TAG, TagResolver, events, line_of

_STR, _INT, _FLOAT, _NULL = STR, TAG + "int", TAG + "float", TAG + "null"
# What YAML 1.1 makes of a plain scalar that is not a string, in the user's words.
_READ_AS = {
    _INT: "a number",
    TAG + "float": "a number",
    TAG + "bool": "a boolean",
    _NULL: "null",
    TAG + "timestamp": "a date",
    TAG + "merge": "a merge key",
    TAG + "value": "a special value",
}
_EMPTY_FILE = "file is empty; expected 'version: 1' and 'overrides:'"


def parse_yaml(
    path: str, text: str, *, shared: SharedValues | None = None
) -> tuple[list[Override], list[Problem]]:
    """The overrides of one YAML file, and every problem found in it (or only the one that makes the text
    unreadable: a syntax error, a refused character, anchor or tag, a second document).

    `shared` keeps each id and key once across the files of one load (a new one per call if None).
    """
    walker = _Walker(path, SharedValues() if shared is None else shared)
    try:
        stream = events(text)
        walker.document(stream)
        next(stream, None)  # the checks after the document: a second one is refused
    except UnreadableText as refused:
        return [], [Problem(path, refused.line, refused.message)]
    return walker.overrides, walker.problems


class _Walker:
    """Turns the events of the document into overrides as they come, collecting a problem for every rule
    broken, in one pass. Each method given a node's first event consumes the whole node."""

    def __init__(self, path: str, shared: SharedValues) -> None:
        self.path = path
        self.overrides: list[Override] = []
        self.problems: list[Problem] = []
        self._tags = TagResolver()
        self._next: Callable[[], Event] = iter(()).__next__
        # Each accepted id and key is checked once and kept as one string, however often it recurs.
        self._shared: dict[Callable[[str], str | None], Callable[[str], str | None]] = {
            data_id_problem: shared.data_id,
            peak_id_problem: shared.text,
            candidate_key_problem: shared.text,
        }

    def _problem(self, event: Event, message: str) -> None:
        self.problems.append(Problem(self.path, line_of(event), message))

    def _describe(self, event: Event) -> str:
        if isinstance(event, MappingStartEvent):
            return "a mapping"
        if not isinstance(event, ScalarEvent):
            return "a list"
        tag = self._tags.tag(event)
        if tag == _STR:
            return f"the text {shown(event.value)}"
        return "nothing" if tag == _NULL and not event.value else str(event.value)

    def _is_null(self, event: Event) -> bool:
        return isinstance(event, ScalarEvent) and self._tags.tag(event) == _NULL

    def _skip(self, event: Event) -> None:
        """Consume the rest of the node `event` starts, unread (its events were checked all the same)."""
        if not isinstance(event, CollectionStartEvent):
            return
        depth = 1
        while depth:
            inner = self._next()
            if isinstance(inner, CollectionStartEvent):
                depth += 1
            elif isinstance(inner, CollectionEndEvent):
                depth -= 1

    def document(self, stream: Iterator[Event]) -> None:
        self._next = stream.__next__
        root = next(stream, None)
        if root is None or self._is_null(root):
            self.problems.append(Problem(self.path, 0, _EMPTY_FILE))
            return
        if not isinstance(root, MappingStartEvent):
            expected = "the top level must be a mapping with 'version' and 'overrides'"
            self._problem(root, f"{expected}, got {self._describe(root)}")
            self._skip(root)
            return
        seen = set()
        for key, key_event, value in self._items("key"):
            seen.add(key)
            if key == "version":
                self._version(value)
            elif key == "overrides":
                self._entries(value)
            else:
                self._problem(key_event, f"unknown key {shown(key)} (expected version, overrides)")
                self._skip(value)
        if "version" not in seen:
            self.problems.append(Problem(self.path, 0, "missing 'version: 1'"))
        if "overrides" not in seen:
            self.problems.append(Problem(self.path, 0, "missing 'overrides:'"))

    def _items(self, role: str) -> Iterator[tuple[str, ScalarEvent, Event]]:
        """The pairs of the mapping just begun, up to its end, with string-like keys; non-scalar and
        repeated keys become problems. The caller consumes each value before asking for the next pair."""
        first_lines: dict[str, int] = {}
        next_event = self._next
        while not isinstance(key_event := next_event(), MappingEndEvent):
            if not isinstance(key_event, ScalarEvent):
                self._problem(key_event, f"{role} must be a string, got {self._describe(key_event)}")
                self._skip(key_event)
                self._skip(next_event())
                continue
            key = key_event.value
            if key in first_lines:
                self._problem(key_event, f"duplicate key {shown(key)} (first at line {first_lines[key]})")
                self._skip(next_event())
                continue
            first_lines[key] = line_of(key_event)
            yield key, key_event, next_event()

    def _version(self, event: Event) -> None:
        scalar = isinstance(event, ScalarEvent)
        tag = self._tags.tag(event) if isinstance(event, ScalarEvent) else getattr(event, "tag", None)
        if scalar and tag == _INT and event.value == "1":  # type: ignore[attr-defined]  # a scalar's
            return
        hint = " (write it without quotes)" if tag == _STR else ""
        self._problem(event, f"version must be 1, got {self._describe(event)}{hint}")
        self._skip(event)

    def _not_text(self, event: Event, role: str) -> None:
        """The problem of a value YAML does not read as a string."""
        if not isinstance(event, ScalarEvent):
            self._problem(event, f"{role} must be a string, got {self._describe(event)}")
            self._skip(event)
            return
        tag, value = self._tags.tag(event), event.value
        if tag == _NULL and not value:
            self._problem(event, f"{role} is empty")
            return
        read_as = _READ_AS.get(tag, "something other than text")
        self._problem(event, f"{role} {value} is read by YAML as {read_as}; quote it: '{value}'")

    def _checked(self, event: Event, role: str, rule: Callable[[str], str | None]) -> str | None:
        """The text of a scalar YAML reads as a string that obeys `rule`; else None, the problem noted."""
        if not isinstance(event, ScalarEvent) or self._tags.tag(event) != _STR:
            self._not_text(event, role)
            return None
        value: str = event.value
        known = self._shared[rule](value)
        if known is None:
            problem = rule(value)
            assert problem is not None, f"{role} refused by SharedValues but not by its rule"
            self._problem(event, problem)
        return known

    def _entries(self, event: Event) -> None:
        if self._is_null(event):
            return  # `overrides:` with nothing under it: zero overrides, as `{}`
        if not isinstance(event, MappingStartEvent):
            got = self._describe(event)
            self._problem(event, f"overrides must be a mapping of data_id to peaks, got {got}")
            self._skip(event)
            return
        for _key, key_event, value in self._items("data_id"):
            data_id = self._checked(key_event, "data_id", data_id_problem)  # normalised
            self._peaks(data_id, key_event, value)

    def _peaks(self, data_id: str | None, data_event: ScalarEvent, event: Event) -> None:
        if self._is_null(event):
            return
        if not isinstance(event, MappingStartEvent):
            expected = f"the peaks of {shown(data_event.value)} must be a mapping of peak_id to candidate_key"
            self._problem(event, f"{expected}, got {self._describe(event)}")
            self._skip(event)
            return
        path, add = self.path, self.overrides.append
        for _key, key_event, value in self._items("peak_id"):
            peak_id = self._checked(key_event, "peak_id", peak_id_problem)
            if isinstance(value, ScalarEvent):  # `p1: KEY`, nearly every peak of a large file
                key = self._checked(value, "candidate_key", candidate_key_problem)
                if data_id is not None and peak_id is not None and key is not None:
                    add(Override(data_id, peak_id, key, path, line_of(key_event)))
                continue
            wanted = self._long_form(key_event, value)
            if data_id is not None and peak_id is not None and wanted is not None:
                add(
                    Override(
                        data_id,
                        peak_id,
                        wanted.candidate_key,
                        path,
                        line_of(key_event),
                        wanted.note,
                        wanted.wavelength_nm,
                    )
                )

    def _long_form(self, peak_event: ScalarEvent, event: Event) -> Assignment | None:
        """What one peak should carry, from the long form
        `p1: {candidate_key: KEY, wavelength_nm: 417.21, note: …}`; None when something is wrong."""
        if not isinstance(event, MappingStartEvent):
            expected = (
                f"peak {shown(peak_event.value)} must be a candidate_key or a mapping with candidate_key"
            )
            self._problem(event, f"{expected}, got {self._describe(event)}")
            self._skip(event)
            return None
        key, note, wavelength, declared, valid = None, None, None, False, True
        for name, key_event, value in self._items("key"):
            if name == "candidate_key":
                declared = True
                key = self._checked(value, name, candidate_key_problem)
            elif name == "note":
                note = self._note(value)
            elif name == "wavelength_nm":
                wavelength = self._wavelength(value)
                valid = wavelength is not None
            else:
                expected = "expected candidate_key, wavelength_nm, note"
                self._problem(key_event, f"unknown key {shown(name)} ({expected})")
                self._skip(value)
        if not declared:
            self._problem(event, f"missing candidate_key for peak {shown(peak_event.value)}")
        return None if key is None or not valid else Assignment(key, wavelength, note)

    def _wavelength(self, event: Event) -> float | None:
        """The one number of the file: where the peak was measured, in nm, written as a decimal number."""
        scalar = event if isinstance(event, ScalarEvent) else None
        tag = None if scalar is None else self._tags.tag(scalar)
        number = None
        if scalar is not None and tag in (_INT, _FLOAT):
            number = decimal_number(scalar.value)
        if scalar is None or number is None:
            hint = ""
            if scalar is not None and tag == _STR and scalar.style in ("'", '"'):
                if decimal_number(scalar.value.strip()) is not None:
                    hint = " (write it without quotes)"
            elif scalar is not None and tag == _NULL:
                hint = " (leave wavelength_nm out when it is not known)"
            got = self._describe(event)
            self._problem(event, f"wavelength_nm must be a number of nm such as 417.21, got {got}{hint}")
            self._skip(event)
            return None
        problem = wavelength_problem(number, scalar.value)
        if problem is not None:
            self._problem(event, problem)
            return None
        return number

    def _note(self, event: Event) -> str | None:
        if not isinstance(event, ScalarEvent):
            self._problem(event, f"note must be text, got {self._describe(event)}")
            self._skip(event)
            return None
        # A note is free text, not an id: take it as written (`note: yes` means "yes", not True).
        return None if self._tags.tag(event) == _NULL else clean_note(event.value)
