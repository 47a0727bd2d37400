"""A subscription's trigger section (`repo`, `on`, `skip`) compiled into matchers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.errors import SpecError
from schemas.event import Event
from triggers.base import Check, Decision, Matcher
from triggers.matchers import (
    KindMatcher,
    LiveRefMatcher,
    PathMatcher,
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


def compile_subscription(id: int, name: str, spec: dict[str, Any]) -> Subscription:
    """Matchers for the trigger keys of `spec`; SpecError names the first bad field."""
    on = spec.get("on")
    if not isinstance(on, dict) or not on:
        raise SpecError("on", f"required: a mapping with one of {sorted(ON_KINDS)}")
    matchers: list[Matcher] = []
    kinds: set[str] = set()
    for key, value in on.items():
        if key not in ON_KINDS:
            raise SpecError(f"on.{key}", f"unknown event; known: {', '.join(sorted(ON_KINDS))}")
        kinds |= ON_KINDS[key]
        matchers.extend(_push_matchers(value, f"on.{key}"))
    matchers.insert(0, KindMatcher(frozenset(kinds)))
    if "repo" in spec:
        matchers.insert(1, RepoMatcher.from_spec(spec["repo"], "repo"))
    matchers.append(SkipMarkerMatcher.from_spec(spec.get("skip", True), "skip"))
    return Subscription(id, name, tuple(matchers))


def _push_matchers(value: Any, path: str) -> list[Matcher]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise SpecError(path, "expected a mapping of filters (or nothing)")
    unknown = sorted(set(value) - PUSH_KEYS)
    if unknown:
        raise SpecError(
            f"{path}.{unknown[0]}", f"unknown filter; known: {', '.join(sorted(PUSH_KEYS))}"
        )
    matchers: list[Matcher] = [LiveRefMatcher(), RefMatcher.from_spec(value, path)]
    include, ignore = value.get("paths"), value.get("paths-ignore")
    if include is not None and ignore is not None:
        raise SpecError(f"{path}.paths-ignore", "use paths or paths-ignore, not both")
    if include is not None or ignore is not None:
        matchers.append(PathMatcher.from_spec((include, ignore), path))
    return matchers


def evaluate(event: Event, subscriptions: list[Subscription]) -> list[Decision]:
    """One Decision per subscription, in the order given."""
    return [subscription.decide(event) for subscription in subscriptions]
