"""Reporting: each status change reaches every target that wants it, once and in order."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from ci.reporting import reports
from ci.store.db import utcnow
from ci.store.models import Notification, Run
from schemas.status import RunStatus
from tests.ci.conftest import OWNER, PUSHED_SHA, REPO, advance

S = RunStatus
TO_RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.STARTING, S.RUNNING)
REPORT = {"github": {"context": "axon/train"}, "slack": {}}


@pytest.fixture
def notifiers_on_doubles(rt, github, slack):
    """Point the runtime's GitHub and Slack notifiers at the doubles."""
    rt.settings = rt.settings.model_copy(
        update={
            "github_api_url": github.url,
            "slack_webhook_url": slack.webhook_url,
            "notify_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def reported_run(axon, notifiers_on_doubles):
    """A run of a subscription reporting to GitHub (context axon/train) and Slack."""

    def make(report=REPORT) -> int:
        axon.create_project()
        axon.subscribe(**({} if report is None else {"report": report}))
        [run_id] = axon.push()
        return run_id

    return make


def delivered(double, path_pattern):
    """The bodies the double accepted (2xx), in arrival order."""
    return [r.json for r in double.requests_to("POST", path_pattern) if r.status < 300]


def github_states(github):
    return [body["state"] for body in delivered(github, "/repos/{owner}/{repo}/statuses/{sha}")]


def make_retries_due(db, run_id):
    """The wait before each retrying target's next try is over."""
    with db.session() as session:
        session.execute(
            update(Notification)
            .where(Notification.run_id == run_id, Notification.state == "retrying")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def notifications(db, run_id):
    with db.session() as session:
        rows = session.scalars(
            select(Notification).where(Notification.run_id == run_id).order_by(Notification.id)
        )
        return [(n.target, n.status, n.state, n.error) for n in rows]


def test_a_run_that_runs_and_succeeds_sends_pending_then_success_and_one_slack_message(
    rt, db, axon, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    reports.report_run(rt, run_id)

    github.assert_no_outstanding()
    slack.assert_no_outstanding()
    statuses = github.statuses(PUSHED_SHA)
    assert [s["state"] for s in statuses] == ["pending", "success"]
    assert {s["context"] for s in statuses} == {"axon/train"}
    uuid = axon.run(run_id)["uuid"]
    assert statuses[-1]["target_url"] == f"http://axon.test/runs/{uuid}"
    [message] = slack.messages()
    assert message["text"].startswith(":white_check_mark: vision/train succeeded")
    assert sorted(notifications(db, run_id)) == [
        ("github", "running", "sent", ""),
        ("github", "succeeded", "sent", ""),
        ("slack", "succeeded", "sent", ""),
    ]


def test_reporting_again_sends_nothing_more(rt, db, github, slack, reported_run):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    reports.report_run(rt, run_id)
    sent = len(github.requests) + len(slack.requests)

    reports.report_run(rt, run_id)

    assert len(github.requests) + len(slack.requests) == sent
    assert len(notifications(db, run_id)) == 3


def test_each_status_is_reported_as_it_happens_and_only_once(rt, db, github, slack, reported_run):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING)

    reports.report_run(rt, run_id)
    assert (github_states(github), slack.messages()) == (["pending"], [])

    advance(db, run_id, S.SUCCEEDED)
    reports.report_run(rt, run_id)
    assert github_states(github) == ["pending", "success"]
    assert len(slack.messages()) == 1


def test_a_target_answering_500_is_retried_and_still_hears_pending_before_success(
    rt, db, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, status=500, times=1)
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    assert reports.report_run(rt, run_id) == [5.0]
    assert github_states(github) == []
    make_retries_due(db, run_id)

    assert reports.report_run(rt, run_id) == []

    assert [r.json["state"] for r in github.requests] == ["pending", "pending", "success"]
    assert [r.status for r in github.requests] == [500, 201, 201]
    assert len(slack.messages()) == 1
    github.assert_no_outstanding()
    slack.assert_no_outstanding()


def test_a_failure_on_the_second_target_resends_only_to_that_target(
    rt, db, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1, status=503, body="service_unavailable")
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    reports.report_run(rt, run_id)
    make_retries_due(db, run_id)
    reports.report_run(rt, run_id)

    assert github_states(github) == ["pending", "success"]
    assert [r.status for r in slack.requests] == [503, 200]


def test_a_slack_webhook_answering_no_team_is_recorded_as_failed_and_github_still_hears(
    rt, db, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1, status=404, body="no_team")
    run_id = reported_run(report={"slack": {}, "github": {"context": "axon/train"}})
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    reports.report_run(rt, run_id)

    assert github_states(github) == ["pending", "success"]
    # Slack was asked first, and its refusal did not keep GitHub from hearing of success.
    [pending, refused, success] = notifications(db, run_id)
    assert (pending[:3], success[:3]) == (
        ("github", "running", "sent"),
        ("github", "succeeded", "sent"),
    )
    target, status, state, error = refused
    assert (target, status, state) == ("slack", "succeeded", "failed")
    assert "404 no_team" in error
    assert slack.webhook_url not in error and slack.secret not in error
    reports.report_run(rt, run_id)  # a refusal is final: Slack is not asked again
    assert len(slack.requests) == 1


def test_outputs_the_job_reported_are_in_the_slack_message(
    rt, db, axon, client, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING)
    uuid = axon.run(run_id)["uuid"]
    logged = client.post(
        f"/api/v1/runs/{uuid}/outputs",
        json={"outputs": {"accuracy": 0.93, "loss": 0.21}},
        headers={"Authorization": f"Bearer {rt.run_token(uuid)}"},
    )
    assert logged.status_code == 200
    advance(db, run_id, S.SUCCEEDED)

    reports.report_run(rt, run_id)

    [message] = slack.messages()
    fields = [f["text"] for block in message["blocks"] for f in block.get("fields", ())]
    assert "*accuracy*\n0.93" in fields and "*loss*\n0.21" in fields


def test_a_subscription_reporting_to_no_target_reports_nowhere(rt, db, github, slack, reported_run):
    run_id = reported_run(report={})
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)

    reports.report_run(rt, run_id)

    assert (github.requests, slack.requests) == ([], [])
    assert notifications(db, run_id) == []


def test_without_report_the_run_reports_to_its_forge_and_the_default_slack_webhook(
    rt, db, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run(report=None)  # the subscription says nothing about reporting
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    reports.report_run(rt, run_id)

    assert github_states(github) == ["pending", "success"]
    assert {s["context"] for s in github.statuses()} == {"axon/train-on-master"}
    assert len(slack.messages()) == 1


def test_while_another_reporter_holds_the_lease_a_second_one_sends_nothing(
    rt, db, github, slack, reported_run
):
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    held_until = utcnow() + timedelta(seconds=60)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(report_lease_until=held_until))

    reports.report_run(rt, run_id)

    # The holder reports this status after it lets go of the lease.
    assert (github.requests, slack.requests) == ([], [])
    with db.session() as session:
        assert session.get(Run, run_id).report_lease_until == held_until


def test_an_expired_lease_does_not_block_reporting(rt, db, github, slack, reported_run):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    expired = utcnow() - timedelta(seconds=1)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(report_lease_until=expired))

    reports.report_run(rt, run_id)

    assert github_states(github) == ["pending", "success"]
    with db.session() as session:
        assert session.get(Run, run_id).report_lease_until is None


def test_a_status_that_arrives_while_the_lease_is_held_is_reported_by_the_holder(
    rt, db, github, slack, reported_run, monkeypatch
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING)
    real_report_pass = reports._report_pass
    finished = []

    def report_pass_then_finish(rt_, run_id_, waits):
        seen = real_report_pass(rt_, run_id_, waits)
        if not finished:
            # The run ends just as the holder is done with what it saw; that status's own
            # task would find the lease taken and return.
            finished.append(True)
            advance(db, run_id, S.SUCCEEDED)
        return seen

    monkeypatch.setattr(reports, "_report_pass", report_pass_then_finish)

    reports.report_run(rt, run_id)

    assert github_states(github) == ["pending", "success"]


# -- the notification log ----------------------------------------------------------------------


def notification_log(client, axon, run_id, project=None):
    uuid = axon.run(run_id)["uuid"]
    prefix = f"/api/v1/projects/{project}" if project else "/api/v1"
    return client.get(f"{prefix}/runs/{uuid}/notifications")


def test_the_notification_log_has_every_attempt_with_its_http_status_and_receipt(
    rt, db, axon, client, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, status=500, times=1)
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    reports.report_run(rt, run_id)
    make_retries_due(db, run_id)
    reports.report_run(rt, run_id)

    response = notification_log(client, axon, run_id)

    assert response.status_code == 200
    log = [
        (e["target"], e["notifier"], e["via"], e["status"], e["state"], e["http_status"])
        for e in response.json
    ]
    assert [entry for entry in log if entry[0] == "github"] == [
        ("github", "github", "report", "running", "retrying", 500),
        ("github", "github", "report", "running", "sent", 201),
        ("github", "github", "report", "succeeded", "sent", 201),
    ]
    assert [entry for entry in log if entry[0] == "slack"] == [
        ("slack", "slack", "report", "succeeded", "sent", 200),
    ]
    retried, sent = [e for e in response.json if e["target"] == "github"][:2]
    assert "500 Internal Server Error" in retried["reason"] and retried["receipt_id"] == ""
    assert sent["reason"] == "" and sent["receipt_id"].isdigit()  # the status id GitHub gave
    assert all(e["at"] for e in response.json)


def test_a_rate_limited_attempt_says_when_it_will_be_retried(
    rt, db, axon, client, github, slack, reported_run
):
    reset = str(int(time.time()) + 30)
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, status=403, headers=limited)
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING)

    [wait] = reports.report_run(rt, run_id)

    assert 25 <= wait <= 30
    [attempt] = notification_log(client, axon, run_id).json
    assert (attempt["state"], attempt["http_status"]) == ("retrying", 403)
    assert re.search(r"; retry after (2[5-9]|30)s$", attempt["reason"])


