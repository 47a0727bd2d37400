"""Matching many subscriptions without a scan.

A SubscriptionIndex, built once from compiled subscriptions, files each one in buckets by
event kind, provider and repository (a literal name, or "any" for a subscription that names
none or uses globs), and within a bucket by the patterns its filters put on the event's branch,
tag or image. `lookup(event)` finds the candidates in a few dict lookups and the globs whose
literal prefix the value starts with; only those are decided. A candidate is a subscription
that could match: deciding it gives the same Decision as the plain `evaluate`, and every
subscription `evaluate` matches is a candidate. The others get no Decision; `Lookup.summary()`
says how many there were and why, for the decision log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.event import Event
from triggers.base import Decision
from triggers.globs import GlobList, GlobSet, literal_prefix
from triggers.sections import Section
from triggers.subscription import Subscription

ANY = ""
# The kinds whose branch or tag a RefMatcher checks, and the field other kinds' filters read.
REF_KINDS = frozenset({"push", "tag", "create", "delete"})
FIELDS = {
    "pull_request": "branch",
    "workflow_run": "branch",
    "rerequest": "branch",
    "release": "tag",
    "registry": "image",
}


def filtered_value(event: Event) -> tuple[str, str] | None:
    """The event field the sections' `refs` filter, with its value; None: no field is."""
    if event.kind in REF_KINDS:
        if event.branch:
            return "branch", event.branch
        return ("tag", event.tag) if event.tag else None
    field = FIELDS.get(event.kind)
    return (field, str(getattr(event, field))) if field else None


class _Bucket:
    """The subscriptions listening to one kind of event from one provider and repository."""

    def __init__(self, repo_globs: bool) -> None:
        self.members: set[int] = set()
        self.unfiltered: set[int] = set()  # their section filters no branch, tag or image
        self.fields: dict[str, GlobSet] = {}
        self.repos = GlobSet() if repo_globs else None

    def add(self, member: int, section: Section, repo: GlobList | None) -> None:
        self.members.add(member)
        if self.repos is not None:
            self.repos.add(member, repo)
        if section.refs is None:
            self.unfiltered.add(member)
            return
        for field, globs in section.refs.items():
            self.fields.setdefault(field, GlobSet()).add(member, globs)

    def find(self, event: Event, value: tuple[str, str] | None) -> tuple[set[int], set[int]]:
        """(members listening to the event's repository, those that could match)."""
        listening = self.members if self.repos is None else self.repos.find(event.repo)
        if value is None or not listening:
            return listening, listening
        field, text = value
        index = self.fields.get(field)
        passing = self.unfiltered | index.find(text) if index is not None else self.unfiltered
        return listening, listening & passing


@dataclass(frozen=True)
class Lookup:
    """The candidates for one event, and how many subscriptions were passed over and why."""

    event: Event
    candidates: tuple[Subscription, ...]
    listening: int  # subscriptions listening to this kind of event from this repository
    total: int

    @property
    def other_events(self) -> int:
        return self.total - self.listening

    @property
    def other_refs(self) -> int:
        return self.listening - len(self.candidates)

    def summary(self) -> str:
        """For the decision log: the subscriptions that got no Decision, counted by reason."""
        parts = []
        if self.other_events:
            parts.append(f"{self.other_events} listen to other events or repositories")
        value = filtered_value(self.event)
        if self.other_refs and value is not None:
            where = f"{self.event.kind} events of {self.event.repo or 'this source'}"
            parts.append(f"{self.other_refs} listen to {where} but not to {value[0]} {value[1]!r}")
        if not parts:
            return "every subscription is a candidate"
        return "not candidates: " + "; ".join(parts)


class SubscriptionIndex:
    def __init__(self, subscriptions: Iterable[Subscription]) -> None:
        self.subscriptions = tuple(subscriptions)
        self.buckets: dict[tuple[str, str, str], _Bucket] = {}
        for member, subscription in enumerate(self.subscriptions):
            self._add(member, subscription)

    def __len__(self) -> int:
        return len(self.subscriptions)

    def _add(self, member: int, subscription: Subscription) -> None:
        providers = sorted(subscription.provider.names) if subscription.provider else [ANY]
        repo = subscription.repo.globs if subscription.repo else None
        literal = repo is not None and all(_plain(pattern) for pattern in repo.patterns)
        for section in subscription.sections:
            for kind in section.kinds:
                if kind == "schedule":
                    # Axon's schedule slots name no repository; a generic hook's still gets
                    # its repository and provider checked when decided.
                    self._bucket(kind, ANY, ANY).add(member, section, None)
                    continue
                for provider in providers:
                    if literal and repo is not None:
                        for name in repo.patterns:
                            self._bucket(kind, provider, name).add(member, section, None)
                    else:
                        self._bucket(kind, provider, ANY).add(member, section, repo)

    def _bucket(self, kind: str, provider: str, repo: str) -> _Bucket:
        key = (kind, provider, repo)
        if key not in self.buckets:
            self.buckets[key] = _Bucket(repo_globs=repo == ANY)
        return self.buckets[key]

    def lookup(self, event: Event) -> Lookup:
        value = filtered_value(event)
        keys = {(event.kind, p, r) for p in (event.provider, ANY) for r in (event.repo, ANY)}
        listening, found = 0, set()
        for key in keys:
            bucket = self.buckets.get(key)
            if bucket is not None:
                heard, passing = bucket.find(event, value)
                listening += len(heard)
                found |= passing
        candidates = tuple(self.subscriptions[member] for member in sorted(found))
        return Lookup(event, candidates, listening, len(self.subscriptions))

    def candidates(self, event: Event) -> list[Subscription]:
        """The subscriptions that could match `event`, in the order the index was given them."""
        return list(self.lookup(event).candidates)

    def evaluate(self, event: Event) -> list[Decision]:
        """A Decision for each candidate; the plain `evaluate` would match no other."""
        return [subscription.decide(event) for subscription in self.lookup(event).candidates]


def _plain(pattern: str) -> bool:
    return not pattern.startswith("!") and literal_prefix(pattern) == pattern
