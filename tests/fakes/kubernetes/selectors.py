"""Label and field selectors as the server parses them: `a=b,c in (x,y),!d`, `status.phase=x`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Which fields each resource can be selected on (every kind also has metadata.name/namespace).
FIELD_LABELS: dict[str, frozenset[str]] = {
    "pods": frozenset(
        {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName"}
        | {"spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}
    ),
    "jobs": frozenset({"status.successful"}),
    "events": frozenset(
        {f"involvedObject.{part}" for part in ("kind", "namespace", "name", "uid")}
        | {f"involvedObject.{part}" for part in ("apiVersion", "resourceVersion", "fieldPath")}
        | {"reason", "reportingComponent", "source", "type"}
    ),
}
_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_TOKEN = re.compile(r"\s*(==|!=|=|>|<|\(|\)|,|!|[^\s=!(),<>]+)")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SET_OPERATORS = {"in", "notin"}


class SelectorError(ValueError):
    """A selector the server cannot parse; its message is the 400's message."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if not present or not value.lstrip("-").isdigit():
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.operator == "gt" else int(value) < bound


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(requirement.matches(labels or {}) for requirement in self.requirements)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the labelSelector query parameter (empty: everything)."""
    tokens = [token for token in _TOKEN.findall(text or "") if token.strip()]
    requirements: list[Requirement] = []
    position = 0
    while position < len(tokens):
        requirement, position = _requirement(tokens, position)
        requirements.append(requirement)
        if position < len(tokens):
            if tokens[position] != ",":
                raise SelectorError(f"found '{tokens[position]}', expected: ',' or 'end of string'")
            position += 1
            if position == len(tokens):
                raise SelectorError("found '', expected: !, identifier, or 'end of string'")
    return LabelSelector(tuple(requirements))


def _requirement(tokens: list[str], position: int) -> tuple[Requirement, int]:
    if tokens[position] == "!":
        key = _identifier(tokens, position + 1)
        return Requirement(key, "!"), position + 2
    key = _identifier(tokens, position)
    position += 1
    if position == len(tokens) or tokens[position] == ",":
        return Requirement(key, "exists"), position
    operator = tokens[position]
    position += 1
    if operator in ("=", "==", "!="):
        value = "" if position == len(tokens) or tokens[position] == "," else tokens[position]
        _check_value(key, value)
        step = 0 if value == "" else 1
        return Requirement(key, "!=" if operator == "!=" else "=", (value,)), position + step
    if operator in (">", "<"):
        value = tokens[position] if position < len(tokens) else ""
        if not value.lstrip("-").isdigit():
            raise SelectorError(
                "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an "
                "integer"
            )
        return Requirement(key, "gt" if operator == ">" else "lt", (value,)), position + 1
    if operator in _SET_OPERATORS:
        values, position = _value_set(tokens, position)
        for value in values:
            _check_value(key, value)
        return Requirement(key, operator, tuple(values)), position
    raise SelectorError(
        f"unable to parse requirement: found '{operator}', expected: in, notin, =, ==, !=, gt, lt"
    )


def _identifier(tokens: list[str], position: int) -> str:
    if position >= len(tokens) or tokens[position] in ("=", "==", "!=", "(", ")", ",", "!"):
        found = tokens[position] if position < len(tokens) else ""
        raise SelectorError(f"unable to parse requirement: found '{found}', expected: identifier")
    return tokens[position]


def _value_set(tokens: list[str], position: int) -> tuple[list[str], int]:
    if position >= len(tokens) or tokens[position] != "(":
        raise SelectorError("unable to parse requirement: found '', expected: '('")
    values: list[str] = []
    position += 1
    while position < len(tokens) and tokens[position] != ")":
        if tokens[position] != ",":
            values.append(tokens[position])
        position += 1
    if position == len(tokens):
        raise SelectorError("unable to parse requirement: found '', expected: ')'")
    if not values:
        raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
    return values, position + 1


def _check_value(key: str, value: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise SelectorError(
            f'unable to parse requirement: values[0][{key}]: Invalid value: "{value}": a valid '
            "label must be an empty string or consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character"
        )


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal?, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, f) == value) == equal for f, equal, value in self.terms)


def parse_field_selector(text: str | None, plural: str) -> FieldSelector:
    """Parse the fieldSelector query parameter; only the fields the resource supports."""
    terms = []
    for term in (text or "").split(","):
        if not term.strip():
            continue
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*", term)
        if not match:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = match.groups()
        if field not in _COMMON_FIELDS | FIELD_LABELS.get(plural, frozenset()):
            raise SelectorError(f"field label not supported: {field}")
        terms.append((field, operator != "!=", value))
    return FieldSelector(tuple(terms))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A field as the server compares it: a string, "" when absent (`source` is the component)."""
    if path == "source":
        path = "source.component"
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def matches_selector_spec(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether labels match a LabelSelector object (matchLabels and matchExpressions)."""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        requirement = Requirement(
            expression["key"],
            operators[expression["operator"]],
            tuple(expression.get("values") or ()),
        )
        if not requirement.matches(labels):
            return False
    return True
