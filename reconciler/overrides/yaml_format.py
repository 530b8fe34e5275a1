"""YAML override files: written here through libyaml's emitter; read by yaml_reader, event by event."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from reconciler.overrides.rules import UUID, Assignment, Assignments, assignment, wavelength_text
from reconciler.overrides.strict_yaml import STR
from reconciler.overrides.yaml_reader import parse_yaml  # the loader reads YAML through this module

if TYPE_CHECKING:
    from yaml.cyaml import CDumper

__all__ = ["parse_yaml", "render_yaml"]

_STR = STR
# Plain only what no YAML reader takes for anything but text: a UUID, or a word with a letter or `_`
# first (no number in YAML 1.1 or 1.2 starts so) that the resolver does not read as `yes`, `null` and kin,
# and that is not `y` or `n` (YAML 1.1 booleans that PyYAML alone leaves as text). The emitter
# double-quotes and escapes everything else.
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_YAML11_BOOLEANS = frozenset("yYnN")
_RESOLVER = Resolver()
# Never fold a line: a double-quoted id folded over two lines is valid YAML, but no one reads it in a
# diff. The largest width libyaml takes.
_NO_FOLDING = 2**31 - 1


def render_yaml(assignments: Assignments, *, comments: Sequence[str] = ()) -> str:
    """A YAML override file: `comments` as `#` lines, then the assignments sorted by data_id and peak_id."""
    # PyYAML's emitter lays out and escapes everything, fed events instead of a document: through the
    # representers it would build a node per scalar first. At 100,000 overrides that took 0.87 s and 69 MB
    # more than the data; the events take 0.29 s and 4 MB.
    out = io.StringIO()
    out.writelines(f"# {part}".rstrip() + "\n" for line in comments for part in line.splitlines() or [""])
    emitter = _DUMPER(out, allow_unicode=True, width=_NO_FOLDING)
    try:
        for event in _events(assignments):
            emitter.emit(event)
    finally:
        emitter.dispose()
    text = out.getvalue()
    return _with_candidates(text, assignments) if _lists_candidates(assignments) else text


# --- The candidates beside each peak ---

# A comment runs to the end of its line: no character a YAML reader takes for a line break (\x85 and
# U+2028/9 included), none it refuses (controls, surrogates, U+FFFE/F), no BOM and no bidi override (which
# would reorder what an editor shows) may go into one. JSON's escapes show them; the rest stays as it is.
_UNSAFE_IN_COMMENT = re.compile(
    "[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
# Beyond this many, a server's list is summed up: the comment is a reminder, not a copy of the API.
_CANDIDATES_SHOWN = 20


def _lists_candidates(assignments: Assignments) -> bool:
    return any(
        isinstance(value, Assignment) and value.candidates
        for peaks in assignments.values()
        for value in peaks.values()
    )


def _with_candidates(text: str, assignments: Assignments) -> str:
    """`text` with `  # candidates: A, B` after each peak whose candidates are known.

    The emitter writes each peak on a line of its own, four spaces in (it never folds a line, and escapes
    every line break in a scalar), in the order of `_events`: the peaks are matched to those lines in turn.
    """
    comments = (
        _candidates_comment(assignment(value).candidates)
        for _data_id, peaks in sorted(assignments.items())
        for _peak_id, value in sorted(peaks.items())
    )
    lines = text.split("\n")  # the emitter ends lines with \n alone, and escapes every other break
    for at, line in enumerate(lines):
        if line.startswith("    ") and not line.startswith("     "):
            lines[at] = line + next(comments)
    assert next(comments, None) is None, "a peak the emitter did not write on a line of its own"
    return "\n".join(lines)


def _candidates_comment(candidates: Sequence[str]) -> str:
    """`  # candidates: Ga_417.2, In_451.1`, each key as written in the file (quoted and escaped when it is
    not a plain word); empty when the server lists none."""
    if not candidates:
        return ""
    keys = list(dict.fromkeys(candidates))
    shown = [key if _WORD.fullmatch(key) else _quoted(key) for key in keys[:_CANDIDATES_SHOWN]]
    if len(keys) > _CANDIDATES_SHOWN:
        shown.append(f"… {len(keys) - _CANDIDATES_SHOWN} more")
    return "  # candidates: " + ", ".join(shown)


def _quoted(key: str) -> str:
    """A key in double quotes, JSON-escaped, with every character unsafe in a comment as `\\uXXXX`."""
    quoted = json.dumps(key, ensure_ascii=False)
    # Every unsafe character lies in the Basic Multilingual Plane: one escape each.
    return _UNSAFE_IN_COMMENT.sub(lambda found: f"\\u{ord(found.group()):04x}", quoted)


def _events(assignments: Assignments) -> Iterator[Event]:
    """The document `version: 1` and `overrides: {data_id: {peak_id: candidate_key}}`, as emitter events;
    a peak with a wavelength or a note in the long form, on one line."""
    yield StreamStartEvent()
    yield DocumentStartEvent(explicit=False)
    yield MappingStartEvent(None, None, implicit=True, flow_style=False)
    yield from (_plain("version"), _plain("1"), _plain("overrides"))
    yield MappingStartEvent(None, None, implicit=True, flow_style=not assignments)  # `{}` when empty
    for data_id, peaks in sorted(assignments.items()):
        yield _scalar(data_id)
        yield MappingStartEvent(None, None, implicit=True, flow_style=False)
        for peak_id, value in sorted(peaks.items()):
            yield _scalar(peak_id)
            yield from _peak(assignment(value))
        yield MappingEndEvent()
    yield MappingEndEvent()
    yield MappingEndEvent()
    yield DocumentEndEvent(explicit=False)
    yield StreamEndEvent()


def _peak(peak: Assignment) -> Iterator[Event]:
    """`KEY`, or `{candidate_key: KEY, wavelength_nm: 417.21, note: "…"}` when more is known."""
    if peak.wavelength_nm is None and peak.note is None:
        yield _scalar(peak.candidate_key)
        return
    yield MappingStartEvent(None, None, implicit=True, flow_style=True)
    yield from (_plain("candidate_key"), _scalar(peak.candidate_key))
    if peak.wavelength_nm is not None:
        yield from (_plain("wavelength_nm"), _plain(wavelength_text(peak.wavelength_nm)))
    if peak.note is not None:
        yield from (_plain("note"), _scalar(peak.note))
    yield MappingEndEvent()


def _scalar(value: str) -> ScalarEvent:
    """`value` as a scalar that reads back as this very string: plain when unambiguous, else double-quoted."""
    if UUID.fullmatch(value) or (
        _WORD.fullmatch(value) and value not in _YAML11_BOOLEANS and _resolved_tag(value) == _STR
    ):
        return _plain(value)
    return ScalarEvent(None, None, (False, True), value, style='"')


def _plain(value: str) -> ScalarEvent:
    return ScalarEvent(None, None, (True, False), value)


def _resolved_tag(value: str) -> str:
    """The tag YAML 1.1 gives `value` written plain, as the loader's resolver sees it."""
    return str(_RESOLVER.resolve(ScalarNode, value, (True, False)))  # type: ignore[no-untyped-call]  # untyped stub


def _dumper_class() -> type[yaml.SafeDumper] | type[CDumper]:
    """libyaml's emitter when PyYAML has it, as the reader uses libyaml's parser; else PyYAML's own."""
    if yaml.__with_libyaml__:
        from yaml.cyaml import CSafeDumper

        return CSafeDumper
    return yaml.SafeDumper  # pragma: no cover (libyaml is here; the tests patch _DUMPER to this emitter)


_DUMPER = _dumper_class()
