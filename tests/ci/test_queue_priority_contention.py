"""Queue priorities are strict under contention on PostgreSQL: when room frees, twenty workers
starting every waiting run at once admit only runs of the highest-priority queue still waiting,
in one project and across the projects of an org under one org quota."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ci.runs import lifecycle
from ci.store.db import Database
from ci.store.models import Organization, Project, RunQueue
from ci.store.models import Run as RunRow
from schemas.status import RunStatus
from tests.ci.quota_runs import held, new_run, project_id, set_quota
from tests.ci.test_quotas_concurrency import WORKERS, counted, start_all_at_once, workers

__all__ = ["held", "workers"]
S = RunStatus
ROOM = 2


def in_org(db: Database, org: str, *projects: str) -> None:
    with db.session() as session:
        owner = Organization(name=org)
        session.add(owner)
        session.flush()
        session.add_all(Project(name=name, org_id=owner.id) for name in projects)


def prioritize(db: Database, project: str, queue: str, priority: int) -> None:
    with db.session() as session:
        owner = session.scalar(select(Project.id).where(Project.name == project))
        session.add(RunQueue(project_id=owner, name=queue, priority=priority))


def statuses(db: Database, run_ids: list[int]) -> dict[int, str]:
    with db.session() as session:
        rows = session.execute(select(RunRow.id, RunRow.status).where(RunRow.id.in_(run_ids)))
        return {run_id: str(status) for run_id, status in rows}


def end_admitted(db: Database) -> None:
    with db.session() as session:
        for run in session.scalars(select(RunRow).where(RunRow.status == S.SCHEDULED)):
            lifecycle.transition(session, run, S.SUCCEEDED, "", "exit code 0")


def admitted_by_round(runtimes: list[Any], urgent: list[int], batch: list[int]) -> list[str]:
    """Free the room, start every run at once, and say which queue each admitted run is of,
    round after round, until none waits; fails the round a batch run gets in while an urgent
    one still waits."""
    db = runtimes[0].db
    rounds = []
    every = urgent + batch
    while any(status == "queued" for status in statuses(db, every).values()):
        end_admitted(db)
        start_all_at_once(runtimes, every)
        now = statuses(db, every)
        admitted = [run_id for run_id in every if now[run_id] == "scheduled"]
        assert len(admitted) == min(ROOM, sum(1 for s in now.values() if s != "succeeded"))
        urgent_waiting = [run_id for run_id in urgent if now[run_id] == "queued"]
        kinds = "".join("u" if run_id in urgent else "b" for run_id in admitted)
        assert not ("b" in kinds and urgent_waiting), (kinds, urgent_waiting)
        rounds.append(kinds)
    return rounds


def test_in_one_project_a_higher_priority_queue_always_goes_first(workers, held):
    db = workers[0].db
    set_quota(db, "project", "vision", runs=ROOM)
    project_id(db, "vision")
    prioritize(db, "vision", "urgent", 10)
    holders = [new_run(db, "vision") for _ in range(ROOM)]
    start_all_at_once(workers[:ROOM], holders)
    mixed = [new_run(db, "vision", "batch" if i % 2 else "urgent") for i in range(WORKERS)]
    urgent, batch = mixed[0::2], mixed[1::2]

    start_all_at_once(workers, mixed)  # no room: all twenty wait
    assert counted(db) == {"scheduled": ROOM, "queued": WORKERS}
    rounds = admitted_by_round(workers, urgent, batch)

    assert rounds[:5] == ["uu"] * 5
    assert set("".join(rounds[5:])) == {"b"}
    assert all(status == "succeeded" for status in statuses(db, urgent).values())


def test_across_an_orgs_projects_under_its_quota_the_higher_priority_goes_first(workers, held):
    db = workers[0].db
    in_org(db, "acme", "alpha", "beta")
    set_quota(db, "org", "acme", runs=ROOM)
    prioritize(db, "alpha", "urgent", 10)
    prioritize(db, "beta", "batch", -5)
    holders = [new_run(db, "beta", "batch") for _ in range(ROOM)]
    start_all_at_once(workers[:ROOM], holders)
    urgent = [new_run(db, "alpha", "urgent") for _ in range(WORKERS // 2)]
    batch = [new_run(db, "beta", "batch") for _ in range(WORKERS // 2)]
    mixed = [run_id for pair in zip(batch, urgent, strict=True) for run_id in pair]

    start_all_at_once(workers, mixed)
    assert counted(db) == {"scheduled": ROOM, "queued": WORKERS}
    rounds = admitted_by_round(workers, urgent, batch)

    assert rounds[:5] == ["uu"] * 5
    assert set("".join(rounds[5:])) == {"b"}
