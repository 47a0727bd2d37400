"""What starting a dag's op costs in statements: a thousand-op fan-out starts each op alone, so
every round trip of `start_run` is paid once per op (tests/benchmarks/pipeline.py)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from ci.runs import launch, pipelines, suggesting, tree
from ci.store.models import Run
from schemas.status import RunStatus
from tests.ci.conftest import advance
from tests.ci.quota_runs import held, set_quota

__all__ = ["held"]
S = RunStatus
STEP: dict[str, Any] = {
    "name": "step",
    "cache": {"disable": True},
    "run": {
        "kind": "job",
        "container": {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]},
    },
}
MIDDLE = [f"m{index}" for index in range(4)]


def fan_out(width: int) -> dict[str, Any]:
    middle = [f"m{index}" for index in range(width)]
    ops: list[dict[str, Any]] = [{"name": "root", "dagRef": "step"}]
    ops += [{"name": name, "dagRef": "step", "dependencies": ["root"]} for name in middle]
    ops.append({"name": "sink", "dagRef": "step", "dependencies": middle})
    run = {"kind": "dag", "operations": ops, "components": [STEP]}
    component = {"version": 1.1, "kind": "component", "name": "fan", "run": run}
    return {"version": 1.1, "kind": "operation", "name": "fan", "component": component}


def released(
    rt: Any, db: Any, axon: Any, enqueued: list[Any], width: int, by_hand: bool = False
) -> int:
    """A fan-out dag of `width` middle ops whose root succeeded; the starts are published.
    Pushed to a subscription, or started by hand (`POST .../runs`: a tree without a
    subscription, whose reporting facts each process keeps)."""
    axon.create_project()
    if by_hand:
        body = {"content": json.dumps(fan_out(width))}
        response = axon.client.post("/api/v1/projects/vision/runs", json=body)
        assert response.status_code == 201, response.json
        with db.session() as session:
            dag_id = session.scalars(select(Run.id).where(Run.uuid == response.json["uuid"])).one()
    else:
        axon.subscribe(operation=fan_out(width))
        [dag_id] = axon.push()
        enqueued.append(("axon.start_run", (dag_id,)))
    work(rt, db, enqueued)
    with db.session() as session:
        query = select(Run.id).where(Run.parent_id == dag_id, Run.op_name == "root")
        root_id = session.scalars(query).one()
    advance(db, root_id, S.RUNNING, S.SUCCEEDED)
    work(rt, db, enqueued, until_start=True)
    return dag_id


def work(rt: Any, db: Any, enqueued: list[Any], until_start: bool = False) -> None:
    """Carry out the published start and advance tasks, stopping before the first start when
    asked."""
    while enqueued:
        name, args = enqueued[0]
        if until_start and name in ("axon.start_run", "axon.start_runs"):
            return
        enqueued.pop(0)
        with db.session() as session:
            if name == "axon.start_run":
                launch.start_run(rt, session, *args)
            elif name == "axon.advance_pipeline":
                pipelines.advance(rt, session, args[0], stop=tree.stop, search=suggesting.advance)


@contextmanager
def statements(db: Any) -> Iterator[list[str]]:
    said: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        said.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield said
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


def released_middle(rt: Any, db: Any, axon: Any, enqueued: list[Any]) -> int:
    """A fan-out dag whose root succeeded: its middle ops' starts are the published tasks."""
    dag_id = released(rt, db, axon, enqueued, len(MIDDLE))
    assert enqueued == [("axon.start_runs", (middle_ids(db, dag_id),))]
    # Each alone, as the sweeper or a dag releasing one op starts it: what one start costs.
    enqueued[:] = [("axon.start_run", (run_id,)) for run_id in middle_ids(db, dag_id)]
    return dag_id


def middle_ids(db: Any, dag_id: int) -> list[int]:
    with db.session() as session:
        query = select(Run.id).where(Run.parent_id == dag_id, Run.op_name.in_(MIDDLE))
        return list(session.scalars(query.order_by(Run.id)))


def start_next(rt: Any, db: Any, enqueued: list[Any]) -> list[str]:
    _, args = enqueued.pop(0)
    with statements(db) as said, db.session() as session:
        launch.start_run(rt, session, *args)
    return said


def touching(said: list[str], pattern: str) -> list[str]:
    return [s for s in said if re.search(pattern, s)]


