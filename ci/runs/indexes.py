"""Each project's subscriptions compiled and indexed once per process, not once per delivery.

Compiling a project's subscriptions and indexing them takes seconds at 10,000 of them
(tests/benchmarks/dispatch.py), and deciding a delivery against the index milliseconds. Whether
a process's copy is current is one read: the project's version in `subscription_versions`,
which the database changes in the transaction of any write to the project's subscriptions,
whoever writes (migration 0009's triggers); dispatch reads it with the delivery's lock. A copy
at another version is brought up to date by compiling again only the subscriptions whose
revision changed, and replacing them in the index. So the next delivery after a change sees it
on every process, the API's and the workers', with no message between them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.store.models import Subscription
from schemas.errors import SpecError, SpecErrors
from triggers.base import Check, Decision
from triggers.index import SubscriptionIndex
from triggers.subscription import Subscription as Filter
from triggers.subscription import compile_subscription

# Compiled subscriptions kept per process, of all projects and databases; past it the least
# recently used projects go. 10,000 of them grew the process by about 35 MB
# (tests/benchmarks/dispatch.py, `first_delivery`).
MOST_SUBSCRIPTIONS = 50_000
# Ids per IN list when fetching what changed (SQLite takes at most 999 parameters in old builds).
BATCH = 500


@dataclass(frozen=True)
class Broken:
    """A stored subscription this Axon cannot compile: every event is decided against it as
    not matched, with the reason."""

    id: int
    name: str
    reason: str

    def decision(self) -> Decision:
        return Decision(self.id, self.name, False, (Check("spec", False, self.reason),))


@dataclass(frozen=True)
class Entry:
    """One subscription as compiled from one revision of it, with that revision's operation:
    what its runs run, read with its filter rather than again for each matched event. The
    operation is kept as JSON text: a tenth of the memory of the parsed document (10,000 of
    the benchmark's: 5.6 MB against 51 MB), and no run can change the copy the next one reads.
    """

    revision: int
    compiled: Filter | Broken
    operation: str | None = None


@dataclass(frozen=True)
class Compiled:
    """A project's active (not paused) subscriptions as of one version: the index of those
    that compile, and those that do not."""

    version: int | None
    entries: Mapping[int, Entry]
    index: SubscriptionIndex
    broken: tuple[Broken, ...]


_cache: dict[tuple[str, int], Compiled] = {}
_lock = threading.Lock()


def alone(row: Subscription) -> Compiled:
    """One subscription compiled on its own, kept nowhere: a schedule's slot is decided by its
    own subscription only, and compiling one costs less than checking a project's copy."""
    entries = (
        {}
        if row.paused
        else {
            row.id: Entry(row.revision, _compile(row.id, row.name, row.spec), _operation(row.spec))
        }
    )
    filters = [e.compiled for e in entries.values() if isinstance(e.compiled, Filter)]
    return Compiled(None, entries, SubscriptionIndex(filters), _broken(entries))


def forget() -> None:
    """Drop this process's copies: each project's next delivery compiles them again."""
    with _lock:
        _cache.clear()


def current(session: Session, project_id: int, version: int | None) -> Compiled:
    """The project's subscriptions compiled as of `version`, its `subscription_versions` row
    as just read in this session (None: it has none); this process's copy if that is its."""
    key = (_database(session), project_id)
    with _lock:
        kept = _cache.pop(key, None)
        if kept is not None:
            _cache[key] = kept  # now the most recently used
    if kept is not None and kept.version == version:
        return kept
    # The version was read before the rows: a write committed in between makes the copy newer
    # than its version says, and the next delivery, reading the newer version, updates it again.
    fresh = _refresh(session, project_id, version, kept)
    with _lock:
        _cache[key] = fresh
        while len(_cache) > 1 and sum(len(c.entries) for c in _cache.values()) > MOST_SUBSCRIPTIONS:
            del _cache[next(iter(_cache))]  # the least recently used, never the one just made
    return fresh


def _refresh(
    session: Session, project_id: int, version: int | None, kept: Compiled | None
) -> Compiled:
    """`kept` brought to `version`: the subscriptions whose revision changed compiled again."""
    listed = dict(
        session.execute(
            select(Subscription.id, Subscription.revision).where(
                Subscription.project_id == project_id, Subscription.paused.is_(False)
            )
        ).all()
    )
    if kept is None:
        entries = dict(_compile_rows(session, sorted(listed)))
        filters = [e.compiled for e in entries.values() if isinstance(e.compiled, Filter)]
        return Compiled(version, entries, SubscriptionIndex(filters), _broken(entries))
    old = kept.entries
    stale = [id for id, revision in listed.items() if id not in old or old[id].revision != revision]
    gone = old.keys() - listed.keys()  # deleted or paused
    if not stale and not gone:
        return replace(kept, version=version)
    fresh = dict(_compile_rows(session, stale))
    changed = {id for id in gone.union(stale) if id in old}
    entries = dict(old)
    for id in changed:
        del entries[id]
    entries.update(fresh)  # one listed but gone by the time it was fetched stays out
    added = [e.compiled for e in fresh.values() if isinstance(e.compiled, Filter)]
    if len(changed) + len(added) > len(entries) // 4:
        # Replacing costs more per subscription than building: build when most changed.
        filters = [e.compiled for e in entries.values() if isinstance(e.compiled, Filter)]
        return Compiled(version, entries, SubscriptionIndex(filters), _broken(entries))
    broken = [b for b in kept.broken if b.id not in changed]
    broken += [e.compiled for e in fresh.values() if isinstance(e.compiled, Broken)]
    index = kept.index.replaced(changed, added)
    return Compiled(version, entries, index, tuple(sorted(broken, key=lambda b: b.id)))


def _broken(entries: Mapping[int, Entry]) -> tuple[Broken, ...]:
    found = (e.compiled for e in entries.values() if isinstance(e.compiled, Broken))
    return tuple(sorted(found, key=lambda broken: broken.id))


def _compile_rows(session: Session, ids: list[int]) -> Iterator[tuple[int, Entry]]:
    for start in range(0, len(ids), BATCH):
        rows = session.execute(
            select(Subscription.id, Subscription.name, Subscription.spec, Subscription.revision)
            .where(Subscription.id.in_(ids[start : start + BATCH]))
            .where(Subscription.paused.is_(False))
        )
        for id, name, spec, revision in rows:
            yield id, Entry(revision, _compile(id, name, spec), _operation(spec))


def _operation(spec: dict[str, Any]) -> str | None:
    found = spec.get("operation")
    return json.dumps(found, separators=(",", ":")) if isinstance(found, dict) else None


def _compile(id: int, name: str, spec: dict[str, Any]) -> Filter | Broken:
    try:
        return compile_subscription(id, name, spec)
    except (SpecError, SpecErrors) as exc:
        # Stored subscriptions are validated, but a newer Axon may read them differently.
        return Broken(id, name, f"the subscription is invalid: {exc}")


def _database(session: Session) -> str:
    """Which database: the same project id names different projects in two of them."""
    return session.get_bind().engine.url.render_as_string(hide_password=True)
