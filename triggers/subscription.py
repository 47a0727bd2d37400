"""A subscription's trigger keys (`repo`, `provider`, `on`, `skip`, `concurrency`) compiled into
matchers that decide each event with a reason for every check.

`on:` takes a mapping of event keys to their filters (triggers.on lists them), or, as in
GitHub Actions, one key (`on: push`) or a list of keys (`on: [push, pull_request]`). Each key's
filters apply to its own events only. `repo` (globs) and `provider` (names) apply to every
event but one of Axon's schedule slots (provider `schedule`): ci hands such an event to the
subscription that owns the schedule only. `skip: false` ignores skip markers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.errors import SpecError
from schemas.event import Event
from triggers.base import Check, Decision, Errors, Matcher
from triggers.concurrency import Concurrency
from triggers.matchers import KindMatcher, ProviderMatcher, RepoMatcher, SkipMarkerMatcher
from triggers.on import ON_KEYS
from triggers.sections import Section, hint

TRIGGER_KEYS = frozenset({"repo", "provider", "on", "skip"})
# Also read by compile_subscription; ci lists it among a subscription's keys once it carries
# out the concurrency decisions.
POLICY_KEYS = frozenset({"concurrency"})
# The events GitHub Actions reads skip markers for; the check says why a pull request is not.
SKIP_KINDS = frozenset({"push", "tag", "pull_request"})
# The provider name of the events Axon's own scheduler makes.
SCHEDULER = "schedule"


@dataclass(frozen=True)
class Subscription:
    """A subscription's filter, ready to check events against."""

    id: int
    name: str
    sections: tuple[Section, ...]
    repo: RepoMatcher | None = None
    provider: ProviderMatcher | None = None
    skip: SkipMarkerMatcher = field(default_factory=lambda: SkipMarkerMatcher(True))
    concurrency: Concurrency | None = None
    by_kind: Mapping[str, Section] = field(init=False, repr=False, compare=False)
    kind: KindMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kind = {kind: section for section in self.sections for kind in section.kinds}
        object.__setattr__(self, "by_kind", by_kind)
        object.__setattr__(self, "kind", KindMatcher(frozenset(by_kind)))

    def matchers(self, event: Event) -> list[Matcher]:
        """The checks `event` goes through, in the order the decision log shows them."""
        section = self.by_kind.get(event.kind)
        if event.kind == "schedule" and event.provider == SCHEDULER and section is not None:
            return [self.kind]
        found: list[Matcher] = [self.kind]
        found += [m for m in (self.repo, self.provider) if m is not None]
        if section is not None:
            found += section.matchers
            if event.kind in SKIP_KINDS:
                found.append(self.skip)
        return found

    def decide(self, event: Event) -> Decision:
        # Every check runs, so the decision log says everything that did not match.
        verdicts = [(m.name, m.check(event)) for m in self.matchers(event)]
        checks = tuple(Check(name, v.ok, v.reason) for name, v in verdicts)
        if not all(c.ok for c in checks):
            return Decision(self.id, self.name, False, checks)
        asked = next((v for _, v in verdicts if v.command), None)
        if asked is None:
            return Decision(self.id, self.name, True, checks)
        return Decision(self.id, self.name, True, checks, asked.command, dict(asked.params))


def compile_subscription(id: int, name: str, spec: dict[str, Any]) -> Subscription:
    """Matchers for the trigger keys of `spec`; SpecError (or SpecErrors) names each bad field."""
    errors = Errors()
    repo = provider = concurrency = None
    if "repo" in spec:
        repo = errors.attempt(lambda: RepoMatcher.from_spec(spec["repo"], "repo"))
    if "provider" in spec:
        provider = errors.attempt(lambda: ProviderMatcher.from_spec(spec["provider"], "provider"))
    skip = errors.attempt(lambda: SkipMarkerMatcher.from_spec(spec.get("skip", True), "skip"))
    if "concurrency" in spec:
        value = spec["concurrency"]
        concurrency = errors.attempt(lambda: Concurrency.from_spec(value, "concurrency"))
    sections = _sections(spec.get("on"), errors, _command_names(name, spec))
    errors.raise_any()
    return Subscription(
        id, name, sections, repo, provider, skip or SkipMarkerMatcher(True), concurrency
    )


def _sections(on: Any, errors: Errors, names: tuple[str, ...]) -> tuple[Section, ...]:
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list) and on and all(isinstance(key, str) for key in on):
        on = dict.fromkeys(on)
    if not isinstance(on, dict) or not on:
        errors.append(SpecError("on", f"required: a mapping with one of {sorted(ON_KEYS)}"))
        return ()
    sections = []
    for key, value in on.items():
        build = ON_KEYS.get(key)
        if build is None:
            errors.append(SpecError(f"on.{key}", f"unknown event; {hint(str(key), list(ON_KEYS))}"))
            continue
        sections.append(build(value, f"on.{key}", errors, names))
    return tuple(sections)


def _command_names(name: str, spec: dict[str, Any]) -> tuple[str, ...]:
    """What `/axon run <name>` may call this subscription: its name and its operation's."""
    operation = spec.get("operation")
    named = [name, operation.get("name") if isinstance(operation, dict) else None]
    return tuple(dict.fromkeys(n for n in named if isinstance(n, str) and n and " " not in n))


def evaluate(event: Event, subscriptions: list[Subscription]) -> list[Decision]:
    """One Decision per subscription, in the order given."""
    return [subscription.decide(event) for subscription in subscriptions]