def test_admitting_an_op_reads_no_presets_and_no_quotas_when_none_exist(
    rt, db, axon, enqueued, held
):
    released_middle(rt, db, axon, enqueued)
    start_next(rt, db, enqueued)  # the first admission of this process learns there are none

    said = start_next(rt, db, enqueued)

    assert touching(said, r"\bFROM (quotas|presets|org_presets|organizations|teams)\b") == []
    assert len(touching(said, r"\bFROM profile_versions\b")) == 1
    assert [spec.name for spec in held] == ["root", "m0", "m1"]


def test_admitting_an_op_reads_and_locks_its_quotas_in_one_statement_when_a_quota_exists(
    rt, db, axon, enqueued, held
):
    released_middle(rt, db, axon, enqueued)
    set_quota(db, "project", "another", runs=5)  # not this project's: the op is still admitted
    start_next(rt, db, enqueued)

    said = start_next(rt, db, enqueued)

    [locking] = touching(said, r"\bFROM (quotas|organizations|teams|project_members)\b")
    assert locking.startswith("SELECT quotas.id") and locking.endswith("FOR UPDATE")
    assert [spec.name for spec in held] == ["root", "m0", "m1"]


def test_an_ops_quota_is_seen_by_the_next_admission_and_holds_it_queued(
    rt, db, axon, enqueued, held
):
    released_middle(rt, db, axon, enqueued)
    start_next(rt, db, enqueued)
    set_quota(db, "project", "vision", runs=1)

    start_next(rt, db, enqueued)

    with db.session() as session:
        rows = session.execute(select(Run.op_name, Run.status).where(Run.op_name.in_(MIDDLE)))
        statuses = {name: str(status) for name, status in rows}
    assert statuses == {"m0": "scheduled", "m1": "queued", "m2": "created", "m3": "created"}
    assert [spec.name for spec in held] == ["root", "m0"]


def test_an_op_reads_its_dag_and_its_upstreams_in_one_statement_once_the_graph_is_kept(
    rt, db, axon, enqueued, held
):
    released_middle(rt, db, axon, enqueued)
    start_next(rt, db, enqueued)  # the advance before it kept the dag's graph

    said = start_next(rt, db, enqueued)

    reads = touching(said, r"^SELECT .* FROM runs\b")
    assert len(reads) == 2  # the op itself with its project, locked; its dag and its upstream
    assert " JOIN projects " in reads[0] and reads[0].endswith("FOR UPDATE OF runs")
    assert "runs.outputs" in reads[1] and "runs.parent_id" in reads[1]


def test_an_ops_compiled_queued_and_scheduled_statuses_are_written_in_one_flush(
    rt, db, axon, enqueued, held
):
    dag_id = released_middle(rt, db, axon, enqueued)

    said = start_next(rt, db, enqueued)

    assert len(touching(said, r"^UPDATE runs SET status")) == 1
    assert len(touching(said, r"^INSERT INTO conditions")) == 1
    with db.session() as session:
        op = session.scalars(select(Run).where(Run.parent_id == dag_id, Run.status == "scheduled"))
        conditions = [c.status for c in op.one().conditions]
    assert conditions == ["created", "compiled", "queued", "scheduled"]


def test_an_op_whose_graph_this_process_does_not_keep_reads_the_same_refs(
    rt, db, axon, enqueued, held, monkeypatch
):
    released_middle(rt, db, axon, enqueued)
    start_next(rt, db, enqueued)
    monkeypatch.setattr(pipelines, "_BY_ID", type(pipelines._BY_ID)())
    monkeypatch.setattr(pipelines, "_GRAPHS", type(pipelines._GRAPHS)())
    _, (cold_id,) = enqueued.pop(0)
    _, (warm_id,) = enqueued[0]

    with db.session() as session:
        cold = launch.upstream.compile_options(rt, session, session.get(Run, cold_id))
    with db.session() as session:
        warm = launch.upstream.compile_options(rt, session, session.get(Run, warm_id))

    assert pipelines._BY_ID, "the cold read keeps the graph for the next op"
    assert set(cold["refs"]) == set(warm["refs"]) == {"dag", "ops.root"}
    assert cold["refs"]["ops.root"] == warm["refs"]["ops.root"]
    assert cold["refs"]["ops.root"]["status"] == "succeeded"
    assert cold["refs"]["dag"] == warm["refs"]["dag"]
