"""Comment commands on a pull request whose subscription runs a dag, and what the run view shows.

`/axon cancel` stops the pipeline and every live op, each op's history and the decision log
saying why; `/axon approve` lets an op that waits for approval inside the dag go. The run view
shows who approved a run and what it waits for, and a schedule controller's own schedule.

The worker's tasks are carried out by hand (`work`), the ops' jobs run on the local runner, and
what the runner sees of them is recorded as the agent records it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ci.agent import recording
from ci.runs import launch, lifecycle, pipelines, tree
from ci.schedules import controller, firing
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.ci.conftest import advance, observed_to_end, observed_until
from tests.ci.factories import setup_project
from tests.ci.test_dispatch_commands import checks_of, comment, process

S = RunStatus
ASKED = "cancelled run {} of pull request #2, as chhsia0 asked"  # the recorded comment's author
# Each op sleeps until it is stopped; the cache is off so each op is a run of its own.
STEP: dict[str, Any] = {
    "name": "step",
    "cache": {"disable": True},
    "run": {
        "kind": "job",
        "container": {
            "image": "python:3.11",
            "command": [sys.executable, "-c", "import time; time.sleep(60)"],
        },
    },
}


def op(name: str, *after: str, **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "dagRef": "step", **fields}
    if after:
        found["dependencies"] = list(after)
    return found


def dag(*ops: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "pipeline",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "pipeline",
            "run": {"kind": "dag", "operations": list(ops), "components": [STEP]},
        },
    }


class PullRequestPipeline:
    """A dag run for an opened pull request, and the worker that carries out its tasks."""

    def __init__(self, client: Any, db: Any, rt: Any, enqueued: list[Any], runner: Any) -> None:
        self.client, self.db, self.rt, self.enqueued, self.runner = client, db, rt, enqueued, runner

    def open(self, operation: dict[str, Any]) -> int:
        setup_project(
            self.client,
            name="pipeline-on-pr",
            on={
                "pull_request": {"branches": ["master"]},
                "comment": {"commands": ["cancel", "approve"]},
            },
            operation=operation,
            checkout=False,  # the recorded repository is not reachable from here
        )
        [run_id] = process(self.client, self.db, "pull_request", "pull_request_opened")[1]
        self.enqueued.append(("axon.start_run", (run_id,)))  # what the delivery's task sends
        self.work()
        return int(run_id)

    def comment(self, text: str) -> tuple[int, list[int]]:
        delivery_id, started = comment(self.client, self.db, text)
        return int(delivery_id), started

    def work(self) -> None:
        """Carry out the published start, advance and stop tasks until none is left."""
        while self.enqueued:
            name, args = self.enqueued.pop(0)
            with self.db.session() as session:
                if name == "axon.start_run":
                    launch.start_run(self.rt, session, *args)
                elif name == "axon.start_runs":
                    launch.start_runs(self.rt, session, *args)
                elif name == "axon.advance_pipeline":
                    pipelines.advance(self.rt, session, args[0], stop=tree.stop)
                elif name == "axon.stop_run":
                    launch.stop_run(self.rt, session, *args)

    def record(self, external_id: str, until: set[RunStatus] | None = None) -> None:
        """What the agent does: the job's observations (to its end, or to `until`) recorded."""
        if until is None:
            seen = observed_to_end(self.runner, external_id)
        else:
            seen = observed_until(self.runner, external_id, until)
        for observation in seen:
            recording.apply(self.rt, self.runner, observation)
        self.work()

    def op(self, parent_id: int, op_name: str) -> dict[str, Any]:
        with self.db.session() as session:
            uuid = session.scalar(
                select(Run.uuid).where(Run.parent_id == parent_id, Run.op_name == op_name)
            )
        return self.view(str(uuid))

    def view(self, uuid: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/runs/{uuid}")
        assert response.status_code == 200, response.json
        return dict(response.json)

    def run_view(self, run_id: int) -> dict[str, Any]:
        with self.db.session() as session:
            return self.view(session.get(Run, run_id).uuid)


@pytest.fixture
def pr(client, db, rt, enqueued, local_runner) -> PullRequestPipeline:
    return PullRequestPipeline(client, db, rt, enqueued, local_runner)


def last(run: dict[str, Any]) -> tuple[str, str, str]:
    final = run["conditions"][-1]
    return final["status"], final["reason"], final["message"]


# -- /axon cancel -----------------------------------------------------------------------------


def test_cancel_stops_the_pipeline_and_its_live_ops_each_saying_why(pr, enqueued):
    run_id = pr.open(dag(op("prepare"), op("lint"), op("train", "prepare", "lint")))
    prepare = pr.op(run_id, "prepare")
    pr.record(prepare["external_id"], until={S.RUNNING})
    assert pr.op(run_id, "prepare")["status"] == "running"
    assert pr.op(run_id, "train")["pending"] == "upstream"

    delivery_id, started = pr.comment("Wrong base.\n/axon cancel")

    assert started == []
    why = ASKED.format(run_id)
    made, checks = checks_of(pr.db, delivery_id)
    assert made is None and ("cancel", True, why) in checks
    # The pipeline waits for its running ops to stop; the op not started yet stopped at once.
    assert pr.run_view(run_id)["status"] == "stopping"
    with_parent = f"stopped with its parent run {run_id}: {why}"
    assert last(pr.op(run_id, "prepare")) == ("stopping", "StopRequested", with_parent)
    train = pr.op(run_id, "train")
    assert last(train) == ("stopped", "StopRequested", f"{with_parent}; before it started")
    assert train["pending"] is None

    pr.work()  # the runners are told; the agent sees the jobs end
    for name in ("prepare", "lint"):
        pr.record(pr.op(run_id, name)["external_id"])

    assert {name: pr.op(run_id, name)["status"] for name in ("prepare", "lint", "train")} == {
        "prepare": "stopped",
        "lint": "stopped",
        "train": "stopped",
    }
    for name in ("prepare", "lint"):
        history = [(c["status"], c["message"]) for c in pr.op(run_id, name)["conditions"]]
        assert ("stopping", with_parent) in history
    pipeline = pr.run_view(run_id)
    assert (pipeline["status"], last(pipeline)[1]) == ("stopped", "PipelineStopped")
    assert ("stopping", why) in [(c["status"], c["message"]) for c in pipeline["conditions"]]


def test_a_second_cancel_finds_nothing_left_to_stop(pr):
    run_id = pr.open(dag(op("prepare")))
    pr.comment("/axon cancel")
    pr.work()
    pr.record(pr.op(run_id, "prepare")["external_id"])
    assert pr.run_view(run_id)["status"] == "stopped"

    delivery_id, _ = pr.comment("/axon cancel")

    _, checks = checks_of(pr.db, delivery_id)
    assert ("cancel", True, "no run of pull request #2 was in progress") in checks


# -- /axon approve ----------------------------------------------------------------------------


def test_an_op_waiting_for_approval_in_the_dag_goes_once_approved_by_comment(pr, enqueued):
    run_id = pr.open(
        dag(op("prepare"), op("train", "prepare", isApproved=False), op("report", "train"))
    )
    # Before its upstream ends the op waits for it, not yet for an approval.
    assert pr.op(run_id, "train")["pending"] == "upstream"
    early, _ = pr.comment("/axon approve")
    assert ("approve", True, "no run of pull request #2 awaits approval") in checks_of(
        pr.db, early
    )[1]

    with pr.db.session() as session:
        prepare_id = session.scalar(
            select(Run.id).where(Run.parent_id == run_id, Run.op_name == "prepare")
        )
    # Its upstream succeeds (as the agent records it): the op is released, compiles, and is
    # held for its approval.
    advance(pr.db, prepare_id, S.RUNNING, S.SUCCEEDED)
    pr.work()
    train = pr.op(run_id, "train")
    assert (train["status"], train["pending"], train["approved_by"]) == (
        "compiled",
        "approval",
        None,
    )
    assert train["external_id"] is None  # no runner has it
    assert pr.op(run_id, "report")["pending"] == "upstream"

    delivery_id, started = pr.comment("/axon approve")

    assert started == []
    _, checks = checks_of(pr.db, delivery_id)
    assert (
        "approve",
        True,
        f"approved run {train['id']} of pull request #2, as chhsia0 asked",
    ) in checks
    assert ("axon.start_run", (train["id"],)) in enqueued
    pr.work()
    train = pr.op(run_id, "train")
    assert (train["status"], train["pending"], train["approved_by"]) == (
        "scheduled",
        None,
        "chhsia0",
    )
    queued = [c for c in train["conditions"] if c["status"] == "queued"]
    assert queued[0]["message"] == "runner local; approved by chhsia0"
    assert pr.run_view(run_id)["status"] == "running"


def test_cancel_stops_an_op_waiting_for_approval_which_then_waits_for_nothing(pr):
    run_id = pr.open(dag(op("train", isApproved=False)))
    assert pr.op(run_id, "train")["pending"] == "approval"

    pr.comment("/axon cancel")
    pr.work()

    train = pr.op(run_id, "train")
    assert (train["status"], train["pending"]) == ("stopped", None)
    assert pr.run_view(run_id)["status"] == "stopped"
    delivery_id, _ = pr.comment("/axon approve")
    _, checks = checks_of(pr.db, delivery_id)
    assert ("approve", True, "no run of pull request #2 awaits approval") in checks
    assert pr.op(run_id, "train")["approved_by"] is None


# -- the run view -----------------------------------------------------------------------------


T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def scheduled_run(db: Any, rt: Any, schedule: dict[str, Any]) -> int:
    """A run of an operation with its own `schedule:`, started at T0: a schedule controller."""
    operation = {
        "version": 1.1,
        "kind": "operation",
        "name": "nightly",
        "schedule": schedule,
        "component": {"version": 1.1, "kind": "component", "run": STEP["run"]},
    }
    with db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        run = Run(project_id=project.id, name="nightly", spec=operation)
        lifecycle.create(session, run, "ManualRun", "")
        session.flush()
        launch.compile_run(rt, session, run)
        controller.start(rt, session, run, T0)
        return int(run.id)


def test_a_schedule_controllers_view_shows_its_schedule(client, db, rt, enqueued):
    setup_project(client)
    every = {"kind": "interval", "frequency": 600, "startAt": T0.isoformat(), "maxRuns": 2}
    run_id = scheduled_run(db, rt, every)
    with db.session() as session:
        uuid = session.get(Run, run_id).uuid

    before = client.get(f"/api/v1/runs/{uuid}").json
    firing.tick(rt, T0 + timedelta(minutes=10))
    firing.tick(rt, T0 + timedelta(minutes=20))
    after = client.get(f"/api/v1/runs/{uuid}").json

    assert (before["kind"], before["status"]) == ("schedule", "running")
    shown = before["schedule"]
    assert (shown["state"], shown["fired_count"], shown["spec"]["frequency"]) == ("active", 0, 600)
    assert datetime.fromisoformat(shown["next_slot_at"]) > T0
    assert after["schedule"]["fired_count"] == 2
    assert (after["schedule"]["state"], after["schedule"]["reason"]) == (
        "ended",
        "maxRuns 2 reached",
    )
    assert after["schedule"]["next_fire_at"] is None
    assert datetime.fromisoformat(after["schedule"]["last_fire_at"]) > T0
    assert after["children_count"] == 2


def test_a_run_that_is_no_controller_shows_no_schedule_and_no_approval(client, axon):
    axon.create_project()
    axon.subscribe()
    [run_id] = axon.push()

    shown = axon.run(run_id)

    assert "schedule" not in shown
    assert (shown["pending"], shown["approved_by"]) == (None, None)