def test_the_notification_log_never_shows_a_secret(
    rt, db, axon, client, github, slack, reported_run
):
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    slack.expect_message(times=1, status=404, body="no_team")
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING, S.SUCCEEDED)
    reports.report_run(rt, run_id)

    response = notification_log(client, axon, run_id)

    [refused] = [entry for entry in response.json if entry["target"] == "slack"]
    assert (refused["target"], refused["state"], refused["http_status"]) == ("slack", "failed", 404)
    assert "no_team" in refused["reason"]
    for secret in (slack.webhook_url, slack.secret, "ghp_test"):
        assert secret not in response.text


def test_the_notification_log_is_also_found_under_the_runs_project(
    rt, db, axon, client, github, slack, reported_run
):
    run_id = reported_run(report={})

    assert notification_log(client, axon, run_id, project="vision").json == []
    elsewhere = notification_log(client, axon, run_id, project="audio")
    assert elsewhere.status_code == 404
    assert "in 'audio'" in elsewhere.json["error"]["message"]
    assert client.get("/api/v1/runs/0123abcd/notifications").status_code == 404


def test_while_a_target_asks_to_wait_a_newer_status_waits_for_it_and_the_others_do_not(
    rt, db, github, slack, reported_run
):
    retry_after = {"Retry-After": "30"}
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, status=403, headers=retry_after)
    slack.expect_message()
    run_id = reported_run()
    advance(db, run_id, *TO_RUNNING)
    assert reports.report_run(rt, run_id) == [30.0]
    advance(db, run_id, S.SUCCEEDED)

    assert reports.report_run(rt, run_id) == []  # the newer status's own task

    assert len(github.requests) == 1  # GitHub waits the 30 seconds it asked for
    assert len(slack.messages()) == 1  # Slack is not held back by GitHub's wait
    with db.session() as session:
        [row] = session.scalars(select(Notification).where(Notification.state == "retrying"))
    assert timedelta(seconds=28) < row.next_attempt_at - utcnow() <= timedelta(seconds=30)

    # The retry, due when the wait is over, reports both statuses to GitHub in order.
    github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=2)
    make_retries_due(db, run_id)
    assert reports.report_run(rt, run_id) == []
    assert github_states(github) == ["pending", "success"]
    github.assert_no_outstanding()
    slack.assert_no_outstanding()
