"""Rows the compare, search and pipeline pages show, written as the engine writes them (each
helper commits): statuses through ci.runs.lifecycle, series through ci.runs.metrics, a dag
through ci.runs.launch (which compiles it and makes its ops the controller's children)."""

from __future__ import annotations

import math
import random
import sys
from typing import Any

from sqlalchemy import select

from ci import runtime
from ci.runs import launch, lifecycle, metrics
from ci.store.db import Database
from ci.store.models import Condition, Run
from schemas.status import RunStatus
from tests.dashboard import seed

S = RunStatus
# The way a job goes from its creation to its runner, as the engine moves it.
TO_RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
SEARCH_MATRIX: dict[str, Any] = {
    "kind": "hyperopt",
    "algorithm": "tpe",
    "numRuns": 1000,
    "metric": {"name": "loss", "optimization": "minimize"},
    "params": {
        "lr": {"kind": "loguniform", "value": [0.0001, 0.1]},
        "depth": {"kind": "choice", "value": [2, 4, 8, 16]},
        "optimizer": {"kind": "choice", "value": ["adam", "sgd", "rmsprop"]},
    },
}


def series(db: Database, uuid: str, name: str, values: list[float]) -> None:
    """Run `uuid` reports `values` of metric `name` at steps 0, 1, …"""
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.uuid == uuid).with_for_update()).one()
        reports = [metrics.Report(name, step, value) for step, value in enumerate(values)]
        metrics.record(session, run, reports)
        session.commit()


def _moved(session: Any, run: Run, *statuses: S) -> None:
    for status in statuses:
        lifecycle.transition(session, run, status, status.value.title())


def search(db: Database, project_name: str, trials: int, running: int = 0) -> dict[str, Any]:
    """A hyperopt search over lr, depth and optimizer minimizing `loss`, with `trials` finished
    trials (the last `running` of them still running, without a loss) and its best recorded
    as the controller records it. Returns the search's uuid, its trials' uuids and the best's."""
    project_id = seed.project(db, project_name)
    draw = random.Random(project_name)
    with db.session() as session:
        controller = Run(project_id=project_id, name="tune", kind="matrix", runner="local")
        controller.meta = {"search": {"matrix": SEARCH_MATRIX, "seed": 7, "kind": "job"}}
        lifecycle.create(session, controller)
        session.flush()
        _moved(session, controller, S.COMPILED, S.RUNNING)
        found: list[tuple[Run, float | None]] = []
        for number in range(trials):
            params = {
                "lr": round(10 ** draw.uniform(-4, -1), 6),
                "depth": draw.choice([2, 4, 8, 16]),
                "optimizer": draw.choice(["adam", "sgd", "rmsprop"]),
            }
            finished = number < trials - running
            loss = _loss(params, draw) if finished else None
            path = (S.CREATED, *TO_RUNNING, *((S.SUCCEEDED,) if finished else ()))
            trial = Run(
                project_id=project_id,
                name="tune",
                kind="job",
                runner="local",
                parent_id=controller.id,
                op_name=f"tune#{number}",
                meta={"matrix": params, "params": params, "iteration": number},
                outputs={"loss": loss} if loss is not None else {},
                status=path[-1],
            )
            # The rows lifecycle.transition writes, without its reactions: a thousand trials'
            # reactions would take the test half a minute and show nothing more.
            trial.conditions = [
                Condition(status=status, reason=status.value.title()) for status in path
            ]
            session.add(trial)
            found.append((trial, loss))
        session.flush()
        scored = [(loss, trial) for trial, loss in found if loss is not None]
        best_loss, best = min(scored, key=lambda pair: pair[0])
        controller.meta = {
            **controller.meta,
            "best": {
                "uuid": best.uuid,
                "params": best.meta["params"],
                "value": best_loss,
                "metric": "loss",
            },
        }
        session.commit()
        return {
            "uuid": controller.uuid,
            "trials": [trial.uuid for trial, _ in found],
            "best": best.uuid,
        }


def _loss(params: dict[str, Any], draw: random.Random) -> float:
    # Lowest near lr = 3e-3, depth 8 and adam, with some noise: a surface worth plotting.
    off = (math.log10(params["lr"]) + 2.5) ** 2
    shape = abs(math.log2(params["depth"]) - 3) * 0.05
    kind = {"adam": 0.0, "rmsprop": 0.04, "sgd": 0.12}[params["optimizer"]]
    return round(0.08 + 0.1 * off + shape + kind + draw.uniform(0, 0.03), 5)


STEP: dict[str, Any] = {
    "name": "step",
    "cache": {"disable": True},
    "run": {
        "kind": "job",
        "container": {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]},
    },
}


def dag_operation(ops: dict[str, list[str]]) -> dict[str, Any]:
    """A dag operation whose ops (name → the ops it depends on) each run the `step` component."""
    operations = [
        {"name": name, "dagRef": "step", **({"dependencies": ups} if ups else {})}
        for name, ups in ops.items()
    ]
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "pipeline",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "pipeline",
            "run": {"kind": "dag", "operations": operations, "components": [STEP]},
        },
    }


def dag(db: Database, project_name: str, ops: dict[str, list[str]]) -> str:
    """A dag run started as the worker starts it: compiled into a controller whose children are
    its ops (each `created`, waiting for its upstreams). Returns the controller's uuid."""
    project_id = seed.project(db, project_name)
    with db.session() as session:
        run = Run(project_id=project_id, name="pipeline", spec=dag_operation(ops), runner="local")
        lifecycle.create(session, run, "Manual", "seeded")
        session.commit()
        run_id, uuid = run.id, run.uuid
    with db.session() as session:
        launch.start_run(runtime.get(), session, run_id)
        session.commit()
    return uuid


def move_op(db: Database, dag_uuid: str, op_name: str, *statuses: S) -> str:
    """The dag's op `op_name`, released, goes through `statuses` as the agent records them;
    returns its uuid."""
    with db.session() as session:
        parent = session.scalars(select(Run.id).where(Run.uuid == dag_uuid)).one()
        op = session.scalars(
            select(Run).where(Run.parent_id == parent, Run.op_name == op_name).with_for_update()
        ).one()
        op.pending = None
        _moved(session, op, *statuses)
        session.commit()
        return op.uuid


def grid(db: Database, project_name: str, values: list[dict[str, Any]]) -> str:
    """A grid matrix (no metric to optimize) whose trials got `values`, all succeeded; returns
    the controller's uuid."""
    project_id = seed.project(db, project_name)
    with db.session() as session:
        controller = Run(project_id=project_id, name="sweep", kind="matrix", runner="local")
        controller.meta = {"graph": {}, "concurrency": None, "early_stopping": []}
        lifecycle.create(session, controller)
        session.flush()
        _moved(session, controller, S.COMPILED, S.RUNNING)
        for number, params in enumerate(values):
            trial = Run(project_id=project_id, name=f"sweep#{number}", kind="job", runner="local")
            trial.parent_id, trial.op_name = controller.id, f"sweep#{number}"
            trial.meta = {"matrix": params, "iteration": number}
            lifecycle.create(session, trial, "PipelineOp", f"matrix {controller.uuid}")
            session.flush()
            _moved(session, trial, *TO_RUNNING, S.SUCCEEDED)
        session.commit()
        return controller.uuid
