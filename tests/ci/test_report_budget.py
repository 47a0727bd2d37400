"""Each report target has its own retry budget: it waits longer after each failed try, gives up
with the reason after AXON_NOTIFY_MAX_ATTEMPTS, and never holds back another target."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ci import runtime, tasks
from ci.reporting import credentials, reports
from ci.store.db import utcnow
from ci.store.models import Notification, Run
from schemas.status import RunStatus
from tests.ci.conftest import advance
from tests.e2e.harness import free_port

S = RunStatus
TO_RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.STARTING, S.RUNNING)
REPORT = {"github": {"context": "axon/train"}, "slack": {}}


@pytest.fixture
def unreachable_github(rt, slack):
    """GitHub's API address answers nothing (connection refused); Slack is up. Three tries."""
    rt.settings = rt.settings.model_copy(
        update={
            "github_api_url": f"http://127.0.0.1:{free_port()}",
            "slack_webhook_url": slack.webhook_url,
            "notify_timeout_seconds": 5.0,
            "notify_max_attempts": 3,
        }
    )


@pytest.fixture
def run_reporting_to(axon):
    def make(report=REPORT) -> int:
        axon.create_project()
        axon.subscribe(report=report)
        [run_id] = axon.push()
        return run_id

    return make


def make_retries_due(db, run_id):
    with db.session() as session:
        session.execute(
            update(Notification)
            .where(Notification.run_id == run_id, Notification.state == "retrying")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def notification_log(client, axon, run_id):
    response = client.get(f"/api/v1/runs/{axon.run(run_id)['uuid']}/notifications")
    assert response.status_code == 200
    return response.json


def rows(db, run_id):
    with db.session() as session:
        found = session.scalars(
            select(Notification).where(Notification.run_id == run_id).order_by(Notification.id)
        )
        return [(n.target, n.status, n.state, n.attempts) for n in found]


def test_with_github_unreachable_slack_still_gets_the_final_status_at_once(
    rt, db, slack, unreachable_github, run_reporting_to
):
    slack.expect_message()
    run_id = run_reporting_to()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    waits = reports.report_run(rt, run_id)

    assert waits == [5.0]  # GitHub's `running`, due again in 5 seconds
    assert len(slack.messages()) == 1
    assert rows(db, run_id) == [
        ("github", "running", "retrying", 1),
        ("slack", "succeeded", "sent", 1),
    ]
    slack.assert_no_outstanding()


def test_a_retry_that_is_not_due_is_not_made_by_a_task_sent_again(
    rt, db, slack, unreachable_github, run_reporting_to
):
    slack.expect_message()
    run_id = run_reporting_to()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    reports.report_run(rt, run_id)

    # Another report task (the sweeper's, or a restarted worker's) before the wait is over.
    assert reports.report_run(rt, run_id) == []

    assert rows(db, run_id)[0] == ("github", "running", "retrying", 1)


def test_the_wait_doubles_after_each_failed_try(
    rt, db, slack, unreachable_github, run_reporting_to
):
    rt.settings = rt.settings.model_copy(update={"notify_max_attempts": 8})
    run_id = run_reporting_to(report={"github": {}})
    advance(db, run_id, *TO_RUNNING)

    waits = []
    for _ in range(4):
        waits += reports.report_run(rt, run_id)
        make_retries_due(db, run_id)

    assert waits == [5.0, 10.0, 20.0, 40.0]


def test_a_target_that_never_answers_ends_failed_with_the_reason_and_its_next_status_is_tried(
    rt, db, axon, client, slack, unreachable_github, run_reporting_to
):
    slack.expect_message()
    run_id = run_reporting_to()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    for _ in range(3):
        reports.report_run(rt, run_id)
        make_retries_due(db, run_id)

    log = [(e["target"], e["status"], e["state"]) for e in notification_log(client, axon, run_id)]
    assert log == [
        ("github", "running", "retrying"),
        ("slack", "succeeded", "sent"),
        ("github", "running", "retrying"),
        ("github", "running", "failed"),
        # `running` is settled (failed): `succeeded` goes to GitHub next, with its own budget.
        ("github", "succeeded", "retrying"),
    ]
    failed = notification_log(client, axon, run_id)[3]
    assert failed["reason"].startswith("gave up after 3 attempts: github status for ")
    assert "cannot connect" in failed["reason"]


def test_the_report_task_sends_itself_again_for_when_the_retry_is_due(
    rt, db, enqueued, slack, unreachable_github, run_reporting_to, monkeypatch
):
    slack.expect_message()
    run_id = run_reporting_to()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    later = []
    monkeypatch.setattr(
        runtime, "enqueue", lambda task, *args, **options: later.append((task, args, options))
    )

    tasks.report_run.run(run_id)

    assert later == [("axon.report_run", (run_id,), {"countdown": 5.0})]


def test_a_comment_target_on_a_push_is_logged_as_skipped_with_the_reason(
    rt, db, axon, client, github, run_reporting_to
):
    rt.settings = rt.settings.model_copy(update={"github_api_url": github.url})
    run_id = run_reporting_to(report={"comment": {}})
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    reports.report_run(rt, run_id)

    log = [(e["status"], e["state"], e["reason"]) for e in notification_log(client, axon, run_id)]
    assert log == [
        ("running", "skipped", "the run is not on a pull request"),
        ("succeeded", "skipped", "the run is not on a pull request"),
    ]
    assert github.requests == []


def test_without_a_github_token_the_status_fails_at_once_naming_the_variable(
    rt, db, axon, client, github, run_reporting_to
):
    rt.settings = rt.settings.model_copy(update={"github_api_url": github.url, "github_token": ""})
    run_id = run_reporting_to(report={"github": {}})
    advance(db, run_id, *TO_RUNNING)

    assert reports.report_run(rt, run_id) == []  # nothing to retry: it cannot get better

    [entry] = notification_log(client, axon, run_id)
    assert entry["state"] == "failed"
    assert "AXON_GITHUB_TOKEN is not set" in entry["reason"]
    assert github.requests == []


def test_a_worker_starting_without_a_github_token_warns_when_a_subscription_reports_there(
    rt, axon, caplog
):
    rt.settings = rt.settings.model_copy(update={"github_token": "", "github_app_id": ""})
    axon.create_project()
    assert credentials.warn_of_missing_credentials(rt) == []  # nothing reports to GitHub yet
    axon.subscribe(report={"comment": {}, "slack": {}})

    with caplog.at_level(logging.WARNING, logger="ci.reporting.reports"):
        warnings = credentials.warn_of_missing_credentials(rt)

    assert warnings == ["AXON_GITHUB_TOKEN is not set: reports to comment will fail"]
    assert warnings[0] in caplog.text


def test_a_run_is_not_held_by_its_lease_while_a_target_waits(
    rt, db, slack, unreachable_github, run_reporting_to
):
    slack.expect_message()
    run_id = run_reporting_to()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    reports.report_run(rt, run_id)

    with db.session() as session:
        assert session.get(Run, run_id).report_lease_until is None
