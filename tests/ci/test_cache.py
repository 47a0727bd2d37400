"""Polyaxon's cache: a pipeline's op whose twin succeeded reuses its outputs (`CacheHit`)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest
from sqlalchemy import select, update

from ci.runs import lifecycle
from ci.store.db import utcnow
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.ci.conftest import advance, backdate, operation

S = RunStatus
SHA = "199eddf46df50de8d02e99bf1c5fdb4101338224"


@pytest.fixture
def project_id(axon, db) -> int:
    axon.create_project()
    with db.session() as session:
        return session.scalar(select(Project.id).where(Project.name == "vision"))


def new_run(db, project_id: int, spec: dict[str, Any], parent: int | None = None, **fields) -> int:
    """A created run of `spec`, under `parent` when given (as the pipeline engine makes ops)."""
    with db.session() as session:
        count = session.query(Run).count()
        run = Run(
            project_id=project_id,
            name=spec.get("name", "train"),
            spec=spec,
            event={"sha": SHA},
            parent_id=parent,
            op_name=f"op-{count}" if parent else None,
            **fields,
        )
        lifecycle.create(session, run)
        session.flush()
        return run.id


def pipeline(db, project_id: int, kind: str = "dag") -> int:
    return new_run(db, project_id, {"name": "pipeline"}, kind=kind)


def succeeded(db, run_id: int, outputs: dict[str, Any]) -> None:
    """A started (scheduled) run ends well, with `outputs`."""
    advance(db, run_id, S.RUNNING, S.SUCCEEDED)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(outputs=outputs))


def with_cache(epochs: int = 3, **cache: Any) -> dict[str, Any]:
    op = operation(epochs=epochs)
    if cache:
        op["cache"] = cache
    return op


def compiled_and_reused(db, start, project_id, first_spec, second_spec, parent=None):
    """Run `first_spec` to success, then start `second_spec`: the second run, as stored."""
    first = new_run(db, project_id, first_spec, parent)
    start(first)
    succeeded(db, first, {"loss": 0.25})
    second = new_run(db, project_id, second_spec, parent)
    start(second)
    with db.session() as session:
        return session.get(Run, first), session.get(Run, second)


def test_an_op_of_a_pipeline_whose_twin_succeeded_reuses_its_outputs(
    axon, db, project_id, submitted, start
):
    dag = pipeline(db, project_id)
    first, second = compiled_and_reused(db, start, project_id, with_cache(), with_cache(), dag)

    assert second.status == "succeeded"
    assert (second.original_id, second.cloning_kind) == (first.id, "cache")
    assert second.outputs == {"loss": 0.25}
    assert second.cache_key == first.cache_key is not None
    [ended] = [c for c in axon.run(second.id)["conditions"] if c["status"] == "succeeded"]
    assert ended["reason"] == "CacheHit"
    assert ended["message"].startswith(f"reused the outputs of run {first.uuid} (train, ")
    assert [spec.uuid for spec in submitted] == [first.uuid]  # the hit never reached a runner


def test_different_params_miss(db, project_id, start):
    dag = pipeline(db, project_id)
    first, second = compiled_and_reused(
        db, start, project_id, with_cache(epochs=3), with_cache(epochs=4), dag
    )

    assert second.status == "scheduled"
    assert second.cache_key != first.cache_key


def test_cache_io_names_the_params_that_count(db, project_id, start):
    dag = pipeline(db, project_id)
    first, second = compiled_and_reused(
        db, start, project_id, with_cache(3, io=["sha"]), with_cache(4, io=["sha"]), dag
    )

    assert (second.status, second.original_id) == ("succeeded", first.id)


def test_a_changed_command_misses(db, project_id, start):
    dag = pipeline(db, project_id)
    changed = with_cache()
    changed["component"]["run"]["container"]["command"][-1] = "print('other')"
    _, second = compiled_and_reused(db, start, project_id, with_cache(), changed, dag)

    assert second.status == "scheduled"


def test_cache_sections_leave_out_what_does_not_count(db, project_id, start):
    dag = pipeline(db, project_id)
    first_spec = with_cache(sections=["init"])
    changed = deepcopy(first_spec)
    changed["component"]["run"]["container"]["command"][-1] = "print('other')"
    first, second = compiled_and_reused(db, start, project_id, first_spec, changed, dag)

    assert (second.status, second.original_id) == ("succeeded", first.id)


def test_a_result_older_than_the_ttl_is_not_reused(db, project_id, start):
    dag = pipeline(db, project_id)
    old = new_run(db, project_id, with_cache(ttl=3600), dag)
    start(old)
    succeeded(db, old, {"loss": 0.5})
    backdate(db, Run, old, 7200, "finished_at")
    fresh = new_run(db, project_id, with_cache(ttl=3600), dag)
    longer = new_run(db, project_id, with_cache(ttl=3 * 3600), dag)

    start(fresh)
    start(longer)

    with db.session() as session:
        assert session.get(Run, fresh).status == "scheduled"
        assert session.get(Run, longer).original_id == old


def test_the_newest_success_is_reused_and_failures_never(db, project_id, start):
    dag = pipeline(db, project_id)
    older, newer, failed = (new_run(db, project_id, with_cache(), dag) for _ in range(3))
    for run_id in (older, newer, failed):
        start(run_id)
    succeeded(db, older, {"loss": 0.5})
    succeeded(db, newer, {"loss": 0.4})
    backdate(db, Run, older, 60, "finished_at")
    advance(db, failed, S.RUNNING, S.FAILED)
    again = new_run(db, project_id, with_cache(), dag)

    start(again)

    with db.session() as session:
        run = session.get(Run, again)
        assert (run.original_id, run.outputs) == (newer, {"loss": 0.4})


def test_disable_turns_the_cache_off_inside_a_pipeline(db, project_id, start):
    dag = pipeline(db, project_id)
    _, second = compiled_and_reused(
        db, start, project_id, with_cache(), with_cache(disable=True), dag
    )

    assert (second.status, second.cache_key) == ("scheduled", None)


def test_an_independent_run_caches_only_when_asked(db, project_id, start):
    _, default = compiled_and_reused(db, start, project_id, with_cache(), with_cache())
    first, asked = compiled_and_reused(
        db, start, project_id, with_cache(), with_cache(disable=False)
    )

    assert default.status == "scheduled"
    assert default.cache_key is not None  # a later run may still reuse it
    assert asked.status == "succeeded"
    assert asked.original_id in (first.id, default.id)


def test_a_schedules_runs_do_not_cache_by_default(db, project_id, start):
    fired = pipeline(db, project_id, kind="schedule")
    _, second = compiled_and_reused(db, start, project_id, with_cache(), with_cache(), fired)

    assert second.status == "scheduled"


def test_a_cache_hit_is_not_itself_reused(db, project_id, start):
    dag = pipeline(db, project_id)
    first, hit = compiled_and_reused(db, start, project_id, with_cache(), with_cache(), dag)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == first.id).values(finished_at=utcnow()))
    third = new_run(db, project_id, with_cache(), dag)

    start(third)

    with db.session() as session:
        assert session.get(Run, third).original_id == first.id
