"""A pipeline is reported as one run: one commit status, one message with a line per op.

The rows are arranged as the pipeline engine leaves them: a dag run with the subscription
(the top of the tree) and its ops, runs with a parent and no subscription, whose statuses
each run reports (ci.wiring's reaction sends axon.report_run for every run that moves).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from ci.agent import sweeper
from ci.reporting import pipelines, reports
from ci.runs import lifecycle
from ci.store.db import utcnow
from ci.store.models import (
    BrokerProbe,
    Condition,
    Notification,
    Project,
    Run,
    Subscription,
)
from notifiers import markdown, render, slack
from notifiers.base import OpLine, Report
from schemas.status import RunStatus as S
from tests.fakes.github import GitHubDouble

OWNER, REPO, SHA, PULL = "octo", "model", "b" * 40, 7
PULL_EVENT = {
    "provider": "github",
    "kind": "pull_request",
    "repo": f"{OWNER}/{REPO}",
    "sha": SHA,
    "branch": "feature",
    "pull_request": {"number": PULL},
}
TO_RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.STARTING, S.RUNNING)
CONTEXT = "axon/train-pipeline"


@pytest.fixture
def github(rt):
    with GitHubDouble(token="ghp_test") as double:
        rt.settings = rt.settings.model_copy(
            update={"github_api_url": double.url, "github_token": "ghp_test"}
        )
        yield double


class Pipeline:
    """A dag run of subscription `train-pipeline` on pull request 7 and its ops, as rows."""

    def __init__(self, db, report_to) -> None:
        self.db = db
        with db.session() as session:
            project = Project(name="vision")
            subscription = Subscription(
                project=project, name="train-pipeline", spec={"report": report_to}
            )
            session.add_all([project, subscription])
            session.flush()
            top = Run(
                project_id=project.id,
                name="pipeline",
                kind="dag",
                subscription=subscription,
                event=PULL_EVENT,
            )
            lifecycle.create(session, top)
            session.flush()
            lifecycle.transition(session, top, S.COMPILED)
            lifecycle.transition(session, top, S.RUNNING)
            self.top = top.id
            self.ops: dict[str, int] = {}
            for name in ("train", "evaluate", "deploy"):
                op = Run(
                    project_id=project.id,
                    parent_id=top.id,
                    op_name=name,
                    name=name,
                    event=PULL_EVENT,
                    pending="upstream",
                )
                lifecycle.create(session, op)
                session.flush()
                self.ops[name] = op.id

    def move(self, run_id: int, *statuses: S, message: str = "", outputs=None) -> None:
        with self.db.session() as session:
            run = session.get(Run, run_id, with_for_update=True)
            if outputs is not None:
                run.outputs = outputs
            for status in statuses:
                lifecycle.transition(session, run, status, message=message)

    def op(self, name: str, *statuses: S, **fields) -> None:
        self.move(self.ops[name], *statuses, **fields)

    def notifications(self, name: str | None = None) -> list[tuple[str, str, str]]:
        run_id = self.top if name is None else self.ops[name]
        with self.db.session() as session:
            rows = session.scalars(
                select(Notification).where(Notification.run_id == run_id).order_by(Notification.id)
            )
            return [(row.target, row.status, row.state) for row in rows]

    def uuid(self, name: str) -> str:
        with self.db.session() as session:
            return session.get(Run, self.ops[name]).uuid


def finish_all(pipeline: Pipeline) -> None:
    """train succeeds with outputs, evaluate succeeds, deploy is skipped: its condition is false."""
    pipeline.op("train", *TO_RUNNING)
    pipeline.op("train", S.SUCCEEDED, outputs={"loss": 0.25, "accuracy": 0.91})
    pipeline.op("evaluate", *TO_RUNNING, S.SUCCEEDED)
    pipeline.op("deploy", S.SKIPPED, message="condition `{{ accuracy > 0.95 }}` is false")
    pipeline.move(pipeline.top, S.SUCCEEDED)


def comment_bodies(github: GitHubDouble) -> list[str]:
    return [body for _, _, body in github.comments()]


def op_row(body: str, name: str) -> str:
    [row] = [line for line in body.splitlines() if line.startswith(f"| [`{name}`]")]
    return row


def test_a_pipeline_reports_one_commit_status_and_its_ops_none(rt, db, github, enqueued):
    github.expect_commit_status(OWNER, REPO, SHA, times=2)
    pipeline = Pipeline(db, {"github": {}})
    finish_all(pipeline)

    for run_id in [*pipeline.ops.values(), pipeline.top]:
        reports.report_run(rt, run_id)

    github.assert_no_outstanding()
    statuses = github.statuses(SHA)
    assert [(s["context"], s["state"]) for s in statuses] == [
        (CONTEXT, "pending"),
        (CONTEXT, "success"),
    ]
    assert all(pipeline.notifications(name) == [] for name in pipeline.ops)


def test_the_pull_request_comment_has_one_line_per_op_with_status_duration_link_and_outputs(
    rt, db, github, enqueued
):
    github.expect_comment(OWNER, REPO, PULL)
    github.expect_comment(OWNER, REPO, edit=True, times=None)
    pipeline = Pipeline(db, {"comment": {}})
    finish_all(pipeline)

    reports.report_run(rt, pipeline.ops["deploy"])

    github.assert_no_outstanding()
    final = comment_bodies(github)[-1]
    assert final.splitlines()[1].startswith("### ✅ **[vision/pipeline]")
    assert "succeeded" in final.splitlines()[1]
    assert "| Op | Status | Duration | Outputs |" in final
    train = op_row(final, "train")
    assert f"(http://axon.test/runs/{pipeline.uuid('train')})" in train
    assert "✅ succeeded" in train and "`loss` 0.25 · `accuracy` 0.91" in train
    assert "✅ succeeded" in op_row(final, "evaluate")
    deploy = op_row(final, "deploy")
    assert "⏭️ skipped: `condition '{{ accuracy > 0.95 }}' is false`" in deploy


def test_an_ops_change_edits_the_pipelines_comment_in_place(rt, db, github, enqueued):
    github.expect_comment(OWNER, REPO, PULL)
    github.expect_comment(OWNER, REPO, edit=True, times=None)
    pipeline = Pipeline(db, {"comment": {}})
    reports.report_run(rt, pipeline.top)
    [(method, _, running)] = github.comments()
    assert method == "POST" and "⏳" not in running
    assert "| [`train`]" in running and "created" in op_row(running, "train")

    pipeline.op("train", *TO_RUNNING)
    reports.report_run(rt, pipeline.ops["train"])

    [*_, (method, path, edited)] = github.comments()
    assert method == "PATCH" and path.startswith(f"/repos/{OWNER}/{REPO}/issues/comments/")
    assert "▶️ running" in op_row(edited, "train")
    assert pipeline.notifications("train") == [("comment", "running", "sent")]


def test_an_ops_changes_seen_together_make_one_edit(rt, db, github, enqueued):
    github.expect_comment(OWNER, REPO, PULL)
    github.expect_comment(OWNER, REPO, edit=True, times=1)
    pipeline = Pipeline(db, {"comment": {}})
    reports.report_run(rt, pipeline.top)
    pipeline.op("train", *TO_RUNNING, S.SUCCEEDED)
    pipeline.op("evaluate", *TO_RUNNING)

    reports.report_run(rt, pipeline.ops["evaluate"])

    github.assert_no_outstanding()
    edited = comment_bodies(github)[-1]
    assert "✅ succeeded" in op_row(edited, "train")
    assert "▶️ running" in op_row(edited, "evaluate")


def test_the_pipelines_final_status_is_the_last_edit_and_reporting_again_sends_nothing(
    rt, db, github, enqueued
):
    github.expect_comment(OWNER, REPO, PULL)
    github.expect_comment(OWNER, REPO, edit=True, times=None)
    github.expect_commit_status(OWNER, REPO, SHA, times=2)
    pipeline = Pipeline(db, {"comment": {}, "github": {}})
    reports.report_run(rt, pipeline.top)
    finish_all(pipeline)

    reports.report_run(rt, pipeline.ops["train"])
    sent = len(github.requests)
    for run_id in [*pipeline.ops.values(), pipeline.top]:
        reports.report_run(rt, run_id)

    assert len(github.requests) == sent
    [final] = [body for body in comment_bodies(github) if "succeeded" in body.splitlines()[1]]
    assert final == comment_bodies(github)[-1]
    assert [s["state"] for s in github.statuses(SHA)] == ["pending", "success"]
    assert ("comment", "succeeded", "sent") in pipeline.notifications()


def test_an_op_reported_while_its_pipeline_reports_is_left_to_the_pipelines_reporter(
    rt, db, github, enqueued
):
    github.expect_comment(OWNER, REPO, PULL)
    github.expect_comment(OWNER, REPO, edit=True, times=None)
    pipeline = Pipeline(db, {"comment": {}})
    reports.report_run(rt, pipeline.top)
    pipeline.op("train", *TO_RUNNING)
    with db.session() as session:  # the pipeline's reporter holds the lease
        session.get(Run, pipeline.top).report_lease_until = datetime(2999, 1, 1, tzinfo=UTC)

    assert reports.report_run(rt, pipeline.ops["train"]) == []

    assert len(github.comments()) == 1 and pipeline.notifications("train") == []


def test_a_failing_edit_is_retried_within_the_budget_and_later_changes_wait_for_it(
    rt, db, github, enqueued
):
    github.expect_comment(OWNER, REPO, PULL)
    pipeline = Pipeline(db, {"comment": {}})
    reports.report_run(rt, pipeline.top)
    github.expect_comment(OWNER, REPO, edit=True, status=502, times=1)
    pipeline.op("train", *TO_RUNNING)

    assert reports.report_run(rt, pipeline.ops["train"]) == [5.0]
    assert pipeline.notifications("train") == [("comment", "running", "retrying")]

    github.expect_comment(OWNER, REPO, edit=True, times=None)
    pipeline.op("train", S.SUCCEEDED)
    with db.session() as session:
        for row in session.scalars(select(Notification).where(Notification.state == "retrying")):
            row.next_attempt_at = None
    reports.report_run(rt, pipeline.ops["train"])

    assert pipeline.notifications("train") == [
        ("comment", "running", "sent"),
        ("comment", "running", "sent"),
    ]
    assert "✅ succeeded" in op_row(comment_bodies(github)[-1], "train")


def test_an_ops_own_hook_reports_the_op_apart_from_the_pipelines_target(rt, db, github, enqueued):
    github.expect_commit_status(OWNER, REPO, SHA, times=None)
    pipeline = Pipeline(db, {"github": {}})
    with db.session() as session:  # train's component: `hooks: [{hubRef: github, trigger: failed}]`
        hooks = [{"hubRef": "github", "trigger": "failed"}]
        session.get(Run, pipeline.ops["train"]).compiled = {"component": {"hooks": hooks}}
    pipeline.op("train", *TO_RUNNING, S.FAILED, message="exit code 1")

    reports.report_run(rt, pipeline.ops["train"])

    assert pipeline.notifications("train") == [("op:github", "failed", "sent")]
    assert [(s["context"], s["state"]) for s in github.statuses(SHA)] == [
        (CONTEXT, "pending"),
        ("axon/train", "failure"),
    ]


def test_a_nested_dags_ops_are_lines_of_the_top_pipeline_under_their_parents_name(rt, db, enqueued):
    pipeline = Pipeline(db, {"github": {}})
    with db.session() as session:
        project_id = session.get(Run, pipeline.top).project_id
        inner = Run(project_id=project_id, parent_id=pipeline.ops["evaluate"], op_name="score")
        lifecycle.create(session, inner)
        session.flush()
        inner_id = inner.id

        assert pipelines.top_of(session, inner_id) == pipeline.top
        lines = pipelines.op_lines(session, pipeline.top, rt.run_url)

    assert [line.name for line in lines] == ["train", "evaluate", "evaluate / score", "deploy"]


def test_a_nested_ops_line_names_its_parent_op():
    lines = render.details(
        _report(ops=(OpLine("build / compile", S.FAILED, why="exit code 2", duration=3.0),))
    )
    assert "Op build / compile failed after 3s: exit code 2" in lines.splitlines()


# ---- asking for a report: once per burst, never when nobody hears -----------------------------


def report_tasks(enqueued) -> list[tuple[int, ...]]:
    return [args for name, args in enqueued if name == "axon.report_run"]


def unreported(db, run_ids) -> list[int]:
    """The runs among `run_ids` with a status their report cursor has not passed."""
    with db.session() as session:
        return sorted(
            session.scalars(
                select(Condition.run_id)
                .join(Run, Run.id == Condition.run_id)
                .where(Condition.run_id.in_(run_ids), Condition.id > Run.report_cursor)
                .distinct()
            )
        )


def test_a_tree_with_no_target_sends_no_report_task_and_leaves_nothing_to_sweep(rt, db, enqueued):
    pipeline = Pipeline(db, {})  # `report: {}` and no default Slack webhook: nobody to tell
    finish_all(pipeline)

    assert report_tasks(enqueued) == []
    assert unreported(db, [pipeline.top, *pipeline.ops.values()]) == []
    with db.session() as session:
        session.add(BrokerProbe(sent_at=utcnow(), seen_at=utcnow()))
        session.execute(update(Condition).values(at=utcnow() - timedelta(minutes=5)))
    enqueued.clear()
    sweeper.sweep(rt)
    assert report_tasks(enqueued) == []


def test_an_op_with_hooks_in_a_tree_with_no_target_still_asks_for_a_report(rt, db, enqueued):
    pipeline = Pipeline(db, {})
    with db.session() as session:
        hooks = [{"hubRef": "slack", "trigger": "failed"}]
        session.get(Run, pipeline.ops["train"]).compiled = {"component": {"hooks": hooks}}
    pipeline.op("evaluate", *TO_RUNNING)
    assert report_tasks(enqueued) == []

    pipeline.op("train", *TO_RUNNING, S.FAILED)

    assert report_tasks(enqueued) == [(pipeline.top,)]


def test_a_burst_of_statuses_in_a_tree_asks_for_one_pass_and_a_begun_pass_is_asked_again(
    rt, db, github, enqueued
):
    github.expect_commit_status(OWNER, REPO, SHA, times=None)
    pipeline = Pipeline(db, {"github": {}})  # the pipeline itself is compiled, then running
    pipeline.op("train", *TO_RUNNING)
    pipeline.op("evaluate", *TO_RUNNING)

    assert report_tasks(enqueued) == [(pipeline.top,)]

    reports.report_run(rt, pipeline.top)
    assert [s["state"] for s in github.statuses(SHA)] == ["pending"]
    assert unreported(db, [pipeline.top, *pipeline.ops.values()]) == []
    enqueued.clear()

    pipeline.op("train", S.SUCCEEDED)
    pipeline.op("evaluate", S.SUCCEEDED)
    pipeline.op("deploy", S.SKIPPED)
    pipeline.move(pipeline.top, S.SUCCEEDED)

    assert report_tasks(enqueued) == [(pipeline.top,)]
    reports.report_run(rt, pipeline.top)
    assert [s["state"] for s in github.statuses(SHA)] == ["pending", "success"]
    assert unreported(db, [pipeline.top, *pipeline.ops.values()]) == []


def test_a_status_that_asks_during_a_pass_which_reads_it_anyway_leaves_no_ask_behind(
    rt, db, github, enqueued, monkeypatch
):
    github.expect_commit_status(OWNER, REPO, SHA, times=None)
    pipeline = Pipeline(db, {"github": {}})
    steps = reports._steps

    def train_moves_first(*args):  # after the pass took the tree in hand, before it reads
        monkeypatch.setattr(reports, "_steps", steps)
        pipeline.op("train", *TO_RUNNING)
        return steps(*args)

    monkeypatch.setattr(reports, "_steps", train_moves_first)
    enqueued.clear()

    reports.report_run(rt, pipeline.top)

    assert report_tasks(enqueued) == [(pipeline.top,)]  # it asked: the lease was taken
    assert unreported(db, [pipeline.top, *pipeline.ops.values()]) == []
    enqueued.clear()
    pipeline.op("train", S.SUCCEEDED)
    assert report_tasks(enqueued) == [(pipeline.top,)]  # the next status asks again


def test_a_pass_asked_for_whose_message_was_lost_is_sent_again_by_the_sweeper(
    rt, db, github, enqueued
):
    pipeline = Pipeline(db, {"github": {}})
    assert report_tasks(enqueued) == [(pipeline.top,)]
    with db.session() as session:  # asked long ago, and no worker has taken it since
        long_ago = utcnow() - timedelta(minutes=5)
        session.get(Run, pipeline.top).report_asked_at = long_ago
        session.add(BrokerProbe(sent_at=utcnow(), seen_at=utcnow()))
    enqueued.clear()

    sweeper.sweep(rt)

    assert report_tasks(enqueued) == [(pipeline.top,)]


def test_a_pass_takes_in_hand_only_the_statuses_a_target_hears(
    rt, db, github, enqueued, monkeypatch
):
    github.expect_commit_status(OWNER, REPO, SHA, times=None)
    pipeline = Pipeline(db, {"github": {}})  # commit statuses: the ops' statuses are not heard
    finish_all(pipeline)
    with db.session() as session:
        own = session.scalar(
            select(func.count()).where(Condition.run_id == pipeline.top).select_from(Condition)
        )
        ops = session.scalar(
            select(func.count()).where(Condition.run_id != pipeline.top).select_from(Condition)
        )
    opened = []
    session_of = db.session
    monkeypatch.setattr(db, "session", lambda: opened.append(1) or session_of())

    reports.report_run(rt, pipeline.top)

    assert [s["state"] for s in github.statuses(SHA)] == ["pending", "success"]
    assert unreported(db, [pipeline.top, *pipeline.ops.values()]) == []
    # The pipeline's own statuses take a session each (and their sends theirs), the ops' none:
    # fewer sessions than statuses, where each status once took one.
    assert ops > own and len(opened) < own + ops


def test_a_long_pass_renews_its_lease(rt, db, github, enqueued, monkeypatch):
    github.expect_commit_status(OWNER, REPO, SHA, times=None)
    pipeline = Pipeline(db, {"github": {}})
    finish_all(pipeline)
    monkeypatch.setattr(reports, "RENEW_AFTER", timedelta(0))
    renewed: list[int] = []
    renew = reports._renew
    monkeypatch.setattr(reports, "_renew", lambda db, top: renewed.append(top) or renew(db, top))

    reports.report_run(rt, pipeline.top)

    assert renewed and set(renewed) == {pipeline.top}
    with db.session() as session:  # let go at the end
        assert session.get(Run, pipeline.top).report_lease_until is None


# ---- rendering: pure ---------------------------------------------------------------------------


def _report(**fields) -> Report:
    base = {
        "run_uuid": "f" * 32,
        "run_name": "pipeline",
        "project": "vision",
        "status": S.RUNNING,
        "url": "http://axon.test/runs/top",
    }
    return Report(**{**base, **fields})


def _ops(count: int) -> tuple[OpLine, ...]:
    return tuple(
        OpLine(f"op-{n}", S.SUCCEEDED, f"http://axon.test/runs/{n}", 12.0, {"loss": 0.5})
        for n in range(count)
    )


def test_an_op_name_cannot_format_the_comment():
    table = markdown.ops(_report(ops=(OpLine("a|b`*x*`", S.RUNNING, "http://axon.test/r"),)))
    assert "[`a\\|b'*x*'`](http://axon.test/r)" in table


def test_a_comment_too_long_for_every_op_keeps_whole_rows_and_says_how_many_more():
    report = _report(ops=_ops(500))
    body = markdown.body(report, 8000)
    rows = [line for line in body.splitlines() if line.startswith("| [`op-")]
    assert 0 < len(rows) < 500 and len(body.encode()) <= 8000
    assert f"_… {500 - len(rows)} more ops, not shown_" in body


def test_the_slack_message_has_a_line_per_op_within_a_sections_limit():
    few = slack.message(_report(ops=_ops(2)))
    [section] = [b for b in few["blocks"] if b.get("text", {}).get("text", "").startswith("*Ops*")]
    assert section["text"]["text"].splitlines()[1:] == [
        ":white_check_mark: <http://axon.test/runs/0|op-0> succeeded in 12s (loss 0.5)",
        ":white_check_mark: <http://axon.test/runs/1|op-1> succeeded in 12s (loss 0.5)",
    ]
    many = slack.message(_report(ops=_ops(300)))
    text = many["blocks"][-1]["text"]["text"]
    assert len(text) <= slack.MAX_SECTION and text.endswith("more ops")
