"""An incremental reader of a JSON object's top-level fields: keeps the raw text of a few, skips the rest."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

# Past the opening quote: the rest of a string, up to (not including) its closing quote or the chunk's end.
_STRING = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
# Inside a value: the next character that matters. At depth 0 a comma ends the value; deeper, commas are
# the bulk of a big array and are jumped over in C.
_TOP = re.compile(rb'[\[\]{}",]')
# Deeper: everything up to the next bracket, strings included (each honouring its escapes), in one match.
_RUN = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.DOTALL)
# Short of this, a run is left to the regex: finding the end of a flat array costs five scans.
_FLAT_MIN = 512
_SPACE = re.compile(rb"[ \t\r\n]*")
# The common case between values, in one match: `, "key": ` and, when it is a string, number or literal,
# the value itself. Anything else (a chunk's end, a container, an error) goes the long way.
_FIELD = re.compile(
    rb'[ \t\r\n]*(,?)[ \t\r\n]*"([^"\\]*(?:\\.[^"\\]*)*)"[ \t\r\n]*:[ \t\r\n]*'
    rb'(?:("[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9][0-9.eE+-]*|true|false|null)[ \t\r\n]*(?=[,}]))?',
    re.DOTALL,
)
_VALUE_START = frozenset(b'"[{-0123456789tfn')


def _balanced(depth: int) -> bytes:
    """A regex for a whole array or object nested at most `depth` levels, brackets matched by kind.

    Atomic groups and possessive repeats (Python 3.11) never backtrack, so a value cut by the chunk's end
    fails in one scan, and the bracket-by-bracket reading below takes over.
    """
    atom = rb'(?>[^"\[\]{}]++|"(?>[^"\\]++|\\.)*+")'
    inner = atom
    value = b""
    for _ in range(depth):
        value = rb"(?:\[(?>" + inner + rb")*+\]|\{(?>" + inner + rb")*+\})"
        inner = atom + b"|" + value
    return value


# A container that lies whole in the chunk (a peak list, an 82 KB answer's spectra) is found in one match;
# reading it bracket by bracket in Python cost ~0.1 ms per answer of ten peaks.
_CONTAINER = re.compile(_balanced(6), re.DOTALL)
_CLOSER = {ord("]"): ord("["), ord("}"): ord("{")}
# serde_json's (pydantic's) limit: an answer nested deeper than this is refused, as it was when parsed whole.
MAX_DEPTH = 201

# Where the reader is between values of the top-level object.
_BEFORE, _KEY_OR_END, _KEY, _COLON, _VALUE, _COMMA_OR_END, _AFTER = range(7)


class NotAnObject(ValueError):
    """The body is no JSON object (or is truncated, or unbalanced); the message reads as pydantic's."""


