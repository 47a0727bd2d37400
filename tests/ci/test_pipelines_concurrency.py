"""Two workers advancing one dag at once on PostgreSQL start each op once and end the dag once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from ci.config import Settings
from ci.runs import launch, lifecycle, pipelines
from ci.runtime import Runtime
from ci.store.db import Database
from ci.store.models import Condition, Project, Run
from schemas.status import DONE, RunStatus
from tests.ci.test_pipelines import dag, op
from tests.conftest import drop_database, fresh_database

S = RunStatus
WIDTH = 20
ROUNDS = 5


@pytest.fixture
def two_workers(postgres: str, enqueued: list[Any], tmp_path: Any) -> Iterator[list[Runtime]]:
    url = fresh_database("axon_pipelines")
    settings = Settings(database_url=url, runs_dir=str(tmp_path))
    runtimes = [Runtime(settings, Database(url), b"k") for _ in range(2)]
    yield runtimes
    for rt in runtimes:
        rt.db.dispose()
    drop_database(url)


def fan_out_fan_in(rt: Runtime) -> int:
    """A started dag: `first`, then WIDTH ops after it, then `last` after all of them."""
    middle = [op(f"m{i}", "first") for i in range(WIDTH)]
    spec = dag(op("first"), *middle, op("last", *(f"m{i}" for i in range(WIDTH))))
    with rt.db.session() as session:
        project = Project(name="vision")
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="pipeline", spec=spec)
        lifecycle.create(session, run)
        session.flush()
        run_id = run.id
    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)
    return run_id


def succeed(rt: Runtime, parent_id: int, *names: str) -> None:
    """The ops' runs end succeeded (through the compiled → succeeded edge: no runner here)."""
    with rt.db.session() as session:
        for child in session.scalars(
            select(Run).where(Run.parent_id == parent_id, Run.op_name.in_(names)).with_for_update()
        ):
            lifecycle.transition(session, child, S.COMPILED)
            lifecycle.transition(session, child, S.SUCCEEDED)


def at_once(runtimes: list[Runtime], action: Callable[[Runtime], None]) -> None:
    """`action` by every worker at the same moment, ROUNDS times."""
    barrier = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def worker(rt: Runtime) -> None:
        try:
            for _ in range(ROUNDS):
                barrier.wait(timeout=30)
                action(rt)
        except BaseException as exc:  # surfaced in the test's own thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_two_workers_advancing_at_once_start_each_op_once_and_end_the_dag_once(
    two_workers, enqueued
):
    rt = two_workers[0]
    parent_id = fan_out_fan_in(rt)

    def advance(worker: Runtime) -> None:
        with worker.db.session() as session:
            pipelines.advance(worker, session, parent_id)

    for names in (["first"], [f"m{i}" for i in range(WIDTH)], ["last"]):
        succeed(rt, parent_id, *names)
        at_once(two_workers, advance)

    starts = Counter(args[0] for name, args in enqueued if name == "axon.start_run")
    starts.update(i for name, args in enqueued if name == "axon.start_runs" for i in args[0])
    with rt.db.session() as session:
        children = session.execute(
            select(Run.id, Run.status).where(Run.parent_id == parent_id)
        ).all()
        ends = session.scalars(
            select(Condition.status).where(
                Condition.run_id == parent_id, Condition.status.in_([str(s) for s in DONE])
            )
        ).all()
    assert len(children) == WIDTH + 2
    assert {run_id: starts[run_id] for run_id, _ in children} == {
        run_id: 1 for run_id, _ in children
    }
    assert {status for _, status in children} == {S.SUCCEEDED}
    assert ends == [S.SUCCEEDED]
