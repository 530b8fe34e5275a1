"""YAML override files: the schema walked node by node, so that every problem names its line."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from yaml.nodes import MappingNode, Node, ScalarNode

from reconciler.errors import Problem
from reconciler.models import Override
from reconciler.overrides.rules import (
    candidate_key_problem,
    clean_note,
    data_id_problem,
    normalise_data_id,
    peak_id_problem,
    shown,
)
from reconciler.overrides.strict_yaml import TAG, RefusedYAML, compose

_STR, _INT, _NULL = TAG + "str", TAG + "int", TAG + "null"
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


def parse_yaml(path: str, text: str) -> tuple[list[Override], list[Problem]]:
    """The overrides of one YAML file, and every problem found in it."""
    try:
        root = compose(text)
    except RefusedYAML as refused:
        return [], [Problem(path, refused.line, refused.message)]
    walker = _Walker(path)
    walker.document(root)
    return walker.overrides, walker.problems


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if not isinstance(node, ScalarNode):
        return "a list"
    if node.tag == _STR:
        return f"the text {shown(node.value)}"
    return "nothing" if node.tag == _NULL and not node.value else str(node.value)


class _Walker:
    """Turns the node tree into overrides, collecting a problem for every rule broken, in one pass."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.overrides: list[Override] = []
        self.problems: list[Problem] = []

    def _problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.path, _line(node), message))

    def document(self, root: Node | None) -> None:
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL):
            self.problems.append(Problem(self.path, 0, _EMPTY_FILE))
            return
        if not isinstance(root, MappingNode):
            expected = "the top level must be a mapping with 'version' and 'overrides'"
            self._problem(root, f"{expected}, got {_describe(root)}")
            return
        seen = set()
        for key, key_node, value in self._items(root, "key"):
            seen.add(key)
            if key == "version":
                self._version(value)
            elif key == "overrides":
                self._entries(value)
            else:
                self._problem(key_node, f"unknown key {shown(key)} (expected version, overrides)")
        if "version" not in seen:
            self.problems.append(Problem(self.path, 0, "missing 'version: 1'"))
        if "overrides" not in seen:
            self.problems.append(Problem(self.path, 0, "missing 'overrides:'"))

    def _items(self, mapping: MappingNode, role: str) -> Iterator[tuple[str, Node, Node]]:
        """The pairs of a mapping with string-like keys; non-scalar and repeated keys become problems."""
        first_lines: dict[str, int] = {}
        for key_node, value in mapping.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, f"{role} must be a string, got {_describe(key_node)}")
                continue
            key = key_node.value
            if key in first_lines:
                self._problem(key_node, f"duplicate key {shown(key)} (first at line {first_lines[key]})")
                continue
            first_lines[key] = _line(key_node)
            yield key, key_node, value

    def _version(self, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _INT and node.value == "1":
            return
        hint = " (write it without quotes)" if node.tag == _STR else ""
        self._problem(node, f"version must be 1, got {_describe(node)}{hint}")

    def _string(self, node: Node, role: str) -> str | None:
        """The text of a scalar YAML reads as a string; anything else is a problem."""
        if not isinstance(node, ScalarNode):
            self._problem(node, f"{role} must be a string, got {_describe(node)}")
            return None
        if node.tag == _STR:
            return str(node.value)
        if node.tag == _NULL and not node.value:
            self._problem(node, f"{role} is empty")
            return None
        read_as = _READ_AS.get(node.tag, "something other than text")
        self._problem(node, f"{role} {node.value} is read by YAML as {read_as}; quote it: '{node.value}'")
        return None

    def _checked(self, node: Node, role: str, rule: Callable[[str], str | None]) -> str | None:
        value = self._string(node, role)
        if value is None:
            return None
        problem = rule(value)
        if problem is not None:
            self._problem(node, problem)
            return None
        return value

    def _entries(self, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return  # `overrides:` with nothing under it: zero overrides, as `{}`
        if not isinstance(node, MappingNode):
            self._problem(node, f"overrides must be a mapping of data_id to peaks, got {_describe(node)}")
            return
        for _key, key_node, value in self._items(node, "data_id"):
            data_id = self._checked(key_node, "data_id", data_id_problem)
            self._peaks(None if data_id is None else normalise_data_id(data_id), key_node, value)

    def _peaks(self, data_id: str | None, data_node: Node, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return
        if not isinstance(node, MappingNode):
            expected = f"the peaks of {shown(data_node.value)} must be a mapping of peak_id to candidate_key"
            self._problem(node, f"{expected}, got {_describe(node)}")
            return
        for _key, key_node, value in self._items(node, "peak_id"):
            peak_id = self._checked(key_node, "peak_id", peak_id_problem)
            wanted = self._wanted(key_node, value)
            if data_id is not None and peak_id is not None and wanted is not None:
                candidate_key, note = wanted
                self.overrides.append(
                    Override(data_id, peak_id, candidate_key, self.path, _line(key_node), note)
                )

    def _wanted(self, peak_node: Node, node: Node) -> tuple[str, str | None] | None:
        """The candidate_key and note of one peak, from `p1: KEY` or `p1: {candidate_key: KEY, note: …}`."""
        if isinstance(node, ScalarNode):
            key = self._checked(node, "candidate_key", candidate_key_problem)
            return None if key is None else (key, None)
        if not isinstance(node, MappingNode):
            expected = (
                f"peak {shown(peak_node.value)} must be a candidate_key or a mapping with candidate_key"
            )
            self._problem(node, f"{expected}, got {_describe(node)}")
            return None
        key, note, declared = None, None, False
        for name, key_node, value in self._items(node, "key"):
            if name == "candidate_key":
                declared = True
                key = self._checked(value, name, candidate_key_problem)
            elif name == "note":
                note = self._note(value)
            else:
                self._problem(key_node, f"unknown key {shown(name)} (expected candidate_key, note)")
        if not declared:
            self._problem(node, f"missing candidate_key for peak {shown(peak_node.value)}")
        return None if key is None else (key, note)

    def _note(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self._problem(node, f"note must be text, got {_describe(node)}")
            return None
        # A note is free text, not an id: take it as written (`note: yes` means "yes", not True).
        return None if node.tag == _NULL else clean_note(node.value)