class FieldReader:
    """Fed a body chunk by chunk (split anywhere), keeps the raw JSON text of the `wanted` top-level fields.

    Everything else is skipped without being built: strings are jumped over by a regex that honours
    escapes, brackets are counted (and matched) across chunks. Skipped values are checked only for their
    structure, not token by token; the kept text is for a JSON parser to validate.
    """

    def __init__(self, wanted: Collection[str]) -> None:
        self._wanted = frozenset(wanted)
        self._state = _BEFORE
        self._stack = bytearray()  # the open brackets of the current value
        self._in_string = False  # inside a string of the current value (or of a key)
        self._escape = False  # the chunk ended just after a backslash inside that string
        self._key = bytearray()
        self._comma = False  # a comma went before this key: a `}` now is a trailing comma
        self._keeping: str | None = None
        self._parts: list[bytes] = []
        self._started = False  # the current value has shown its first character
        self._opened = False  # ... and, at depth 0, its one string, array, object or scalar has begun
        self.fields: dict[str, bytes] = {}
        # Position bookkeeping, for messages only: bytes and lines before the current chunk.
        self._offset = self._lines = self._line_start = 0
        self._chunk = b""

    def feed(self, chunk: bytes) -> None:
        """Read one more piece of the body."""
        self._chunk = chunk
        pos, end = 0, len(chunk)
        while pos < end:
            state = self._state
            if state == _VALUE:
                pos = self._value(chunk, pos)
            elif (
                state in (_KEY_OR_END, _COMMA_OR_END)
                and (field := _FIELD.match(chunk, pos)) is not None
                and (bool(field.group(1)) == (state == _COMMA_OR_END))
            ):
                pos = self._field(field)
            else:
                pos = self._between(chunk, pos)
        self._offset += end
        newlines = chunk.count(b"\n")
        if newlines:
            self._lines += newlines
            self._line_start = self._offset - end + chunk.rfind(b"\n") + 1

    def finish(self) -> dict[str, bytes]:
        """The kept fields, once the whole body is read; a body that stopped short is refused."""
        if self._state != _AFTER:
            self._chunk = b""
            inside = "a value" if self._state == _BEFORE else "an object"
            if self._state == _VALUE and self._stack:
                inside = "a list" if self._stack[-1] == ord("[") else "an object"
            if self._in_string or self._state == _KEY:
                inside = "a string"
            raise NotAnObject(f"Invalid JSON: EOF while parsing {inside} at {self._where(0, eof=True)}")
        return self.fields

    def _fail(self, what: str, pos: int) -> NotAnObject:
        return NotAnObject(f"Invalid JSON: {what} at {self._where(pos)}")

    def _where(self, pos: int, *, eof: bool = False) -> str:
        chunk = self._chunk
        line = self._lines + chunk.count(b"\n", 0, pos) + 1
        newline = chunk.rfind(b"\n", 0, pos)
        start = self._line_start if newline < 0 else self._offset + newline + 1
        column = self._offset + pos - start + (0 if eof else 1)
        return f"line {line} column {column}"

    def _string(self, chunk: bytes, pos: int) -> tuple[int, bool]:
        """Skip string text from `pos`: where it went to, and whether the closing quote was reached."""
        if self._escape:  # the escaped character begins this chunk
            self._escape = False
            pos += 1
            if pos >= len(chunk):
                return pos, False
        stop = _STRING.match(chunk, pos).end()  # type: ignore[union-attr]  # matches the empty string too
        if stop == len(chunk):
            return stop, False
        if chunk[stop] == 0x5C:  # a backslash as the chunk's last byte: its character comes next
            self._escape = True
            return len(chunk), False
        return stop + 1, True

    def _between(self, chunk: bytes, pos: int) -> int:
        """The top-level object's own syntax: braces, keys, colons, commas."""
        state = self._state
        if state == _KEY:
            start = pos
            pos, closed = self._string(chunk, pos)
            self._key += chunk[start : pos - 1 if closed else pos]
            if closed:
                self._state = _COLON
            return pos
        pos = _SPACE.match(chunk, pos).end()  # type: ignore[union-attr]
        if pos >= len(chunk):
            return pos
        char = chunk[pos]
        if state == _BEFORE:
            self._open(char, pos)
        elif char == 0x7D and (state == _COMMA_OR_END or (state == _KEY_OR_END and not self._comma)):
            self._state = _AFTER
        elif state == _KEY_OR_END:
            if char != 0x22:
                raise self._fail("trailing comma" if char == 0x7D else "key must be a string", pos)
            self._key.clear()
            self._state = _KEY
        elif state == _COLON:
            if char != 0x3A:
                raise self._fail("expected `:`", pos)
            self._start_value()
        elif state == _COMMA_OR_END:
            if char != 0x2C:
                raise self._fail("expected `,` or `}`", pos)
            self._comma = True
            self._state = _KEY_OR_END
        else:  # _AFTER
            raise self._fail("trailing characters", pos)
        return pos + 1

    def _open(self, char: int, pos: int) -> None:
        """The body's first character: the top-level object's `{`, or why the body is no object."""
        if char != 0x7B:
            if char in _VALUE_START:
                raise NotAnObject("Input should be an object")
            raise self._fail("expected value", pos)
        self._state = _KEY_OR_END

    def _field(self, field: re.Match[bytes]) -> int:
        """A key, and its value if a scalar, matched whole by `_FIELD`; where reading goes on."""
        self._start_value(field.group(2))
        value = field.group(3)
        if value is not None:
            self._end_value(value)
        return field.end()

    def _start_value(self, key: bytes | None = None) -> None:
        key = bytes(self._key) if key is None else key
        try:
            name = json.loads(b'"' + key + b'"') if b"\\" in key else key.decode("utf-8", "replace")
        except ValueError:
            raise NotAnObject("Invalid JSON: invalid escape in a key") from None
        self._keeping = name if name in self._wanted else None
        self._parts = []
        self._started = False
        self._state = _VALUE

    def _value(self, chunk: bytes, pos: int) -> int:
        """Scan the current value from `pos` to its end or the chunk's; keep its text if it is wanted."""
        start, end = pos, len(chunk)
        stack = self._stack
        if not self._started:
            pos = self._begin(chunk, pos)
        flat = bool(stack)  # at an array's start or a chunk's: perhaps a long run of numbers
        while pos < end:
            if self._in_string:
                pos, closed = self._string(chunk, pos)
                if not closed:
                    break
                self._in_string = False
                continue
            if stack:
                if flat:
                    pos, flat = _flat(chunk, pos, end), False
                pos = _RUN.match(chunk, pos).end()  # type: ignore[union-attr]  # matches the empty string too
                if pos >= end:
                    break
            else:
                found = _TOP.search(chunk, pos)
                if found is None:
                    pos = end
                    break
                pos = found.start()
            char = chunk[pos]
            if not stack and char in b",]}":  # the value ended just before it
                if char == 0x5D:
                    raise self._fail("expected `,` or `}`", pos)
                self._end_value(chunk[start:pos])
                return pos
            flat = self._structural(char, pos)
            pos += 1
        if self._keeping is not None:
            self._parts.append(chunk[start:pos])
        return pos

    def _begin(self, chunk: bytes, pos: int) -> int:
        """Past the whitespace before the value, to its first character (checked), or the chunk's end."""
        pos = _SPACE.match(chunk, pos).end()  # type: ignore[union-attr]
        if pos < len(chunk):
            if chunk[pos] not in _VALUE_START:
                raise self._fail("expected value", pos)
            self._started = True
            self._opened = chunk[pos] not in b'"[{'
            # A kept container (a peak list) whole in this chunk, in one match; a skipped spectrum's numbers
            # go faster by memchr (`_flat`), and anything else bracket by bracket.
            whole = None if self._keeping is None or self._opened else _CONTAINER.match(chunk, pos)
            if whole is not None:
                self._opened = True
                return whole.end()
        return pos

    def _structural(self, char: int, pos: int) -> bool:
        """A quote or bracket inside the value; whether an array just opened (perhaps a flat run follows)."""
        stack = self._stack
        if not stack and char in b'"[{':  # a second value at depth 0: `1 "b"`, `[] {}`
            if self._opened:
                raise self._fail("expected `,` or `}`", pos)
            self._opened = True
        if char == 0x22:
            self._in_string = True
        elif char in (0x5B, 0x7B):
            stack.append(char)
            if len(stack) >= MAX_DEPTH:
                raise self._fail("recursion limit exceeded", pos)
            return char == 0x5B
        elif stack.pop() != _CLOSER[char]:
            raise self._fail("expected `,` or `" + ("]" if char == 0x7D else "}") + "`", pos)
        return False

    def _end_value(self, last: bytes) -> None:
        if self._keeping is not None:
            self._parts.append(last)
            self.fields[self._keeping] = b"".join(self._parts).strip()
            self._parts = []
        self._state = _COMMA_OR_END


def _flat(chunk: bytes, pos: int, end: int) -> int:
    """Past a long run of array items holding no string or bracket (a spectrum's numbers), found by memchr:
    the next `]` (or the chunk's end), if nothing else structural comes before it; else `pos`."""
    close = chunk.find(b"]", pos)
    limit = end if close < 0 else close
    if limit - pos < _FLAT_MIN:
        return pos
    for char in (b'"', b"[", b"{", b"}"):
        if chunk.find(char, pos, limit) >= 0:
            return pos
    return limit
