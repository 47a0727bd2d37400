"""A subscription's trigger keys (`repo`, `provider`, `on`, `skip`, `concurrency`) compiled into
matchers that decide each event with a reason for every check.

`on:` takes a mapping of event keys to their filters (triggers.on lists them), or, as in
GitHub Actions, one key (`on: push`) or a list of keys (`on: [push, pull_request]`). Each key's
filters apply to its own events only. `repo` (globs) and `provider` (names) apply to every
event but one of Axon's schedule slots (provider `schedule`): ci hands such an event to the
subscription that owns the schedule only. `skip: false` ignores skip markers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas.event import Event
from triggers.base import Check, Decision, Matcher
from triggers.concurrency import Concurrency
from triggers.matchers import KindMatcher, ProviderMatcher, RepoMatcher, SkipMarkerMatcher
from triggers.model_base import parts, raise_spec_errors, spec_errors
from triggers.sections import Section
from triggers.trigger_models import Trigger

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
    trigger = read_trigger(spec, name)
    concurrency = trigger.concurrency.rule if trigger.concurrency is not None else None
    return Subscription(
        id, name, trigger.on.sections, trigger.repo, trigger.provider, trigger.skip, concurrency
    )


def read_trigger(spec: dict[str, Any], name: str, model: type[Trigger] = Trigger) -> Trigger:
    """`spec` validated as `model` (the trigger keys, or ci's whole document); SpecError (or
    SpecErrors) names each bad field."""
    try:
        return model.model_validate(spec, context={"names": _command_names(name, spec)})
    except ValidationError as exc:
        written = _written_order(spec.get("on"))
        raise_spec_errors(sorted(spec_errors(exc), key=lambda error: written(error.path)))
        raise


def _written_order(on: Any) -> Callable[[str], int]:
    """For sorting errors: the `on:` keys' problems in the order the keys are written."""
    keys = [str(key) for key in on] if isinstance(on, dict | list) else []

    def place(path: str) -> int:
        found = parts(path)
        if len(found) > 1 and found[0] == "on" and found[1] in keys:
            return keys.index(str(found[1]))
        return 0

    return place


def _command_names(name: str, spec: dict[str, Any]) -> tuple[str, ...]:
    """What `/axon run <name>` may call this subscription: its name and its operation's."""
    operation = spec.get("operation")
    named = [name, operation.get("name") if isinstance(operation, dict) else None]
    return tuple(dict.fromkeys(n for n in named if isinstance(n, str) and n and " " not in n))


def evaluate(event: Event, subscriptions: list[Subscription]) -> list[Decision]:
    """One Decision per subscription, in the order given."""
    return [subscription.decide(event) for subscription in subscriptions]
