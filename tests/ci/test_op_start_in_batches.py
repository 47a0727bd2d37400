"""A dag's ops released together start together: a task and a transaction per batch
(`launch.start_runs`), whose statements do not grow with the ops it starts, and whose ops are
each admitted as one op alone is: quotas held, each op started once however often it is sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ci import tasks
from ci.runs import launch, pipelines
from ci.store.models import Condition, Run
from schemas.status import RunStatus
from tests.ci.quota_runs import held, set_quota
from tests.ci.test_op_start_round_trips import released, statements, touching

__all__ = ["held"]
S = RunStatus


def start_batch(rt: Any, db: Any, run_ids: list[int]) -> list[str]:
    with statements(db) as said, db.session() as session:
        launch.start_runs(rt, session, run_ids)
    return said


def shapes(said: list[str]) -> list[str]:
    """Each statement's first words, without the test's own savepoints."""
    return [" ".join(s.split(" ")[:3]) for s in said if "SAVEPOINT" not in s]


def middle(db: Any, dag_id: int) -> dict[str, tuple[str, list[str]]]:
    """Each middle op's status and the statuses it went through, by name."""
    with db.session() as session:
        ops = session.scalars(
            select(Run).where(Run.parent_id == dag_id, Run.op_name.like("m%")).order_by(Run.id)
        ).all()
        return {op.op_name: (str(op.status), [c.status for c in op.conditions]) for op in ops}


def test_an_advance_releasing_many_ops_sends_their_starts_in_batches(
    rt, db, axon, enqueued, held, monkeypatch
):
    monkeypatch.setattr(pipelines, "START_BATCH", 3)
    dag_id = released(rt, db, axon, enqueued, width=7)

    assert [name for name, _ in enqueued] == ["axon.start_runs"] * 3
    assert [len(ids) for _, (ids,) in enqueued] == [3, 3, 1]
    for _, (ids,) in enqueued:
        with db.session() as session:
            launch.start_runs(rt, session, ids)

    ops = middle(db, dag_id)
    assert {status for status, _ in ops.values()} == {"scheduled"}
    assert {tuple(seen) for _, seen in ops.values()} == {
        ("created", "compiled", "queued", "scheduled")
    }
    assert [spec.name for spec in held] == ["root", *ops]


def test_a_batch_start_takes_as_many_statements_for_eight_ops_as_for_two(
    rt, db, axon, enqueued, held
):
    # Its reports asked for too: the quiet ops' statuses settled in one statement.
    dag_id = released(rt, db, axon, enqueued, width=11, by_hand=True)
    ids = [run_id for _, (batch,) in enqueued for run_id in batch]
    start_batch(rt, db, ids[:1])  # the first admission of this process learns its caches

    two = start_batch(rt, db, ids[1:3])
    eight = start_batch(rt, db, ids[3:])

    assert len(eight) == len(two)
    assert shapes(eight) == shapes(two)
    assert len(touching(eight, r"^UPDATE runs SET report_cursor")) == 1
    assert {status for status, _ in middle(db, dag_id).values()} == {"scheduled"}
    assert len(held) == 1 + 11


def test_a_batch_that_crosses_the_quota_starts_what_the_quota_holds_and_queues_the_rest(
    rt, db, axon, enqueued, held
):
    dag_id = released(rt, db, axon, enqueued, width=5)
    ids = [run_id for _, (batch,) in enqueued for run_id in batch]
    set_quota(db, "project", "vision", runs=2)

    start_batch(rt, db, ids)

    statuses = {name: status for name, (status, _) in middle(db, dag_id).items()}
    assert statuses == {
        "m0": "scheduled",
        "m1": "scheduled",
        "m2": "queued",
        "m3": "queued",
        "m4": "queued",
    }
    assert [spec.name for spec in held] == ["root", "m0", "m1"]


def test_a_batch_sent_twice_starts_each_op_once(rt, db, axon, enqueued, held):
    dag_id = released(rt, db, axon, enqueued, width=4)
    ids = [run_id for _, (batch,) in enqueued for run_id in batch]

    start_batch(rt, db, ids)
    start_batch(rt, db, ids)

    with db.session() as session:
        conditions = session.scalars(
            select(Condition.status).where(Condition.run_id.in_(ids), Condition.status == "queued")
        ).all()
    assert len(conditions) == 4
    assert [spec.name for spec in held] == ["root", "m0", "m1", "m2", "m3"]
    assert {status for status, _ in middle(db, dag_id).values()} == {"scheduled"}


def test_a_single_released_op_is_started_alone(rt, db, axon, enqueued, held):
    released(rt, db, axon, enqueued, width=1)

    assert [name for name, _ in enqueued] == ["axon.start_run"]


def test_a_batch_that_fails_is_sent_again_as_one_start_per_op(rt, db, axon, enqueued, held):
    dag_id = released(rt, db, axon, enqueued, width=3)
    ids = [run_id for _, (batch,) in enqueued for run_id in batch]
    enqueued.clear()
    compile_run = launch.compile_run

    def broken_for_m1(rt: Any, session: Any, run: Run) -> None:
        if run.op_name == "m1":
            raise RuntimeError("a bug")
        compile_run(rt, session, run)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(launch, "compile_run", broken_for_m1)
        tasks.start_runs(ids)

    assert {status for status, _ in middle(db, dag_id).values()} == {"created"}
    # m0 was handed to its runner before m1 failed: its own start submits it again, which the
    # runner takes as the same attempt (LocalRunner.submit claims it once).
    assert enqueued == [("axon.start_run", (run_id,)) for run_id in ids]
