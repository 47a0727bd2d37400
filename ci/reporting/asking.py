"""Whether a run's new status is for anyone to hear, and asking once for its tree's report.

A status is reported by a pass over the whole tree of its run (ci.reporting.reports), so a
burst of transitions in a tree asks for one pass: the asker marks the top run
(`report_asked_at`) and publishes only when it was not marked; the reporter clears the mark
when it takes the tree in hand, before it reads what to report, so a status that comes during
the pass asks again. The sweeper sends the report again when a mark is older than its age.

A tree whose top has no target and whose moving run has no hooks has nobody to tell: the
run's statuses are settled at once (its report cursor moves past them) and nothing is sent.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import Executable, Select, bindparam, func, inspect, literal, select, update
from sqlalchemy.orm import Session, aliased, defer

from ci.reporting import pipelines, run_hooks
from ci.runs import waking
from ci.runtime import Runtime
from ci.store.db import Database, utcnow, without_waiting_for_disk
from ci.store.models import Condition, Run, Subscription
from notifiers.registry import notifiers
from schemas.status import RunStatus

# A run's row without its large documents: a pipeline's top carries its whole dag in them.
LIGHT = (defer(Run.spec), defer(Run.compiled), defer(Run.meta))
_HOOKS = ("component", "hooks")
_NOTIFICATIONS = ("component", "plugins", "notifications")


def ask(rt: Runtime, run_id: int) -> int | None:
    """Ask for a report of `run_id`'s new status; the id of the tree's top when the caller is
    to publish `axon.report_run` for it, None when a pass is already asked for or nobody is
    to hear of it."""
    known = _known(rt.db, run_id)
    if known is not None:  # one statement, one round trip
        top_id, heard = known
        if not heard:
            waking.bookkeep(rt.db, _settling(run_id))
            return None
        return top_id if waking.bookkeep(rt.db, _asking(top_id)) else None
    with rt.db.session() as session:
        without_waiting_for_disk(session)
        known = _look_up(rt, session, run_id)
        if known is None:
            return None
        top_id, heard = known
        if not heard:
            settle(session, run_id)
            return None
        asked = session.execute(_asking(top_id))
        return top_id if getattr(asked, "rowcount", 0) else None


def ask_many(rt: Runtime, run_ids: list[int]) -> list[int]:
    """`ask` for each of `run_ids` (the runs one transaction moved): the tops the caller is
    to publish `axon.report_run` for. The runs this process knows nobody is to hear of are
    settled in one statement, and each tree is asked for once."""
    quiet: list[int] = []
    tops: dict[int, None] = {}
    unknown: list[int] = []
    for run_id in run_ids:
        known = _known(rt.db, run_id)
        if known is None:
            unknown.append(run_id)
        elif known[1]:
            tops[known[0]] = None
        else:
            quiet.append(run_id)
    if not unknown:
        if quiet:
            waking.bookkeep(rt.db, _settling(*quiet))
        return [top_id for top_id in tops if waking.bookkeep(rt.db, _asking(top_id))]
    with rt.db.session() as session:
        without_waiting_for_disk(session)
        for run_id in unknown:
            found = _look_up(rt, session, run_id)
            if found is not None and found[1]:
                tops[found[0]] = None
            elif found is not None:
                quiet.append(run_id)
        if quiet:
            session.execute(_settling(*quiet))
        return [top_id for top_id in tops if _rows(session.execute(_asking(top_id)))]


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))


def _asking(top_id: int) -> Executable:
    return (
        update(Run)
        .where(Run.id == top_id, Run.report_asked_at.is_(None))
        .values(report_asked_at=utcnow(), updated_at=Run.updated_at)  # not a change of state
        .execution_options(synchronize_session=False)
    )


# What an ask reads never changes once a run is compiled (its tree, the top's event, the run's
# hooks) unless the top has a subscription, whose `report` may be edited: such trees are read
# every time; the others once per process, as ci.runs.waking keeps a run's controller.
_TREES: OrderedDict[tuple[str, int], tuple[int, bool]] = OrderedDict()  # node: top, targets?
_OWN: OrderedDict[tuple[str, int], tuple[int | None, bool]] = OrderedDict()  # run: parent, hooks?
# A run is compiled while it is in one of these; never again once it has left them.
_COMPILING = (RunStatus.CREATED, RunStatus.ON_SCHEDULE)
_KEPT = 8192


def remember(session: Session, run: Run) -> None:
    """Keep what an ask reads of `run`'s own row, from a row already loaded and compiled."""
    if {"compiled", "parent_id"} & inspect(run).unloaded or run.status in _COMPILING:
        return
    if not waking.keeps(session):
        return
    if not run.compiled:
        return
    component = run.compiled.get("component") or {}
    hooked = bool(component.get("hooks") or (component.get("plugins") or {}).get("notifications"))
    _keep(_OWN, (str(session.get_bind().engine.url), run.id), (run.parent_id, hooked))


def _keep(kept: OrderedDict[tuple[str, int], Any], key: tuple[str, int], value: Any) -> None:
    kept[key] = value
    while len(kept) > _KEPT:
        kept.popitem(last=False)


