"""Matching many subscriptions without a scan.

A SubscriptionIndex, built once from compiled subscriptions, files each one in buckets by
event kind, provider and repository (a literal name, or "any" for a subscription that names
none or uses globs), and within a bucket by the patterns its filters put on the event's branch,
tag or image. `lookup(event)` finds the candidates in a few dict lookups and the globs whose
literal prefix the value starts with; only those are decided. A candidate is a subscription
that could match: deciding it gives the same Decision as the plain `evaluate`, and every
subscription `evaluate` matches is a candidate. The others get no Decision; `Lookup.summary()`
says how many there were and why, for the decision log. `replaced` makes the index of a changed
set, building again only the buckets the changed subscriptions are filed in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
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


Key = tuple[str, str, str]  # event kind, provider, repository: ANY for none or globs


class SubscriptionIndex:
    """Buckets of subscriptions, each filed under its id: ids are unique within an index."""

    def __init__(self, subscriptions: Iterable[Subscription]) -> None:
        self.by_id: dict[int, Subscription] = {}
        self.buckets: dict[Key, _Bucket] = {}
        for subscription in subscriptions:
            if subscription.id in self.by_id:
                raise ValueError(f"two subscriptions with id {subscription.id}")
            self.by_id[subscription.id] = subscription
            for key, section, repo in _placements(subscription):
                self._bucket(key).add(subscription.id, section, repo)

    def __len__(self) -> int:
        return len(self.by_id)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Every subscription, in the order of their ids."""
        return tuple(self.by_id[id] for id in sorted(self.by_id))

    def _bucket(self, key: Key) -> _Bucket:
        if key not in self.buckets:
            self.buckets[key] = _Bucket(repo_globs=key[2] == ANY)
        return self.buckets[key]

    def replaced(
        self, removed: Collection[int], added: Iterable[Subscription]
    ) -> SubscriptionIndex:
        """A new index: this one without the subscriptions whose ids `removed` names and with
        `added` (one in both is replaced). Only the buckets either is filed in are built again,
        so a change costs what those buckets hold, not what the index does. This index stays
        as it was, for whoever is still reading it."""
        placed = {s.id: list(_placements(s)) for s in added}
        gone = [self.by_id[id] for id in removed if id in self.by_id]
        index = SubscriptionIndex(())
        index.by_id = {id: s for id, s in self.by_id.items() if id not in removed}
        for subscription in added:
            if subscription.id in index.by_id:
                raise ValueError(f"two subscriptions with id {subscription.id}")
            index.by_id[subscription.id] = subscription
        index.buckets = dict(self.buckets)
        touched = {key for s in gone for key, _, _ in _placements(s)}
        touched.update(key for places in placed.values() for key, _, _ in places)
        for key in touched:
            old = self.buckets.get(key)
            kept = [id for id in (old.members if old else ()) if id in index.by_id]
            index.buckets.pop(key, None)
            for id in kept:
                if id not in placed:
                    for at, section, repo in _placements(index.by_id[id]):
                        if at == key:
                            index._bucket(key).add(id, section, repo)
            for id, places in placed.items():
                for at, section, repo in places:
                    if at == key:
                        index._bucket(key).add(id, section, repo)
        return index

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
        candidates = tuple(self.by_id[id] for id in sorted(found))
        return Lookup(event, candidates, listening, len(self.by_id))

    def candidates(self, event: Event) -> list[Subscription]:
        """The subscriptions that could match `event`, in the order of their ids."""
        return list(self.lookup(event).candidates)

    def evaluate(self, event: Event) -> list[Decision]:
        """A Decision for each candidate; the plain `evaluate` would match no other."""
        return [subscription.decide(event) for subscription in self.lookup(event).candidates]


def _placements(subscription: Subscription) -> Iterator[tuple[Key, Section, GlobList | None]]:
    """Where the subscription is filed: per bucket, its section there and the repository
    globs the bucket still has to check (None: the bucket's repository is its own)."""
    providers = sorted(subscription.provider.names) if subscription.provider else [ANY]
    repo = subscription.repo.globs if subscription.repo else None
    literal = repo is not None and all(_plain(pattern) for pattern in repo.patterns)
    for section in subscription.sections:
        for kind in section.kinds:
            if kind == "schedule":
                # Axon's schedule slots name no repository; a generic hook's still gets its
                # repository and provider checked when decided.
                yield (kind, ANY, ANY), section, None
                continue
            for provider in providers:
                if literal and repo is not None:
                    for name in repo.patterns:
                        yield (kind, provider, name), section, None
                else:
                    yield (kind, provider, ANY), section, repo


def _plain(pattern: str) -> bool:
    return not pattern.startswith("!") and literal_prefix(pattern) == pattern
