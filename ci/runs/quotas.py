"""Quotas per org, team and project, enforced when a run is admitted to its runner.

A quota limits what the runs of its scope hold at once: concurrent runs, CPU cores, memory
bytes and GPUs, read from each run's compiled resources (requests, else limits; a run without
them counts 0 of a resource and 1 run). `ci.runs.launch` asks `check` before each submit with
the quota rows locked FOR UPDATE, so two workers never both take the last room; a run over
quota waits `queued` with the reason, or fails if its subscription says `quota: refuse`. When a
run ends, `wake_waiting` sends the starts of the runs waiting in its scopes, those of the
higher-priority queues first; the sweeper sends every queued run's start again later.

Who goes first is chosen in SQL over every waiting run of the scopes: each run's queue is read
from its compiled JSON and joined to its project's queue priorities, so the database sorts the
waiting runs without any of them (or their compiled documents) leaving it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, tuple_
from sqlalchemy.orm import Session

from ci import runtime
from ci.runs import profiles, quantities
from ci.runs.capacity import queue_of
from ci.runs.quota_scopes import projects_in, quotas_of, scopes_of
from ci.store.db import after_commit
from ci.store.models import Project, Quota, Run, RunQueue
from schemas.status import DONE, ON_RUNNER, RunStatus

log = logging.getLogger(__name__)
KINDS = ("org", "team", "project")
WAKE_PER_END = 3  # waiting runs whose start one ending run sends: spares for stopped ones
REFUSE, WAIT = "refuse", "wait"


@dataclass(frozen=True)
class Demand:
    """What runs hold: a count, CPU cores, memory bytes, GPUs."""

    runs: int = 0
    cpu: float = 0.0
    memory: int = 0
    gpu: int = 0

    def __add__(self, other: Demand) -> Demand:
        return Demand(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Refusal:
    """Why a run cannot be admitted now; `final` when it never can (it alone is over a limit)."""

    reason: str
    final: bool = False


def demand(compiled: dict[str, Any] | None) -> Demand:
    """What one compiled run holds while it runs (every replica of a distributed run)."""
    run = ((compiled or {}).get("component") or {}).get("run") or {}
    total = Demand(runs=1)
    containers = [(1, run.get("container"))] if "container" in run else []
    for replica in run.values():
        if isinstance(replica, dict) and isinstance(replica.get("container"), dict):
            containers.append((int(replica.get("replicas") or 1), replica["container"]))
    for count, container in containers:
        resources = (container or {}).get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        one = Demand(
            cpu=quantities.cpu(wanted.get("cpu", 0)),
            memory=quantities.memory(wanted.get("memory", 0)),
            gpu=sum(int(quantities.cpu(v)) for k, v in wanted.items() if k.endswith("/gpu")),
        )
        for _ in range(count):
            total += one
    return total


def locked(session: Session, project: Project) -> list[Quota]:
    """The quotas limiting `project`'s runs, locked until the transaction ends (always in id
    order, so two admissions never wait on each other's rows)."""
    query = select(Quota).where(quotas_of(project)).order_by(Quota.id).with_for_update()
    # Nothing it reads is written by the caller: the run's own changes wait for the commit's
    # one flush instead of a round trip of their own here.
    with session.no_autoflush:
        return list(session.scalars(query))


def usage(session: Session, project_ids: list[int], besides: int | None = None) -> Demand:
    """What the runs of these projects on a runner hold now (controllers hold nothing)."""
    if not project_ids:
        return Demand()
    query = select(Run.compiled).where(
        Run.project_id.in_(project_ids),
        Run.status.in_(sorted(ON_RUNNER)),
        Run.external_id.is_not(None),
    )
    if besides is not None:
        query = query.where(Run.id != besides)
    total = Demand()
    for compiled in session.scalars(query):
        total += demand(compiled)
    return total


def check(session: Session, run: Run) -> Refusal | None:
    """Why `run` cannot start now under its scopes' quotas, or None. Holds the quota rows'
    locks until the caller's transaction ends (with the submit and its status)."""
    if not profiles.current(session).any_quota:  # none anywhere, as of this transaction
        return None
    project = session.get(Project, run.project_id)
    assert project is not None
    quotas = locked(session, project)
    if not quotas:
        return None
    wanted = demand(run.compiled)
    for quota in quotas:
        ids = projects_in(session, (quota.scope_kind, quota.scope_name))
        too_big = _too_big(quota, wanted)
        if too_big:
            return Refusal(f"{_named(quota)}: {too_big}", final=True)
        over = _over(quota, usage(session, ids, besides=run.id), wanted)
        if over:
            return Refusal(f"{_named(quota)}: {over}")
    for quota in quotas:
        ids = projects_in(session, (quota.scope_kind, quota.scope_name))
        first = _goes_first(session, run, ids)
        if first:
            return Refusal(f"{_named(quota)}: {first}")
    return None