def _known(db: Database, run_id: int) -> tuple[int, bool] | None:
    """(the top, whether anyone is to hear) from what this process keeps, None if unknown."""
    url = str(db.engine.url)
    own = _OWN.get((url, run_id))
    if own is None:
        return None
    parent_id, hooked = own
    tree = _TREES.get((url, run_id if parent_id is None else parent_id))
    if tree is None:
        return None
    top_id, targets = tree
    return top_id, hooked or targets


def _look_up(rt: Runtime, session: Session, run_id: int) -> tuple[int, bool] | None:
    found = _at_the_top(session, run_id)
    if found is None:
        return None
    top_id, report, provider, sha, hooked, own = found
    targets = bool(targets_of(rt, report, provider, sha))
    if own is not None and waking.keeps(session):  # compiled, in a tree without a subscription
        url, (parent_id, compiled_hooks) = str(rt.db.engine.url), own
        _keep(_OWN, (url, run_id), (parent_id, compiled_hooks))
        _keep(_TREES, (url, run_id if parent_id is None else parent_id), (top_id, targets))
    return top_id, hooked or targets


def targets_of(
    rt: Runtime, report: dict[str, Any] | None, provider: str | None, sha: str | None
) -> dict[str, dict[str, Any]]:
    """`targets`, from the subscription's `report` (None without one) and the event's forge
    and commit."""
    if report is not None:
        named = run_hooks.named_connections(report)
        return {name: dict(config or {}) for name, config in report.items() if name not in named}
    found: dict[str, dict[str, Any]] = {}
    if provider and provider in notifiers and sha:
        found[provider] = {}
    if rt.settings.notifier_config("slack")["webhook_url"]:
        found["slack"] = {}
    return found


def _top_query() -> Select[Any]:
    """The top of a run's tree (`run_id`), walking up from it, with what its targets are made
    of (its subscription's `report`, its event's forge and commit) and the run's own hooks."""
    up = (
        select(Run.id, Run.parent_id, literal(0).label("depth"))
        .where(Run.id == bindparam("run_id"))
        .cte("up", recursive=True)
    )
    above = aliased(Run)
    up = up.union_all(
        select(above.id, above.parent_id, up.c.depth + 1).where(
            above.id == up.c.parent_id, up.c.depth < pipelines.MAX_DEPTH
        )
    )
    top, own = aliased(Run), aliased(Run)
    return (
        select(
            top.id,
            top.parent_id,
            top.subscription_id,
            Subscription.spec["report"],
            top.event["provider"].as_string(),
            top.event["sha"].as_string(),
            own.compiled[_HOOKS],
            own.compiled[_NOTIFICATIONS],
            own.parent_id,
            own.status.not_in(_COMPILING),
        )
        .select_from(up)
        .join(top, top.id == up.c.id)
        .outerjoin(Subscription, Subscription.id == top.subscription_id)
        .join(own, own.id == bindparam("run_id"))
        .order_by(up.c.depth.desc())
        .limit(1)
    )


# Built once: it is asked on every status of every run.
_TOP = _top_query()


def _at_the_top(
    session: Session, run_id: int
) -> tuple[int, dict[str, Any] | None, str | None, str | None, bool, Any] | None:
    """In one query: the top of `run_id`'s tree, what its targets are made of (none for a top
    with a parent: the chain up is broken), whether `run_id` has hooks, and, when none of it
    can change any more, (its parent, whether it has hooks) to keep."""
    row = session.execute(_TOP, {"run_id": run_id}).first()
    if row is None:
        return None
    top_id, parent_id, subscription_id, report, provider, sha, hooked, notes, up, settled = row
    own = (up, bool(hooked or notes)) if settled and subscription_id is None else None
    if parent_id is not None and subscription_id is None:
        return top_id, {}, None, None, bool(hooked or notes), own
    return top_id, report, provider, sha, bool(hooked or notes), own


def hooks(session: Session, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The runs among `run_ids` with hooks or notifications, each with them in the shape of its
    compiled document (run_hooks.hooks_of reads it); only those parts are read."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(Run.id, Run.compiled[_HOOKS], Run.compiled[_NOTIFICATIONS]).where(
            Run.id.in_(run_ids)
        )
    )
    return {
        run_id: {"component": {"hooks": hooked or [], "plugins": {"notifications": notes or []}}}
        for run_id, hooked, notes in rows
        if hooked or notes
    }


def settle(session: Session, run_id: int) -> None:
    """Move the run's report cursor past every status it has: nobody is to hear of them."""
    session.execute(_settling(run_id))


def _settling(*run_ids: int) -> Executable:
    if len(run_ids) == 1:
        last = select(func.max(Condition.id)).where(Condition.run_id == run_ids[0])
        which = Run.id == run_ids[0]
    else:  # each run's own last condition
        last = select(func.max(Condition.id)).where(Condition.run_id == Run.id).correlate(Run)
        which = Run.id.in_(run_ids)
    return (
        update(Run)
        .where(which, Run.report_cursor < last.scalar_subquery())
        .values(
            report_cursor=last.scalar_subquery(),
            report_resent_at=None,
            report_resent_count=0,
            updated_at=Run.updated_at,
        )
        .execution_options(synchronize_session=False)
    )
