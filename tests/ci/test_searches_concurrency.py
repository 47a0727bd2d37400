"""Two workers advancing one search at once on PostgreSQL start one trial per free slot, and
never the same trial twice."""

from __future__ import annotations

import threading

from sqlalchemy import select

from ci.runs import launch, lifecycle, pipelines, suggesting, tree
from ci.runtime import Runtime
from ci.store.models import Project, Run
from schemas.status import DONE, RunStatus
from tests.ci.test_pipelines_concurrency import two_workers  # noqa: F401  (a fixture)
from tests.ci.test_searches import SPACE, loss, search

S = RunStatus
MATRIX = {
    "kind": "hyperopt",
    "numRuns": 6,
    "concurrency": 2,
    "seed": 11,
    "metric": {"name": "loss", "optimization": "minimize"},
    "params": SPACE,
}


def started_search(rt: Runtime) -> int:
    with rt.db.session() as session:
        project = Project(name="vision")
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="tune", spec=search(MATRIX))
        lifecycle.create(session, run)
        session.flush()
        run_id = run.id
    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)
    with rt.db.session() as session:  # the first advance, which begin sent, makes its trials
        pipelines.advance(rt, session, run_id, stop=tree.stop, search=suggesting.advance)
    return run_id


def trials(rt: Runtime, parent_id: int) -> list[Run]:
    with rt.db.session() as session:
        found = list(session.scalars(select(Run).where(Run.parent_id == parent_id)))
        session.expunge_all()
        return found


def succeed_one(rt: Runtime, parent_id: int) -> None:
    """The oldest live trial ends succeeded with its loss (no runner here)."""
    with rt.db.session() as session:
        trial = session.scalars(
            select(Run)
            .where(Run.parent_id == parent_id, Run.status.not_in([str(s) for s in DONE]))
            .order_by(Run.id)
            .limit(1)
            .with_for_update()
        ).one()
        trial.outputs = {"loss": loss(trial.meta["params"])}
        lifecycle.transition(session, trial, S.COMPILED)
        lifecycle.transition(session, trial, S.SUCCEEDED)


def advance_at_once(runtimes: list[Runtime], parent_id: int) -> None:
    barrier = threading.Barrier(len(runtimes))
    errors: list[BaseException] = []

    def worker(rt: Runtime) -> None:
        try:
            barrier.wait(timeout=30)
            with rt.db.session() as session:
                pipelines.advance(rt, session, parent_id, stop=tree.stop, search=suggesting.advance)
        except BaseException as exc:  # surfaced in the test's own thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_two_workers_advancing_a_search_at_once_start_each_trial_once(two_workers):  # noqa: F811
    rt = two_workers[0]
    parent_id = started_search(rt)
    assert len(trials(rt, parent_id)) == 2

    for ended in range(1, 5):
        succeed_one(rt, parent_id)
        advance_at_once(two_workers, parent_id)

        found = trials(rt, parent_id)
        assert len(found) == 2 + ended
        assert sum(1 for t in found if t.status not in DONE) == 2
        assert len({str(sorted(t.meta["params"].items())) for t in found}) == len(found)
        assert sorted(t.op_name for t in found) == sorted(f"tune#{i}" for i in range(len(found)))

    for _ in range(2):
        succeed_one(rt, parent_id)
        advance_at_once(two_workers, parent_id)
    with rt.db.session() as session:
        parent = session.get(Run, parent_id)
        assert parent is not None
        assert parent.status == S.SUCCEEDED
        ends = [c for c in parent.conditions if c.status == S.SUCCEEDED]
        assert len(ends) == 1
