"""Strict queue priority however many runs wait: the database picks who goes first among every
waiting run of a quota's scope, not among the oldest few hundred."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from ci.runs import quotas
from ci.runs.capacity import queue_of
from ci.store.models import Run
from schemas.status import RunStatus
from tests.ci.conftest import advance
from tests.ci.quota_runs import held, new_run, project_id, set_quota, status_of

__all__ = ["held"]
S = RunStatus
# More than the 500 oldest waiting runs the choice once read.
WAITING = 600


def more_waiting_like(db: Any, run_id: int, count: int) -> None:
    """`count` more runs waiting as the queued run `run_id` does, in one statement."""
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run.status == S.QUEUED
        same = {
            "project_id": run.project_id,
            "name": run.name,
            "kind": run.kind,
            "status": run.status,
            "spec": run.spec,
            "compiled": run.compiled,
            "runner": run.runner,
            "event": run.event,
        }
        session.execute(insert(Run), [dict(same) for _ in range(count)])


def test_a_newer_run_of_a_higher_priority_queue_goes_first_behind_hundreds_of_older_ones(
    db, client, held, start, enqueued
):
    project_id(db, "vision")
    client.put("/api/v1/projects/vision/queues/urgent", json={"priority": 10})
    set_quota(db, "project", "vision", runs=1)
    holder = new_run(db, "vision", queue="batch")
    batch = new_run(db, "vision", queue="batch")
    start(holder)
    start(batch)
    more_waiting_like(db, batch, WAITING)
    urgent = new_run(db, "vision", queue="urgent")
    start(urgent)
    enqueued.clear()

    advance(db, holder, S.RUNNING, S.SUCCEEDED)
    sent = [args[0] for name, args in enqueued if name == "axon.start_run"]
    with db.session() as session:
        urgent_uuid = session.get(Run, urgent).uuid
        refusal = quotas.check(session, session.get(Run, batch))
    start(batch)  # the oldest waiting run's start comes first: it lets the urgent one go
    start(urgent)

    assert sent[0] == urgent
    assert refusal == quotas.Refusal(
        f"quota project vision: run {urgent_uuid} of a queue with priority 10 "
        "goes first (this one's: 0)"
    )
    assert status_of(db, batch)[0] == "queued"
    assert status_of(db, urgent)[0] == "scheduled"


def test_the_quotas_answer_counts_every_waiting_run(db, client, held, start):
    set_quota(db, "project", "vision", runs=1)
    start(new_run(db, "vision"))
    waiting = new_run(db, "vision")
    start(waiting)
    more_waiting_like(db, waiting, WAITING)

    answer = client.get("/api/v1/projects/vision/quotas").json

    assert answer["quotas"][0]["waiting"] == WAITING + 1


@pytest.mark.parametrize(
    "compiled",
    [
        {"queue": "gpu"},
        {"component": {"queue": "cpu"}},
        {"queue": "gpu", "component": {"queue": "cpu"}},
        {"queue": "", "component": {"queue": "cpu"}},
        {"component": {"run": {"kind": "job"}}},
        {},
        None,
    ],
)
def test_the_queue_read_in_sql_is_the_queue_read_in_python(db, compiled):
    owner = project_id(db, "vision")
    with db.session() as session:
        run = Run(project_id=owner, name="train", compiled=compiled)
        session.add(run)
        session.flush()
        read = session.scalar(select(quotas.queue_named()).where(Run.id == run.id))

    assert read == queue_of(compiled)
