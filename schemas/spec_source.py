"""Safe, location-aware loading of YAML and JSON spec documents.

Documents are read with PyYAML's safe loader, as Polyaxon reads them, so YAML 1.1 rules apply:
an unquoted `1:10:2` is a base-60 integer (4202), not a range string, and `yes`/`no`/`on`/`off`
are booleans. Quote such values (`"1:10:2"`) when a string is meant. JSON is YAML, so a JSON
document loads the same way. Oversized documents and alias bombs are refused before any
expansion, and every loaded value keeps the line it came from so errors can be located.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from schemas.errors import SpecError

MAX_BYTES = 1_000_000
MAX_ALIASES = 100
# Aliases may add this many nodes in total when expanded; a billion-laughs document needs far more.
MAX_ALIAS_NODES = 10_000

PathPart = str | int
Path = tuple[PathPart, ...]


def format_path(parts: Path) -> str:
    """`("inputs", 0, "name")` → `inputs[0].name`: dotted keys, bracketed list indices."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class SourceMap:
    """Where each value of a loaded document starts: path → 1-based line and column.

    A mapping key is placed where the key is written; a list item where the item starts.
    """

    filename: str = "<spec>"
    lines: dict[Path, int] = field(default_factory=dict)
    columns: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its closest ancestor present in the document."""
        return self.position(path)[0]

    def position(self, path: Path) -> tuple[int | None, int | None]:
        """(line, column) of `path`, or of its closest ancestor present in the document."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found, self.columns.get(tuple(path[:end]))
        return None, None


def load_source(
    source: str | bytes,
    filename: str = "<spec>",
    *,
    max_bytes: int = MAX_BYTES,
    max_aliases: int = MAX_ALIASES,
    max_alias_nodes: int = MAX_ALIAS_NODES,
) -> tuple[Any, SourceMap]:
    """Parse one YAML (or JSON) document into plain data and its source map.

    Raises SpecError, located where possible, for a document that is too large, not UTF-8,
    syntactically invalid, or that uses too many aliases.
    """
    raw = source.encode("utf-8") if isinstance(source, str) else source
    if len(raw) > max_bytes:
        raise SpecError("", f"document is {len(raw)} bytes; the limit is {max_bytes}", 1, 1)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        reason = f"document is not valid UTF-8 (byte {exc.start})"
        raise SpecError("", reason, line, column) from None
    try:
        return _load_yaml(text, filename, max_aliases, max_alias_nodes)
    except yaml.MarkedYAMLError as exc:
        if text.lstrip().startswith(("{", "[")):
            return _load_json(text, filename, max_aliases, max_alias_nodes)
        raise _located(exc) from None
    except yaml.YAMLError as exc:
        raise SpecError("", f"invalid YAML: {exc}", 1, 1) from None


def _located(exc: yaml.MarkedYAMLError) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    reason = f"invalid YAML: {exc.problem or 'unreadable document'}"
    if exc.context:
        reason += f" ({exc.context})"
    if mark is None:
        return SpecError("", reason, 1, 1)
    return SpecError("", reason, mark.line + 1, mark.column + 1)


def _load_json(
    text: str, filename: str, max_aliases: int, max_alias_nodes: int
) -> tuple[Any, SourceMap]:
    # Reached when the YAML reader refused a JSON-looking document. JSON allows tabs between
    # tokens where YAML does not, and a JSON string cannot hold a raw tab, so reading the
    # tabs as spaces changes nothing but keeps every value's line and column.
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError("", f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    try:
        return _load_yaml(text.replace("\t", " "), filename, max_aliases, max_alias_nodes)
    except yaml.MarkedYAMLError:
        return json.loads(text), SourceMap(filename, {(): 1}, {(): 1})


def _load_yaml(
    text: str, filename: str, max_aliases: int, max_alias_nodes: int
) -> tuple[Any, SourceMap]:
    loader = _SpecLoader(text, max_aliases, max_alias_nodes)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, SourceMap(filename, {(): 1}, {(): 1})
        data = loader.construct_document(node)
        lines: dict[Path, int] = {(): 1}
        columns: dict[Path, int] = {(): 1}
        for path, line, column in _node_positions(loader, node, ()):
            lines[path], columns[path] = line, column
        return data, SourceMap(filename, lines, columns)
    finally:
        loader.dispose()


def _node_positions(
    loader: _SpecLoader, node: yaml.Node, path: Path
) -> Iterator[tuple[Path, int, int]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)
            child = (*path, key if isinstance(key, int | str) else str(key))
            mark = key_node.start_mark
            yield child, mark.line + 1, mark.column + 1
            yield from _node_positions(loader, value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            mark = item.start_mark
            yield (*path, index), mark.line + 1, mark.column + 1
            yield from _node_positions(loader, item, (*path, index))


class _SpecLoader(yaml.SafeLoader):
    """A safe loader that refuses alias bombs while composing, before anything is expanded."""

    def __init__(self, text: str, max_aliases: int, max_alias_nodes: int) -> None:
        super().__init__(text)
        self.max_aliases = max_aliases
        self.max_alias_nodes = max_alias_nodes
        self.alias_count = 0
        self.alias_nodes = 0
        self.open_anchors: set[str] = set()
        self.sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._check_alias(self.peek_event())
            return super().compose_node(parent, index)
        anchor = self.peek_event().anchor
        if anchor is None:
            return super().compose_node(parent, index)
        self.open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.open_anchors.discard(anchor)

    def _check_alias(self, event: yaml.AliasEvent) -> None:
        line, column = event.start_mark.line + 1, event.start_mark.column + 1
        self.alias_count += 1
        if self.alias_count > self.max_aliases:
            raise SpecError("", f"too many aliases (more than {self.max_aliases})", line, column)
        if event.anchor in self.open_anchors:
            raise SpecError("", f"alias *{event.anchor} refers to itself", line, column)
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # the composer reports the undefined alias with its own message
        self.alias_nodes += self._size(target)
        if self.alias_nodes > self.max_alias_nodes:
            raise SpecError(
                "", f"too many aliases: they expand past {self.max_alias_nodes} nodes", line, column
            )

    def _size(self, node: yaml.Node) -> int:
        """The node's size with every alias expanded, memoized so shared nodes cost once."""
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(item) for item in node.value)
        else:
            size = 1
        self.sizes[id(node)] = size
        return size
