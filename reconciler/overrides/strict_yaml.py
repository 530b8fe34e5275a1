"""A YAML reader for files people write: one document, no anchors, aliases or foreign tags; lines kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, cast

import yaml
from yaml.events import (
    AliasEvent,
    Event,
    MappingEndEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from reconciler.errors import UnreadableText

TAG = "tag:yaml.org,2002:"
STR = TAG + "str"
# Explicit tags that still mean plain data; anything else (`!!python/...`, `!custom`) is refused.
_PLAIN_TAGS = frozenset(TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))
# `!` alone is the non-specific tag: the scalar is resolved as if it had none.
_ALLOWED_TAGS = _PLAIN_TAGS | {"!"}
# Data files nest a few levels deep; a cap keeps a hostile `[[[[…` from costing more than it must.
MAX_DEPTH = 16
_ONE_DOCUMENT = "invalid YAML: expected a single document in the stream, but found another document"


class _Parser(Protocol):
    def get_event(self) -> Event | None: ...
    def dispose(self) -> None: ...


def events(text: str) -> Iterator[Event]:
    """The events of the nodes of the one document in `text` (none when it has no document), each checked
    as it comes: an anchor, alias, foreign tag or nesting deeper than MAX_DEPTH raises UnreadableText, as
    does a syntax error, a character YAML refuses or a second document.

    No node tree is built: at a million overrides the tree alone held most of a gigabyte. Anchors are
    refused as they are met, before anything refers to them, so an alias bomb stops at its first line.
    """
    try:
        parser = _LOADER(text)  # the pure reader checks every character here already
        try:
            # Only past the end of the stream is there no event, and the checks never ask for one there.
            yield from _checked(cast(Callable[[], Event], parser.get_event))
        finally:
            parser.dispose()
    except yaml.MarkedYAMLError as error:
        raise UnreadableText(_error_line(error), _syntax_message(error)) from None
    except ReaderError as error:
        line = _line_at(text, error.position)
        raise UnreadableText(line, f"character U+{error.character:04X} is not allowed in YAML") from None


def _checked(get_event: Callable[[], Event]) -> Iterator[Event]:
    get_event()  # the start of the stream
    if isinstance(get_event(), StreamEndEvent):  # else the start of the first document
        return
    depth = 0  # collections open: the nodes above the next one
    while True:
        event = get_event()
        kind = type(event)
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            depth -= 1
        else:
            if (
                kind is AliasEvent
                or event.anchor is not None  # type: ignore[attr-defined]  # every node event has one
                or (event.tag is not None and event.tag not in _ALLOWED_TAGS)  # type: ignore[attr-defined]
                or depth >= MAX_DEPTH
            ):
                _refuse(event)
            if kind is not ScalarEvent:
                depth += 1
        yield event
        if depth == 0:
            break
    get_event()  # the end of the document
    after = get_event()
    if not isinstance(after, StreamEndEvent):
        raise UnreadableText(line_of(after), _ONE_DOCUMENT)


def _refuse(event: Event) -> None:
    """Raise what is wrong with a node event, in the order the checks are documented."""
    line = line_of(event)
    if isinstance(event, AliasEvent):
        raise UnreadableText(line, f"anchors and aliases are not allowed (found '*{event.anchor}')")
    anchor: str | None = getattr(event, "anchor", None)
    if anchor is not None:
        raise UnreadableText(line, f"anchors and aliases are not allowed (found '&{anchor}')")
    tag: str | None = getattr(event, "tag", None)
    if tag is not None and tag not in _ALLOWED_TAGS:
        short = "!!" + tag[len(TAG) :] if tag.startswith(TAG) else tag
        raise UnreadableText(line, f"tag {short!r} is not allowed")
    raise UnreadableText(line, f"nesting is too deep (more than {MAX_DEPTH} levels)")


def line_of(event: Event) -> int:
    """The 1-based line an event starts on (0 when the parser gave no mark)."""
    return event.start_mark.line + 1 if event.start_mark is not None else 0


class TagResolver:
    """The tag of each scalar as the composer gives it: explicit, or resolved by YAML 1.1's rules from a
    plain scalar's text (`417.2` a float, `yes` a boolean). Ids repeat: each text is resolved once."""

    def __init__(self) -> None:
        self._resolver = Resolver()
        self._plain: dict[str, str] = {}
        resolvers = self._resolver.yaml_implicit_resolvers
        # The first characters of the texts an implicit resolver may match; all when one takes any text.
        self._any_first = None in resolvers
        self._resolved_first = frozenset(resolvers)

    def tag(self, event: ScalarEvent) -> str:
        tag = event.tag
        if tag is not None and tag != "!":
            return str(tag)
        if not event.implicit[0]:
            return STR  # quoted, or `!` on a quoted scalar: the resolver's default for a scalar
        value: str = event.value
        if value and not self._any_first and value[0] not in self._resolved_first:
            return STR  # no implicit resolver starts with this character (`p1`, `Ga_417.2`)
        known = self._plain.get(value)
        if known is None:
            known = str(self._resolver.resolve(ScalarNode, value, event.implicit))  # type: ignore[no-untyped-call]  # untyped stub
            if len(self._plain) < _MAX_REMEMBERED:  # a million distinct ids need not all be remembered
                self._plain[value] = known
        return known


_MAX_REMEMBERED = 1 << 16


class _PureLoader(Reader, Scanner, Parser):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


def _loader_class() -> tuple[Callable[[str], _Parser], bool]:
    """The parser to use, and whether its reader errors count bytes (libyaml) or characters."""
    if not yaml.__with_libyaml__:  # pragma: no cover (libyaml is here; tests patch _LOADER to _PureLoader)
        return _PureLoader, False
    from yaml._yaml import CParser

    # libyaml scans and parses (the bulk of the work: 5,000 entries take 0.1 s instead of 0.55 s); the
    # checks above see every event it makes.
    return CParser, True


_LOADER, _COUNTS_BYTES = _loader_class()


def _error_line(error: yaml.MarkedYAMLError) -> int:
    mark = error.problem_mark or error.context_mark
    return mark.line + 1 if mark is not None else 0


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    message = f"invalid YAML: {error.problem}"
    if error.context and error.context_mark is not None:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    return message


def _line_at(text: str, position: int) -> int:
    if _COUNTS_BYTES:
        return text.encode()[:position].count(b"\n") + 1
    return text.count("\n", 0, position) + 1
