"""The dag engine: a pushed dag runs its ops in order, by their trigger policies, and ends once.

Each test drives the worker's tasks by hand (`work`): the start and advance tasks the engine
and the status reactions publish are carried out in order until none is left; a job's end is
the transition the agent would record.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update

from ci.agent import sweeper
from ci.reporting import asking
from ci.runs import launch, pipelines, suggesting, tree, waking
from ci.store.db import Database, utcnow
from ci.store.models import BrokerProbe, Condition, Run, Subscription
from schemas.status import RunStatus
from tests.ci.conftest import advance

S = RunStatus
# Ops of one component with the same params would reuse each other's results (the cache is on
# inside a pipeline): these tests follow each op's own run.
STEP: dict[str, Any] = {
    "name": "step",
    "cache": {"disable": True},
    "inputs": [{"name": "value", "type": "float", "isOptional": True, "value": 0.0}],
    "run": {
        "kind": "job",
        "container": {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]},
    },
}


def op(name: str, *after: str, **fields: Any) -> dict[str, Any]:
    """A dag op running the shared `step` component after the ops named."""
    found: dict[str, Any] = {"name": name, "dagRef": "step", **fields}
    if after:
        found["dependencies"] = list(after)
    return found


def dag(*ops: dict[str, Any], **run: Any) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "pipeline",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "pipeline",
            "run": {"kind": "dag", "operations": list(ops), "components": [STEP], **run},
        },
    }


class Pipeline:
    """A pushed dag and the worker that carries out its tasks."""

    def __init__(self, rt: Any, db: Any, axon: Any, enqueued: list[Any]) -> None:
        self.rt, self.db, self.axon, self.enqueued = rt, db, axon, enqueued
        self.started: list[str] = []

    def push(self, operation: dict[str, Any]) -> int:
        self.axon.create_project()
        self.axon.subscribe(operation=operation)
        [run_id] = self.axon.push()
        self.enqueued.append(("axon.start_run", (run_id,)))
        self.work()
        return run_id

    def work(self) -> None:
        """Carry out the published start and advance tasks until none is left."""
        while self.enqueued:
            name, args = self.enqueued.pop(0)
            with self.db.session() as session:
                if name == "axon.start_run":
                    launch.start_run(self.rt, session, *args)
                    self.started.append(session.get(Run, args[0]).op_name)
                elif name == "axon.start_runs":
                    launch.start_runs(self.rt, session, *args)
                    self.started += [session.get(Run, run_id).op_name for run_id in args[0]]
                elif name == "axon.advance_pipeline":
                    pipelines.advance(
                        self.rt, session, *args, stop=tree.stop, search=suggesting.advance
                    )

    def child(self, parent_id: int, op_name: str) -> Run:
        with self.db.session() as session:
            run = session.scalars(
                select(Run).where(Run.parent_id == parent_id, Run.op_name == op_name)
            ).one()
            session.expunge(run)
            return run

    def statuses(self, parent_id: int) -> dict[str, str]:
        with self.db.session() as session:
            rows = session.execute(
                select(Run.op_name, Run.status).where(Run.parent_id == parent_id)
            )
            return {name: str(status) for name, status in rows}

    def run(self, run_id: int) -> Run:
        with self.db.session() as session:
            run = session.get(Run, run_id)
            session.expunge(run)
            return run

    def end(self, parent_id: int, op_name: str, status: RunStatus, **outputs: Any) -> None:
        """The op's job runs (unless it is being stopped) and ends with `status` (and reports
        `outputs`), as the agent sees it."""
        run_id = self.child(parent_id, op_name).id
        if outputs:
            with self.db.session() as session:
                session.get(Run, run_id).outputs = outputs
        stopping = self.statuses(parent_id)[op_name] == S.STOPPING
        advance(self.db, run_id, *((status,) if stopping else (S.RUNNING, status)))
        self.work()

    def history(self, run_id: int) -> list[tuple[str, str, str]]:
        with self.db.session() as session:
            run = session.get(Run, run_id)
            return [(c.status, c.reason, c.message) for c in run.conditions]


@pytest.fixture
def pipeline(rt, db, axon, enqueued, local_runner) -> Pipeline:
    return Pipeline(rt, db, axon, enqueued)


def test_a_pushed_dag_runs_as_a_controller_whose_ops_are_its_children(pipeline):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare"), op("report", "train")))

    controller = pipeline.run(run_id)
    assert (controller.kind, controller.status) == ("dag", S.RUNNING)
    assert controller.external_id is None  # no runner holds a dag
    assert pipeline.statuses(run_id) == {
        "prepare": S.SCHEDULED,
        "train": S.CREATED,
        "report": S.CREATED,
    }
    assert pipeline.child(run_id, "train").pending == "upstream"
    assert pipeline.child(run_id, "prepare").subscription_id is None


def test_each_op_starts_when_its_upstream_succeeds_and_the_dag_succeeds_once(pipeline):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare"), op("report", "train")))

    pipeline.end(run_id, "prepare", S.SUCCEEDED)
    assert pipeline.statuses(run_id)["train"] == S.SCHEDULED
    assert pipeline.statuses(run_id)["report"] == S.CREATED
    pipeline.end(run_id, "train", S.SUCCEEDED)
    pipeline.end(run_id, "report", S.SUCCEEDED)

    assert pipeline.started == [None, "prepare", "train", "report"]
    assert pipeline.run(run_id).status == S.SUCCEEDED
    assert pipeline.history(run_id)[-1] == (
        S.SUCCEEDED,
        "PipelineSucceeded",
        "3 op(s): 3 succeeded",
    )


def test_a_failed_op_fails_its_downstream_chain_and_the_dag_naming_the_upstream(pipeline):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare"), op("report", "train")))

    pipeline.end(run_id, "prepare", S.FAILED)

    assert pipeline.statuses(run_id) == {
        "prepare": S.FAILED,
        "train": S.UPSTREAM_FAILED,
        "report": S.UPSTREAM_FAILED,
    }
    assert pipeline.history(pipeline.child(run_id, "train").id)[-1] == (
        S.UPSTREAM_FAILED,
        "UpstreamFailed",
        "trigger all_succeeded cannot be met: ops.prepare (failed)",
    )
    assert pipeline.history(run_id)[-1] == (
        S.FAILED,
        "PipelineFailed",
        "3 op(s): 1 failed, 2 upstream_failed",
    )


def test_an_all_failed_op_runs_after_failure_and_one_succeeded_does_not_wait_for_all(pipeline):
    run_id = pipeline.push(
        dag(
            op("a"),
            op("b"),
            op("cleanup", "a", "b", trigger="all_failed"),
            op("first", "a", "b", trigger="one_succeeded"),
        )
    )

    pipeline.end(run_id, "a", S.SUCCEEDED)
    # b still runs: one success is enough for `first`; `cleanup` can no longer run.
    assert pipeline.statuses(run_id)["first"] == S.SCHEDULED
    assert pipeline.statuses(run_id)["cleanup"] == S.UPSTREAM_FAILED
    pipeline.end(run_id, "b", S.SUCCEEDED)
    pipeline.end(run_id, "first", S.SUCCEEDED)

    # Polyaxon's rule: an upstream_failed op fails the pipeline.
    assert pipeline.run(run_id).status == S.FAILED


def test_concurrency_lets_that_many_ops_run_at_once(pipeline):
    run_id = pipeline.push(dag(op("a"), op("b"), op("c"), concurrency=2))

    assert sorted(pipeline.statuses(run_id).values()) == [S.CREATED, S.SCHEDULED, S.SCHEDULED]
    pipeline.end(run_id, "a", S.SUCCEEDED)
    assert pipeline.statuses(run_id)["c"] == S.SCHEDULED


def test_advancing_and_starting_again_submits_and_creates_nothing_more(pipeline, submitted):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare")))
    pipeline.end(run_id, "prepare", S.SUCCEEDED)
    train = pipeline.child(run_id, "train").id
    assert [spec.name for spec in submitted] == ["prepare", "train"]

    # Re-sent messages, as after a worker's crash: the controller's and the op's.
    for _ in range(2):
        pipeline.enqueued.append(("axon.advance_pipeline", (run_id,)))
        pipeline.enqueued.append(("axon.start_run", (run_id,)))
        pipeline.enqueued.append(("axon.start_run", (train,)))
        pipeline.work()

    assert [spec.name for spec in submitted] == ["prepare", "train"]
    assert pipeline.statuses(run_id) == {"prepare": S.SUCCEEDED, "train": S.SCHEDULED}
    assert pipeline.run(run_id).status == S.RUNNING


def test_a_false_condition_skips_the_op_and_skip_on_upstream_skip_skips_its_downstream(pipeline):
    run_id = pipeline.push(
        dag(
            op("train"),
            op("deploy", "train", conditions="{{ ops.train.outputs.accuracy > 0.9 }}"),
            op("announce", "deploy", skipOnUpstreamSkip=True),
        )
    )

    pipeline.end(run_id, "train", S.SUCCEEDED, accuracy=0.5)

    assert pipeline.statuses(run_id) == {
        "train": S.SUCCEEDED,
        "deploy": S.SKIPPED,
        "announce": S.SKIPPED,
    }
    deploy = pipeline.history(pipeline.child(run_id, "deploy").id)[-1]
    assert deploy[:2] == (S.SKIPPED, "ConditionFalse")
    assert "ops.train.outputs.accuracy > 0.9" in deploy[2]
    assert pipeline.run(run_id).status == S.SUCCEEDED


def test_a_true_condition_reads_the_ops_params(pipeline):
    run_id = pipeline.push(dag(op("train", params={"value": 0.95}, conditions="value > 0.9")))

    assert pipeline.statuses(run_id) == {"train": S.SCHEDULED}


def test_a_condition_that_is_not_a_boolean_fails_the_op(pipeline):
    run_id = pipeline.push(dag(op("train", conditions="{{ 'maybe' }}")))

    train = pipeline.history(pipeline.child(run_id, "train").id)[-1]
    assert train[:2] == (S.FAILED, "CompilationError")
    assert "conditions: rendered 'maybe', which is neither true nor false" in train[2]
    assert pipeline.run(run_id).status == S.FAILED


def test_an_upstreams_outputs_and_artifacts_path_flow_into_a_downstream_param(pipeline):
    evaluate = op(
        "evaluate",
        params={"value": {"ref": "ops.train", "value": "outputs.loss"}},
        runPatch={"container": {"args": ["{{ ops.train.artifacts_path }}"]}},
    )
    run_id = pipeline.push(dag(op("train"), evaluate))

    pipeline.end(run_id, "train", S.SUCCEEDED, loss=0.25)

    train, evaluated = pipeline.child(run_id, "train"), pipeline.child(run_id, "evaluate")
    assert evaluated.inputs == {"value": 0.25}
    assert evaluated.compiled["command"][-1].endswith(f"{train.uuid}/artifacts")


def test_an_event_starts_an_op_when_its_upstream_starts_running(pipeline):
    watcher = op("tensorboard", events=[{"ref": "ops.train", "kinds": ["run_status_running"]}])
    run_id = pipeline.push(dag(op("train"), watcher))
    assert pipeline.statuses(run_id)["tensorboard"] == S.CREATED

    train = pipeline.child(run_id, "train")
    advance(pipeline.db, train.id, S.RUNNING)
    pipeline.work()

    assert pipeline.statuses(run_id) == {"train": S.RUNNING, "tensorboard": S.SCHEDULED}


def test_a_grid_matrix_runs_its_trials_as_children_within_its_concurrency(pipeline):
    operation = dag(op("x"))["component"]["run"]["components"][0]
    trial = {
        "version": 1.1,
        "kind": "operation",
        "name": "sweep",
        "matrix": {
            "kind": "grid",
            "concurrency": 2,
            "params": {"value": {"kind": "choice", "value": [0.1, 0.2, 0.3]}},
        },
        "component": {"version": 1.1, "kind": "component", **operation},
    }
    run_id = pipeline.push(trial)

    assert pipeline.run(run_id).kind == "matrix"
    assert sorted(pipeline.statuses(run_id).values()) == [S.CREATED, S.SCHEDULED, S.SCHEDULED]
    for index in range(3):
        pipeline.end(run_id, f"sweep#{index}", S.SUCCEEDED)

    values = sorted(pipeline.child(run_id, f"sweep#{i}").inputs["value"] for i in range(3))
    assert values == [0.1, 0.2, 0.3]
    assert pipeline.history(run_id)[-1][:3] == (
        S.SUCCEEDED,
        "PipelineSucceeded",
        "3 op(s): 3 succeeded",
    )


def test_a_nested_dag_is_a_controller_child_of_its_parent(pipeline):
    inner = {
        "name": "inner",
        "dependencies": ["prepare"],
        "component": {
            "name": "inner",
            "run": {"kind": "dag", "operations": [op("fit")], "components": [STEP]},
        },
    }
    run_id = pipeline.push(dag(op("prepare"), inner))

    pipeline.end(run_id, "prepare", S.SUCCEEDED)
    nested = pipeline.child(run_id, "inner")
    assert (nested.kind, nested.status) == ("dag", S.RUNNING)
    pipeline.end(nested.id, "fit", S.SUCCEEDED)

    assert pipeline.run(nested.id).status == S.SUCCEEDED
    assert pipeline.run(run_id).status == S.SUCCEEDED


def test_failure_early_stopping_stops_the_dag_and_its_live_ops(pipeline):
    early = [{"kind": "failure_early_stopping", "percent": 30}]
    run_id = pipeline.push(dag(op("a"), op("b"), op("c", "a"), earlyStopping=early))

    pipeline.end(run_id, "a", S.FAILED)

    # c can no longer run: it is stopped with the dag, before it started.
    assert pipeline.statuses(run_id)["c"] == S.STOPPED
    assert pipeline.run(run_id).status == S.STOPPING
    stopping = pipeline.history(run_id)[-1]
    assert "earlyStopping: 1 of 3 op(s) failed" in stopping[2]
    # b's runner is told to stop; once it has, the dag ends stopped.
    pipeline.end(run_id, "b", S.STOPPED)
    assert pipeline.run(run_id).status == S.STOPPED


def test_metric_early_stopping_stops_the_dag_when_an_op_reaches_the_value(pipeline):
    early = [{"metric": "accuracy", "value": 0.9, "optimization": "maximize"}]
    run_id = pipeline.push(dag(op("a"), op("b"), earlyStopping=early))

    pipeline.end(run_id, "a", S.SUCCEEDED, accuracy=0.95)

    assert pipeline.run(run_id).status == S.STOPPING
    assert "ops.a reached accuracy 0.95 (>= 0.9)" in pipeline.history(run_id)[-1][2]


def test_a_stopped_dag_stops_its_waiting_ops(pipeline):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare")))

    with pipeline.db.session() as session:
        tree.stop(session, session.get(Run, run_id, with_for_update=True), "by hand")
    pipeline.end(run_id, "prepare", S.STOPPED)

    assert pipeline.statuses(run_id) == {"prepare": S.STOPPED, "train": S.STOPPED}
    assert pipeline.run(run_id).status == S.STOPPED


def test_the_reaction_wakes_the_parent_on_an_end_and_on_a_watched_status(pipeline, enqueued):
    watcher = op("tensorboard", events=[{"ref": "ops.train", "kinds": ["run_status_running"]}])
    run_id = pipeline.push(dag(op("train"), op("other"), watcher))
    train, other = pipeline.child(run_id, "train"), pipeline.child(run_id, "other")

    advance(pipeline.db, other.id, S.RUNNING)
    assert ("axon.advance_pipeline", (run_id,)) not in enqueued
    advance(pipeline.db, train.id, S.RUNNING)
    assert ("axon.advance_pipeline", (run_id,)) in enqueued
    pipeline.work()  # the advance begins: the next end asks again
    enqueued.clear()
    advance(pipeline.db, other.id, S.SUCCEEDED)
    assert ("axon.advance_pipeline", (run_id,)) in enqueued


def _advances(enqueued: list[Any], run_id: int) -> int:
    return enqueued.count(("axon.advance_pipeline", (run_id,)))


def test_ends_before_the_advance_begins_publish_one_advance_that_sees_them_all(pipeline, enqueued):
    run_id = pipeline.push(dag(op("a"), op("b"), op("c"), op("sink", "a", "b", "c")))
    enqueued.clear()

    for name in ("a", "b", "c"):
        advance(pipeline.db, pipeline.child(run_id, name).id, S.RUNNING, S.SUCCEEDED)

    assert _advances(enqueued, run_id) == 1
    assert pipeline.run(run_id).advance_asked_at is not None
    pipeline.work()
    assert pipeline.run(run_id).advance_asked_at is None
    assert "sink" in pipeline.started


def test_an_end_while_the_advance_reads_the_children_asks_for_another(pipeline, enqueued):
    run_id = pipeline.push(dag(op("a"), op("b"), op("sink", "a", "b")))
    a, b = pipeline.child(run_id, "a"), pipeline.child(run_id, "b")
    advance(pipeline.db, a.id, S.RUNNING, S.SUCCEEDED)
    enqueued.clear()

    with pipeline.db.session() as session:
        # The advance has begun (its ask cleared and committed) when b ends.
        pipelines.advance(pipeline.rt, session, run_id)  # sees a done, b running: sink waits
    advance(pipeline.db, b.id, S.RUNNING, S.SUCCEEDED)

    assert _advances(enqueued, run_id) == 1
    pipeline.work()
    assert "sink" in pipeline.started


def test_an_ask_is_not_a_change_of_the_controllers_state(pipeline):
    run_id = pipeline.push(dag(op("a"), op("b")))
    before = pipeline.run(run_id).updated_at

    with pipeline.db.session() as session:
        assert waking.ask_advance(session, run_id) is True
        assert waking.ask_advance(session, run_id) is False

    assert pipeline.run(run_id).updated_at == before


def summary_op(query: str, **join: Any) -> dict[str, Any]:
    """An op whose `losses` param lists the loss of every run `query` finds."""
    return {
        "name": "summary",
        "dependencies": ["a", "b"],
        "trigger": "all_done",
        "joins": [{"query": query, "params": {"losses": {"value": "outputs.loss"}}, **join}],
        "component": {
            "name": "summary",
            "inputs": [{"name": "losses", "type": "list"}],
            "run": STEP["run"],
        },
    }


def test_a_join_fills_a_param_with_a_list_of_the_matched_runs_values(pipeline):
    summary = summary_op("status:succeeded, metrics.loss:<0.5", sort="metrics.loss")
    run_id = pipeline.push(dag(op("a"), op("b"), op("c"), summary))

    pipeline.end(run_id, "a", S.SUCCEEDED, loss=0.4)
    pipeline.end(run_id, "c", S.SUCCEEDED, loss=0.1)
    pipeline.end(run_id, "b", S.FAILED, loss=0.2)

    assert pipeline.child(run_id, "summary").inputs == {"losses": [0.1, 0.4]}


def test_a_join_whose_query_cannot_be_read_fails_the_op_naming_the_term(pipeline):
    run_id = pipeline.push(dag(op("a"), op("b"), summary_op("colour:blue")))

    pipeline.end(run_id, "a", S.SUCCEEDED)
    pipeline.end(run_id, "b", S.SUCCEEDED)

    failed = pipeline.history(pipeline.child(run_id, "summary").id)[-1]
    assert failed[:2] == (S.FAILED, "CompilationError")
    assert failed[2].startswith("joins[0].query: query term 'colour:blue'")


def test_the_sweeper_resends_the_advance_of_a_running_dag_whose_message_was_lost(
    pipeline, rt, db, enqueued
):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare")))
    prepare = pipeline.child(run_id, "prepare").id
    advance(db, prepare, S.RUNNING, S.SUCCEEDED)
    enqueued.clear()  # the advance this end published is lost
    with db.session() as session:
        session.add(BrokerProbe(sent_at=utcnow(), seen_at=utcnow()))
    then = utcnow() - timedelta(seconds=300)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(updated_at=then))

    counts = sweeper.sweep(rt)

    assert counts["advances"] == 1
    assert ("axon.advance_pipeline", (run_id,)) in enqueued
    pipeline.work()
    assert pipeline.statuses(run_id)["train"] == S.SCHEDULED


def test_the_sweeper_resends_an_advance_asked_for_long_ago_that_never_began(
    pipeline, rt, db, enqueued
):
    run_id = pipeline.push(dag(op("prepare"), op("train", "prepare")))
    advance(db, pipeline.child(run_id, "prepare").id, S.RUNNING, S.SUCCEEDED)
    enqueued.clear()  # the advance this end asked for is lost; the dag itself changed just now
    with db.session() as session:
        session.add(BrokerProbe(sent_at=utcnow(), seen_at=utcnow()))
    assert sweeper.sweep(rt)["advances"] == 0  # asked for just now: it may still be queued
    then = utcnow() - timedelta(seconds=300)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(advance_asked_at=then))

    counts = sweeper.sweep(rt)

    assert counts["advances"] == 1
    pipeline.work()
    assert pipeline.statuses(run_id)["train"] == S.SCHEDULED
    assert pipeline.run(run_id).advance_asked_at is None


def test_a_matrix_op_inside_a_dag_runs_its_trials_with_the_upstreams_outputs(pipeline):
    sweep = op(
        "sweep",
        "prepare",
        matrix={"kind": "mapping", "values": [{"value": 1.0}, {"value": 2.0}]},
        runPatch={"container": {"args": ["{{ ops.prepare.outputs.rows }}"]}},
    )
    run_id = pipeline.push(dag(op("prepare"), sweep, op("report", "sweep")))

    pipeline.end(run_id, "prepare", S.SUCCEEDED, rows=128)
    matrix = pipeline.child(run_id, "sweep")
    assert (matrix.kind, matrix.status) == ("matrix", S.RUNNING)
    trials = [pipeline.child(matrix.id, f"sweep#{index}") for index in (0, 1)]
    assert [trial.inputs for trial in trials] == [{"value": 1.0}, {"value": 2.0}]
    assert [trial.compiled["command"][-1] for trial in trials] == ["128", "128"]
    for index in (0, 1):
        pipeline.end(matrix.id, f"sweep#{index}", S.SUCCEEDED)

    assert pipeline.statuses(run_id)["sweep"] == S.SUCCEEDED
    assert pipeline.statuses(run_id)["report"] == S.SCHEDULED


def test_a_search_op_runs_its_trials_as_its_own_children(pipeline):
    bayes = op(
        "tune",
        matrix={
            "kind": "bayes",
            "numInitialRuns": 2,
            "maxIterations": 2,
            "concurrency": 1,
            "metric": {"name": "loss", "optimization": "minimize"},
            "params": {"value": {"kind": "uniform", "value": [0, 1]}},
        },
    )
    run_id = pipeline.push(dag(bayes))

    search = pipeline.child(run_id, "tune")
    assert (search.kind, search.status) == ("matrix", S.RUNNING)
    assert pipeline.statuses(search.id) == {"tune#0": S.SCHEDULED}


def test_an_iterative_search_is_refused_with_a_clear_reason(pipeline):
    iterative = op(
        "tune",
        matrix={
            "kind": "iterative",
            "maxIterations": 2,
            "params": {"value": {"kind": "uniform", "value": [0, 1]}},
        },
    )
    run_id = pipeline.push(dag(iterative))

    failed = pipeline.history(pipeline.child(run_id, "tune").id)[-1]
    assert failed[:2] == (S.FAILED, "CompilationError")
    assert "an iterative matrix gets its suggestions from its tuner container" in failed[2]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {"ref": "runs.0f3a", "kinds": ["run_status_running"]},
            "events[0].ref: an op's events watch another op of its dag",
        ),
        (
            {"ref": "ops.a", "kinds": ["run_new_artifacts"]},
            "events[0].kinds[0]: run_new_artifacts: Axon starts an op on another op's status",
        ),
    ],
)
def test_an_event_axon_cannot_watch_fails_the_dag_naming_it(pipeline, event, reason):
    run_id = pipeline.push(dag(op("a"), op("b", events=[event])))

    failed = pipeline.history(run_id)[-1]
    assert failed[:2] == (S.FAILED, "CompilationError")
    assert reason in failed[2]


def test_an_op_whose_run_patch_gives_its_container_runs(pipeline):
    bare = {"name": "bare", "run": {"kind": "job"}}
    patched = {
        "name": "patched",
        "component": bare,
        "runPatch": {"container": {"image": "python:3.11", "command": [sys.executable, "-V"]}},
    }
    run_id = pipeline.push(dag(patched))

    child = pipeline.child(run_id, "patched")
    assert child.status == S.SCHEDULED
    assert child.compiled["command"] == [sys.executable, "-V"]


class Statements:
    """The statements sent to the database while it is open."""

    def __init__(self, db: Any) -> None:
        self.engine, self.sent = db.engine, []

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE")):  # the test's own transaction
            self.sent.append(" ".join(statement.split()))

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self.sent

    def __exit__(self, *_: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def started_by_hand(pipeline: Pipeline, client: Any, operation: dict[str, Any]) -> int:
    """A dag started by hand (no subscription, no event), worked until its roots started."""
    pipeline.axon.create_project()
    answer = client.post("/api/v1/projects/vision/runs", json={"content": operation})
    assert answer.status_code == 201, answer.text
    with pipeline.db.session() as session:
        run_id = session.scalar(select(Run.id).where(Run.uuid == answer.json["uuid"]))
    pipeline.enqueued.append(("axon.start_run", (run_id,)))
    pipeline.work()
    return run_id


def test_a_started_ops_statuses_that_wake_nothing_cost_the_controller_no_statement(pipeline):
    run_id = pipeline.push(dag(op("a"), op("b", "a")))
    a = pipeline.child(run_id, "a").id
    assert pipeline.statuses(run_id)["a"] == S.SCHEDULED

    with Statements(pipeline.db) as sent:
        for status in (S.COMPILED, S.QUEUED, S.SCHEDULED):
            assert waking.wake(pipeline.db, a, status) is None
    assert sent == []

    with Statements(pipeline.db) as sent:
        assert waking.wake(pipeline.db, a, S.SUCCEEDED) == run_id
    assert not [s for s in sent if s.startswith("SELECT")]  # its controller was known


def test_an_ops_start_asks_for_its_report_once_and_nobody_hears_of_it(
    pipeline, client, monkeypatch
):
    asked: list[int] = []
    ask = asking.ask
    ask_many = asking.ask_many
    monkeypatch.setattr(asking, "ask", lambda rt, run_id: asked.append(run_id) or ask(rt, run_id))
    monkeypatch.setattr(
        asking, "ask_many", lambda rt, run_ids: asked.extend(run_ids) or ask_many(rt, run_ids)
    )
    run_id = started_by_hand(pipeline, client, dag(op("a"), op("b")))
    a, b = pipeline.child(run_id, "a").id, pipeline.child(run_id, "b").id

    # The dag's start (compiled, running) and each op's (compiled, queued, scheduled): one ask
    # each, after the transaction that made them.
    assert sorted(asked) == sorted([run_id, a, b])
    with pipeline.db.session() as session:
        for child in (a, b):  # every status settled: the sweeper sends nothing again
            last = session.scalar(select(func.max(Condition.id)).where(Condition.run_id == child))
            assert session.get(Run, child).report_cursor == last
    with Statements(pipeline.db) as sent:  # a tree without a subscription is read once
        assert asking.ask(pipeline.rt, a) is None
    assert [s.split()[0] for s in sent] == ["SET", "UPDATE"]
    assert pipeline.enqueued == []


def test_a_tree_whose_subscription_may_change_its_report_is_read_on_every_ask(pipeline):
    run_id = pipeline.push(dag(op("a")))  # reported to the push's forge
    a = pipeline.child(run_id, "a").id
    with pipeline.db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(report_asked_at=None))
    assert asking.ask(pipeline.rt, a) == run_id
    assert asking.ask(pipeline.rt, a) is None  # asked for, not yet begun

    with pipeline.db.session() as session:
        top = session.get(Run, run_id)
        subscription = session.get(Subscription, top.subscription_id)
        subscription.spec = {**subscription.spec, "report": {}}  # now reported nowhere
        top.report_asked_at = None
    assert asking.ask(pipeline.rt, a) is None
    assert pipeline.run(run_id).report_asked_at is None


def test_bookkeeping_is_one_round_trip_that_does_not_wait_for_the_disk(pg_url):
    db = Database(pg_url)  # its own connections, as in a worker: each statement commits itself
    sent: list[bytes] = []

    def record(_conn: Any, cursor: Any, *_: Any) -> None:
        sent.append(cursor.query)

    event.listen(db.engine, "after_cursor_execute", record)
    try:
        assert waking.bookkeep(db, update(Run).where(Run.id == -1).values(pending=None)) == 0
        with db.engine.connect() as conn:
            assert conn.scalar(text("SHOW synchronous_commit")) == "on"  # for this one only
    finally:
        db.dispose()
    [query, _show] = sent
    assert query.startswith(b"SET LOCAL synchronous_commit TO OFF; UPDATE runs SET pending")
