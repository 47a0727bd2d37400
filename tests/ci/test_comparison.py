"""A pull request's run reports its outputs beside the base branch's latest successful run."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ci.reporting import comparison, reports
from ci.runs import lifecycle
from ci.store.models import Notification, Project, Run, Subscription
from schemas.errors import SpecError
from schemas.status import RunStatus as S
from tests.fakes.github import GitHubDouble

OWNER, REPO = "octo", "model"
TO_SUCCEEDED = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.STARTING, S.RUNNING)


def test_each_output_gets_a_verdict_by_its_direction_and_tolerance():
    rules = comparison.rules(
        {"accuracy": {"better": "higher", "tolerance": 0.005}, "loss": {"better": "lower"}}
    )
    shown, regression = comparison.compare(
        {"accuracy": 0.93, "loss": 0.30, "epochs": 3, "model": "s3://m"},
        {"accuracy": 0.90, "loss": 0.25, "epochs": 3},
        rules,
    )
    by_name = {c.name: c for c in shown}
    assert by_name["accuracy"].verdict == "better"
    assert by_name["accuracy"].delta == pytest.approx(0.03)
    assert by_name["loss"].verdict == "worse"
    assert by_name["epochs"].verdict == "" and by_name["epochs"].delta == 0
    assert by_name["model"].base is None
    assert regression == ""


def test_a_move_within_tolerance_is_neutral_not_a_failure():
    rules = comparison.rules({"accuracy": {"tolerance": 0.01, "failIfDrops": 0.01}})
    [shown], regression = comparison.compare({"accuracy": 0.895}, {"accuracy": 0.9}, rules)
    assert shown.verdict == "within tolerance" and regression == ""


def test_a_drop_past_the_rule_is_a_regression_in_words():
    rules = comparison.rules({"accuracy": {"failIfDrops": 0.005}})
    _, regression = comparison.compare({"accuracy": 0.89}, {"accuracy": 0.90}, rules)
    assert regression == "accuracy moved -0.01, more than 0.005 the wrong way"


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"accuracy": {"better": "up"}}, "compare.accuracy.better"),
        ({"accuracy": {"tolerance": -1}}, "compare.accuracy.tolerance"),
        ({"accuracy": {"direction": "higher"}}, "compare.accuracy"),
        (["accuracy"], "compare"),
    ],
)
def test_a_bad_compare_rule_names_its_field(spec, path):
    with pytest.raises(SpecError) as error:
        comparison.rules(spec)
    assert error.value.path == path


@pytest.fixture
def github(rt):
    with GitHubDouble(token="ghp_test") as double:
        rt.settings = rt.settings.model_copy(
            update={"github_api_url": double.url, "github_token": "ghp_test"}
        )
        yield double


def _run(session, subscription, event, outputs):
    run = Run(
        project_id=subscription.project_id,
        name="train",
        subscription=subscription,
        event=event,
        outputs=outputs,
    )
    lifecycle.create(session, run)
    session.flush()
    return run


def _finish(session, run, *statuses):
    for status in statuses:
        lifecycle.transition(session, run, status)


def test_a_pull_request_comment_is_edited_from_running_to_succeeded_with_the_base_table(
    rt, db, github, enqueued
):
    with db.session() as session:
        project = Project(name="vision")
        subscription = Subscription(
            project=project,
            name="train-on-pr",
            spec={"report": {"comment": {}}, "compare": {"accuracy": {"tolerance": 0.005}}},
        )
        session.add_all([project, subscription])
        session.flush()
        push = {"kind": "push", "branch": "main", "repo": f"{OWNER}/{REPO}", "sha": "a" * 40}
        base = _run(session, subscription, push, {"accuracy": 0.90})
        _finish(session, base, *TO_SUCCEEDED, S.SUCCEEDED)
        pull = {
            "kind": "pull_request",
            "repo": f"{OWNER}/{REPO}",
            "sha": "b" * 40,
            "branch": "main",
            "pull_request": {"number": 3, "base": "main"},
        }
        run = _run(session, subscription, pull, {"accuracy": 0.93})
        run_id, base_uuid = run.id, base.uuid
        _finish(session, run, *TO_SUCCEEDED)
    github.expect_comment(OWNER, REPO, 3)
    reports.report_run(rt, run_id)
    [(method, _, running)] = github.comments()
    assert method == "POST" and "running" in running.lower()
    with db.session() as session:
        receipt = session.scalars(select(Notification).where(Notification.run_id == run_id)).one()
    github.expect_comment(OWNER, REPO, comment_id=receipt.receipt["data"]["comment_id"])

    with db.session() as session:
        _finish(session, session.get(Run, run_id), S.SUCCEEDED)
    reports.report_run(rt, run_id)

    github.assert_no_outstanding()
    _, (method, _, final) = github.comments()
    assert method == "PATCH"
    assert "0.93" in final and "0.9" in final and "better" in final
    assert base_uuid in final  # links the base branch's run


def _pull_request_run(db, spec, base_outputs, outputs):
    """A subscription's successful run on a push to main, and a run of a pull request into main
    that got as far as running; returns the pull request run's id."""
    with db.session() as session:
        project = Project(name="vision")
        subscription = Subscription(project=project, name="train-on-pr", spec=spec)
        session.add_all([project, subscription])
        session.flush()
        push = {"kind": "push", "branch": "main", "repo": f"{OWNER}/{REPO}", "sha": "a" * 40}
        base = _run(session, subscription, push, base_outputs)
        _finish(session, base, *TO_SUCCEEDED, S.SUCCEEDED)
        pull = {
            "kind": "pull_request",
            "repo": f"{OWNER}/{REPO}",
            "sha": "b" * 40,
            "branch": "feature",
            "pull_request": {"number": 3, "base": "main"},
        }
        run = _run(session, subscription, pull, outputs)
        _finish(session, run, *TO_SUCCEEDED)
        return run.id


def _check_run_to_the_end(rt, db, github, run_id):
    github.expect_check_run(OWNER, REPO)
    github.expect_check_run(OWNER, REPO, check_run_id=1, times=2)
    reports.report_run(rt, run_id)  # queued, then in progress
    [(_, created), *_] = github.check_runs()
    with db.session() as session:
        _finish(session, session.get(Run, run_id), S.SUCCEEDED)
    reports.report_run(rt, run_id)
    github.assert_no_outstanding()
    return created, github.check_runs()[-1][1]


def test_a_drop_past_the_rule_concludes_the_check_run_as_failure_and_says_why(rt, db, github):
    spec = {
        "report": {"checks": {}},
        "compare": {"accuracy": {"better": "higher", "tolerance": 0.001, "failIfDrops": 0.005}},
    }
    run_id = _pull_request_run(db, spec, {"accuracy": 0.93}, {"accuracy": 0.92})

    created, completed = _check_run_to_the_end(rt, db, github, run_id)

    assert created["head_sha"] == "b" * 40
    assert (completed["status"], completed["conclusion"]) == ("completed", "failure")
    assert "accuracy moved -0.01, more than 0.005 the wrong way" in completed["output"]["title"]
    assert "worse" in completed["output"]["summary"]


def test_a_drop_within_the_rule_concludes_the_check_run_as_success(rt, db, github):
    spec = {"report": {"checks": {}}, "compare": {"accuracy": {"failIfDrops": 0.005}}}
    run_id = _pull_request_run(db, spec, {"accuracy": 0.93}, {"accuracy": 0.927})

    _, completed = _check_run_to_the_end(rt, db, github, run_id)

    assert completed["conclusion"] == "success"
    assert "worse" in completed["output"]["summary"]