def refuses(run: Run) -> bool:
    """Whether the run's subscription asks to refuse a run over quota rather than wait."""
    spec = run.subscription.spec if run.subscription is not None else {}
    return (spec or {}).get("quota", WAIT) == REFUSE


def _named(quota: Quota) -> str:
    return f"quota {quota.scope_kind} {quota.scope_name}"


def _over(quota: Quota, used: Demand, wanted: Demand) -> str:
    """Which limit `wanted` on top of `used` passes, said with its usage; '' if none."""
    if quota.runs is not None and used.runs + wanted.runs > quota.runs:
        return f"{used.runs} of {quota.runs} concurrent runs in use"
    if quota.cpu is not None and used.cpu + wanted.cpu > quota.cpu + 1e-9:
        return f"{used.cpu:g} of {quota.cpu:g} CPUs in use, the run asks for {wanted.cpu:g}"
    if quota.memory is not None and used.memory + wanted.memory > quota.memory:
        return (
            f"{quantities.bytes_text(used.memory)} of {quantities.bytes_text(quota.memory)} "
            f"memory in use, the run asks for {quantities.bytes_text(wanted.memory)}"
        )
    if quota.gpu is not None and used.gpu + wanted.gpu > quota.gpu:
        return f"{used.gpu} of {quota.gpu} GPUs in use, the run asks for {wanted.gpu}"
    return ""


def _too_big(quota: Quota, wanted: Demand) -> str:
    """Which limit `wanted` passes on its own, so the run could never start; '' if none."""
    asked: list[tuple[str, float, float | None, Callable[[Any], str]]] = [
        ("runs", wanted.runs, quota.runs, str),
        ("CPUs", wanted.cpu, quota.cpu, lambda v: f"{v:g}"),
        ("memory", wanted.memory, quota.memory, lambda v: quantities.bytes_text(int(v))),
        ("GPUs", wanted.gpu, quota.gpu, str),
    ]
    for what, amount, limit, said in asked:
        if limit is not None and amount > limit + (1e-9 if what == "CPUs" else 0):
            whole = said(limit)
            return f"the run asks for {said(amount)} {what}, more than the whole quota of {whole}"
    return ""


def priorities(session: Session, project_ids: list[int]) -> dict[tuple[int, str | None], int]:
    """Each named queue's priority, by (project id, queue); a queue not named has 0."""
    rows = session.execute(
        select(RunQueue.project_id, RunQueue.name, RunQueue.priority).where(
            RunQueue.project_id.in_(project_ids)
        )
    )
    return {(row.project_id, row.name): row.priority for row in rows}


def queue_named() -> ColumnElement[str]:
    """A run's queue read from its compiled JSON in SQL, as `capacity.queue_of` reads it in
    Python: the top-level `queue`, else the component's; NULL for the default queue."""
    top = func.nullif(Run.compiled["queue"].as_string(), "")
    nested = func.nullif(Run.compiled[("component", "queue")].as_string(), "")
    return func.coalesce(top, nested)


def _waiting(project_ids: list[int]) -> Select[int, int, str]:
    """(priority, id, uuid) of the runs waiting in these projects, who goes first first: the
    highest priority, then the oldest."""
    rank = func.coalesce(RunQueue.priority, 0)
    return (
        select(rank.label("priority"), Run.id, Run.uuid)
        .select_from(Run)
        .outerjoin(
            RunQueue, and_(RunQueue.project_id == Run.project_id, RunQueue.name == queue_named())
        )
        .where(Run.project_id.in_(project_ids), Run.status == RunStatus.QUEUED)
        .order_by(rank.desc(), Run.id)
    )


