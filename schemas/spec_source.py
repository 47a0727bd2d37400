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
    """Where each value of a loaded document starts: path → 1-based line."""

    filename: str = "<spec>"
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its closest ancestor present in the document."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None


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
        raise SpecError("", f"document is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError("", f"document is not valid UTF-8 (byte {exc.start})") from None
    try:
        return _load_yaml(text, filename, max_aliases, max_alias_nodes)
    except yaml.MarkedYAMLError as exc:
        if text.lstrip().startswith(("{", "[")):
            return _load_json(text, filename)
        raise _located(exc) from None
    except yaml.YAMLError as exc:
        raise SpecError("", f"invalid YAML: {exc}") from None


def _located(exc: yaml.MarkedYAMLError) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    reason = f"invalid YAML: {exc.problem or 'unreadable document'}"
    if exc.context:
        reason += f" ({exc.context})"
    return SpecError("", reason, mark.line + 1 if mark is not None else None)


def _load_json(text: str, filename: str) -> tuple[Any, SourceMap]:
    # Reached only when the YAML reader refused a JSON-looking document (tabs, for one).
    try:
        return json.loads(text), SourceMap(filename)
    except json.JSONDecodeError as exc:
        raise SpecError("", f"invalid JSON: {exc.msg}", exc.lineno) from None


def _load_yaml(
    text: str, filename: str, max_aliases: int, max_alias_nodes: int
) -> tuple[Any, SourceMap]:
    loader = _SpecLoader(text, max_aliases, max_alias_nodes)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, SourceMap(filename, {(): 1})
        data = loader.construct_document(node)
        lines = dict(_node_lines(loader, node, ()))
        lines.setdefault((), 1)
        return data, SourceMap(filename, lines)
    finally:
        loader.dispose()


def _node_lines(loader: _SpecLoader, node: yaml.Node, path: Path) -> Iterator[tuple[Path, int]]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)
            child = (*path, key if isinstance(key, int | str) else str(key))
            yield child, key_node.start_mark.line + 1
            yield from _node_lines(loader, value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield (*path, index), item.start_mark.line + 1
            yield from _node_lines(loader, item, (*path, index))


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
        line = event.start_mark.line + 1
        self.alias_count += 1
        if self.alias_count > self.max_aliases:
            raise SpecError("", f"too many aliases (more than {self.max_aliases})", line)
        if event.anchor in self.open_anchors:
            raise SpecError("", f"alias *{event.anchor} refers to itself", line)
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # the composer reports the undefined alias with its own message
        self.alias_nodes += self._size(target)
        if self.alias_nodes > self.max_alias_nodes:
            raise SpecError(
                "", f"too many aliases: they expand past {self.max_alias_nodes} nodes", line
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
