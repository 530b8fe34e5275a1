"""A YAML reader for files people write: one document, no anchors, aliases or foreign tags; lines kept."""

from __future__ import annotations

from collections.abc import Callable

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent, Event, NodeEvent
from yaml.nodes import Node
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from reconciler.errors import UnreadableText

TAG = "tag:yaml.org,2002:"
# Explicit tags that still mean plain data; anything else (`!!python/...`, `!custom`) is refused.
_PLAIN_TAGS = frozenset(TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq"))
# Data files nest a few levels deep; the composer recurses per level, so a cap keeps a hostile
# `[[[[…` from exhausting the Python stack.
MAX_DEPTH = 16


def compose(text: str) -> Node | None:
    """The node tree of the one document in `text` (None when there is none), scalars unconstructed."""
    try:
        loader = _LOADER(text)  # the pure reader checks every character here already
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        raise UnreadableText(_error_line(error), _syntax_message(error)) from None
    except ReaderError as error:
        line = _line_at(text, error.position)
        raise UnreadableText(line, f"character U+{error.character:04X} is not allowed in YAML") from None


class _StrictComposer(Composer, Resolver):
    """Builds the node tree from parser events, refusing anchors, aliases, foreign tags and deep nesting.

    Anchors are refused as they are met, before anything refers to them, so an alias bomb stops at its
    first line without a single expansion.
    """

    # Provided by the parser this is mixed with.
    peek_event: Callable[[], Event]
    dispose: Callable[[], None]

    def __init__(self) -> None:
        Composer.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, AliasEvent):
            raise UnreadableText(line, f"anchors and aliases are not allowed (found '*{event.anchor}')")
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise UnreadableText(line, f"anchors and aliases are not allowed (found '&{event.anchor}')")
        tag: str | None = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _PLAIN_TAGS:
            short = "!!" + tag[len(TAG) :] if tag.startswith(TAG) else tag
            raise UnreadableText(line, f"tag {short!r} is not allowed")
        if self._depth >= MAX_DEPTH:
            raise UnreadableText(line, f"nesting is too deep (more than {MAX_DEPTH} levels)")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _PureLoader(Reader, Scanner, Parser, _StrictComposer):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _StrictComposer.__init__(self)


def _loader_class() -> tuple[Callable[[str], _StrictComposer], bool]:
    """The loader to use, and whether its reader errors count bytes (libyaml) or characters."""
    if not yaml.__with_libyaml__:  # pragma: no cover (libyaml is here; tests patch _LOADER to _PureLoader)
        return _PureLoader, False
    from yaml._yaml import CParser

    # libyaml scans and parses (the bulk of the work: 5,000 entries take 0.1 s instead of 0.55 s); the
    # composer stays Python, first in the MRO, so that every event passes the checks above.
    class _CLoader(_StrictComposer, CParser):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _StrictComposer.__init__(self)

    return _CLoader, True


_LOADER, _COUNTS_BYTES = _loader_class()


def _error_line(error: yaml.MarkedYAMLError) -> int:
    mark = error.problem_mark or error.context_mark
    return mark.line + 1 if mark is not None else 0


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    if error.context and not error.context.startswith("while"):
        # The composer's errors read as one sentence: "expected a single document, but found another".
        return f"invalid YAML: {error.context}, {error.problem}"
    message = f"invalid YAML: {error.problem}"
    if error.context and error.context_mark is not None:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    return message


def _line_at(text: str, position: int) -> int:
    if _COUNTS_BYTES:
        return text.encode()[:position].count(b"\n") + 1
    return text.count("\n", 0, position) + 1