def _goes_first(session: Session, run: Run, project_ids: list[int]) -> str:
    """A waiting run of a higher-priority queue that takes the room before `run`, said; ''."""
    if not project_ids:
        return ""
    mine = priorities(session, project_ids).get((run.project_id, queue_of(run.compiled)), 0)
    rank = func.coalesce(RunQueue.priority, 0)
    ahead = session.execute(_waiting(project_ids).where(rank > mine).limit(1)).first()
    if ahead is None:
        return ""
    priority, ahead_id, uuid = ahead
    # It may be waiting for its start message: send it, once this transaction lets the room go.
    after_commit(session, lambda: runtime.enqueue("axon.start_run", ahead_id))
    return f"run {uuid} of a queue with priority {priority} goes first (this one's: {mine})"


def wake_waiting(run_id: int, status: RunStatus) -> None:
    """A run that ended frees room in its scopes: send the starts of the runs waiting there."""
    if status not in DONE:
        return
    try:
        waiting_ids = _next_waiting(run_id)
    except Exception:  # the transition is committed; the sweeper sends these starts later
        log.warning("could not look for runs waiting for quota after run %s", run_id, exc_info=True)
        return
    for waiting_id in waiting_ids:
        runtime.enqueue("axon.start_run", waiting_id)


def wake_waiting_many(moves: list[tuple[int, RunStatus]]) -> None:
    """`wake_waiting` for every run one transaction moved (the agent records a turn's ends in
    one): whether any quota exists is read once for all of them, not once per run."""
    ended = [(run_id, status) for run_id, status in moves if status in DONE]
    if not ended:
        return
    try:
        with runtime.get().db.session() as session:
            if not _any_quota(session):
                return
            # Runs of one scope that end together wake its waiting runs once, not once each.
            waiting_ids = dict.fromkeys(
                i for run_id, _ in ended for i in _waiting_after(session, run_id)
            )
    except Exception:  # the transitions are committed; the sweeper sends these starts later
        log.warning("could not look for runs waiting for quota", exc_info=True)
        return
    for waiting_id in waiting_ids:
        runtime.enqueue("axon.start_run", waiting_id)


def _any_quota(session: Session) -> bool:
    # Most installations set no quota at all: one indexed read, and an end costs no more.
    return session.scalar(select(Quota.id).limit(1)) is not None


def _next_waiting(run_id: int) -> list[int]:
    with runtime.get().db.session() as session:
        return _waiting_after(session, run_id) if _any_quota(session) else []


def _waiting_after(session: Session, run_id: int) -> list[int]:
    """The runs waiting in the scopes of `run_id`, which ended, that may take its room."""
    ended = session.get(Run, run_id)
    if ended is None:
        return []
    project = session.get(Project, ended.project_id)
    assert project is not None
    scopes = scopes_of(session, project)
    has_quota = session.scalar(
        select(Quota.id).where(tuple_(Quota.scope_kind, Quota.scope_name).in_(scopes)).limit(1)
    )
    if has_quota is None:
        return []
    ids = sorted({i for scope in scopes for i in projects_in(session, scope)})
    if not ids:
        return []
    return [row.id for row in session.execute(_waiting(ids).limit(WAKE_PER_END))]


def _count_waiting(session: Session, project_ids: list[int]) -> int:
    if not project_ids:
        return 0
    query = select(func.count()).where(
        Run.project_id.in_(project_ids), Run.status == RunStatus.QUEUED
    )
    return int(session.scalar(query) or 0)


LIMITS = ("runs", "cpu", "memory", "gpu")


def limits(quota: Quota) -> dict[str, Any]:
    return {name: getattr(quota, name) for name in LIMITS}


def report(session: Session, project: Project) -> list[dict[str, Any]]:
    """Each quota `project`'s runs count against (project, org, teams): its limits, what its
    scope's runs hold now and how many wait."""
    scopes = scopes_of(session, project)
    rows = session.scalars(
        select(Quota).where(tuple_(Quota.scope_kind, Quota.scope_name).in_(scopes))
    ).all()
    found = {(row.scope_kind, row.scope_name): row for row in rows}
    answer = []
    for scope in scopes:
        quota = found.get(scope)
        if quota is None:
            continue
        ids = projects_in(session, scope)
        used = usage(session, ids)
        waiting = _count_waiting(session, ids)
        answer.append(
            {
                "scope": {"kind": scope[0], "name": scope[1]},
                "limits": limits(quota),
                "usage": {name: getattr(used, name) for name in LIMITS},
                "waiting": waiting,
            }
        )
    return answer
