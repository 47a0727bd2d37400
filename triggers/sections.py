"""A compiled `on:` key, and the pieces every key's filters are built from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from schemas.errors import SpecError
from schemas.event import Event
from schemas.spelling import did_you_mean
from triggers.base import Matcher, Verdict
from triggers.globs import GlobList


@dataclass(frozen=True)
class Section:
    """What one `on:` key listens to: its event kinds and the matchers of its filters.

    `refs` tells an index which events could pass without running the matchers: per event
    field ("branch", "tag", "image"), the patterns that field must match (None: any value); a
    field left out rejects every event that carries it. `refs` None: no field is filtered.
    """

    key: str
    kinds: frozenset[str]
    matchers: tuple[Matcher, ...] = ()
    refs: Mapping[str, GlobList | None] | None = None


def hint(word: str, known: list[str]) -> str:
    listed = ", ".join(known)
    close = did_you_mean(word, known)
    return f"{close} known: {listed}" if close else f"known: {listed}"


def flag(value: dict[str, Any], key: str, path: str, default: bool | None) -> bool | None:
    found = value.get(key, default)
    if found is not None and not isinstance(found, bool):
        raise SpecError(f"{path}.{key}", "expected true or false")
    return found


def names(value: Any, path: str, what: str) -> tuple[str, ...]:
    """A name or a non-empty list of names (labels, types), as given."""
    listed = [value] if isinstance(value, str) else value
    if not isinstance(listed, list) or not listed:
        raise SpecError(path, f"expected a {what} or a non-empty list of them")
    for index, name in enumerate(listed):
        if not isinstance(name, str) or not name.strip():
            where = path if isinstance(value, str) else f"{path}[{index}]"
            raise SpecError(where, f"expected a non-empty {what}")
    return tuple(listed)


def action_of(event: Event) -> str:
    """What happened: a pull request's action, else the payload's (release, workflow run)."""
    if event.pull_request is not None:
        return event.pull_request.action
    return str(event.raw.get("action") or "")


class TypesMatcher(Matcher):
    """`types`: the activities that count. Subclasses name the known ones and the default."""

    name = "type"
    noun: ClassVar[str]
    known: ClassVar[frozenset[str]]

    def __init__(self, types: tuple[str, ...], defaulted: bool = False) -> None:
        self.types, self.defaulted = types, defaulted

    @classmethod
    def from_spec(cls, value: Any, path: str) -> TypesMatcher:
        types = names(value, path, "type")
        for index, given in enumerate(types):
            if given not in cls.known:
                where = path if isinstance(value, str) else f"{path}[{index}]"
                raise SpecError(where, f"unknown type {given!r}; {hint(given, sorted(cls.known))}")
        return cls(types)

    def check(self, event: Event) -> Verdict:
        action = action_of(event)
        if not action:
            return Verdict(False, f"the {self.noun} event names no action")
        listed = f"{list(self.types)}{' (the default types)' if self.defaulted else ''}"
        if action in self.types:
            return Verdict(True, f"{self.noun} action {action!r} is one of {listed}")
        return Verdict(False, f"{self.noun} action {action!r} is not one of {listed}")
