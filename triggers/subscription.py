"""A subscription's trigger section (`repo`, `on`, `skip`) compiled into matchers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from schemas.errors import SpecError, SpecErrors
from schemas.event import Event
from triggers.base import Check, Decision, Matcher
from triggers.matchers import (
    KindMatcher,
    LiveRefMatcher,
    PathMatcher,
    RefFilter,
    RefMatcher,
    RepoMatcher,
    SkipMarkerMatcher,
)

# `on:` keys this version understands, and the event kinds each one listens to.
ON_KINDS: dict[str, frozenset[str]] = {"push": frozenset({"push", "tag"})}
PUSH_KEYS = frozenset(
    {"branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"}
)
TRIGGER_KEYS = frozenset({"repo", "on", "skip"})
T = TypeVar("T")


@dataclass(frozen=True)
class Subscription:
    """A subscription's filter, ready to check events against."""

    id: int
    name: str
    matchers: tuple[Matcher, ...]

    def decide(self, event: Event) -> Decision:
        # Every check runs, so the decision log says everything that did not match.
        checks = tuple(Check(m.name, *_verdict(m, event)) for m in self.matchers)
        return Decision(self.id, self.name, all(c.ok for c in checks), checks)


def _verdict(matcher: Matcher, event: Event) -> tuple[bool, str]:
    verdict = matcher.check(event)
    return verdict.ok, verdict.reason


class _Errors(list[SpecError]):
    """Collects every bad field, so one answer lists them all."""

    def attempt(self, build: Callable[[], T]) -> T | None:
        try:
            return build()
        except SpecError as exc:
            self.append(exc)
            return None

    def raise_any(self) -> None:
        if len(self) == 1:
            raise self[0]
        if self:
            raise SpecErrors(list(self))


def compile_subscription(id: int, name: str, spec: dict[str, Any]) -> Subscription:
    """Matchers for the trigger keys of `spec`; SpecError (or SpecErrors) names each bad field."""
    errors = _Errors()
    repo = (
        errors.attempt(lambda: RepoMatcher.from_spec(spec["repo"], "repo"))
        if "repo" in spec
        else None
    )
    on = spec.get("on")
    if not isinstance(on, dict) or not on:
        errors.append(SpecError("on", f"required: a mapping with one of {sorted(ON_KINDS)}"))
        on = {}
    kinds: set[str] = set()
    matchers: list[Matcher | None] = []
    for key, value in on.items():
        if key not in ON_KINDS:
            known = ", ".join(sorted(ON_KINDS))
            errors.append(SpecError(f"on.{key}", f"unknown event; known: {known}"))
            continue
        kinds |= ON_KINDS[key]
        matchers.extend(_push_matchers(value, f"on.{key}", errors))
    matchers.insert(0, repo)
    matchers.append(
        errors.attempt(lambda: SkipMarkerMatcher.from_spec(spec.get("skip", True), "skip"))
    )
    errors.raise_any()
    kind = KindMatcher(frozenset(kinds))
    return Subscription(id, name, (kind, *(m for m in matchers if m is not None)))


def _push_matchers(value: Any, path: str, errors: _Errors) -> list[Matcher | None]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        errors.append(SpecError(path, "expected a mapping of filters (or nothing)"))
        return []
    known = ", ".join(sorted(PUSH_KEYS))
    errors.extend(
        SpecError(f"{path}.{key}", f"unknown filter; known: {known}")
        for key in sorted(set(value) - PUSH_KEYS)
    )
    branches = errors.attempt(lambda: RefFilter.from_spec(value, path, "branches", "branch"))
    tags = errors.attempt(lambda: RefFilter.from_spec(value, path, "tags", "tag"))
    matchers: list[Matcher | None] = [LiveRefMatcher(), RefMatcher(branches, tags)]
    include, ignore = value.get("paths"), value.get("paths-ignore")
    if include is not None and ignore is not None:
        errors.append(SpecError(f"{path}.paths-ignore", "use paths or paths-ignore, not both"))
    elif include is not None or ignore is not None:
        matchers.append(errors.attempt(lambda: PathMatcher.from_spec((include, ignore), path)))
    return matchers


def evaluate(event: Event, subscriptions: list[Subscription]) -> list[Decision]:
    """One Decision per subscription, in the order given."""
    return [subscription.decide(event) for subscription in subscriptions]
