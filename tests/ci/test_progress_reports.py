"""A running run's progress edits its commit status and pull request comment in place, at most
once per window per target, the last word held back until the window ends and never after the
run's final status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from ci import runtime, tasks
from ci.agent import sweeper
from ci.reporting import progress, reports
from ci.runs import lifecycle
from ci.store.db import utcnow
from ci.store.models import BrokerProbe, ProgressReport, Project, Run, Subscription
from schemas.status import RunStatus as S
from tests.fakes.github import GitHubDouble
from tests.fakes.gitlab import GitLabDouble
from tests.waiting import wait_for

OWNER, REPO, SHA, PULL = "octo", "model", "c" * 40, 9
PULL_EVENT = {
    "provider": "github",
    "kind": "pull_request",
    "repo": f"{OWNER}/{REPO}",
    "sha": SHA,
    "branch": "feature",
    "pull_request": {"number": PULL},
}
WINDOW = 0.4  # AXON_PROGRESS_REPORT_INTERVAL here: short, so a test waits little
STATUS_PATH = "/repos/{owner}/{repo}/statuses/{sha}"


@pytest.fixture
def github(rt, app):
    """GitHub's double, which the worker's runtime and the app's both report to."""
    with GitHubDouble(token="ghp_test") as double:
        update = {
            "github_api_url": double.url,
            "github_token": "ghp_test",
            "progress_report_interval": WINDOW,
        }
        for each in (rt, runtime.get()):
            each.settings = each.settings.model_copy(update=update)
        double.expect_commit_status(OWNER, REPO, SHA, times=None)
        double.expect_comment(OWNER, REPO, PULL, times=1)
        double.expect_comment(OWNER, REPO, edit=True, times=None)
        yield double


def running_run(
    db: Any, rt: Any, report: dict[str, Any] | None = None, event: dict[str, Any] = PULL_EVENT
) -> Run:
    """A run of subscription `train` on pull request 9, running, its `running` reported."""
    with db.session() as session:
        project = Project(name="vision")
        spec = {"report": report or {"github": {"context": "axon/train"}, "comment": {}}}
        subscription = Subscription(project=project, name="train", spec=spec)
        run = Run(
            project=project, name="train", runner="local", subscription=subscription,
            event=event,
        )  # fmt: skip
        lifecycle.create(session, run)
        session.flush()
        for status in (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING):
            if status == S.SCHEDULED:
                run.external_id = f"local-{run.uuid}"
            lifecycle.transition(session, run, status)
        session.flush()
        session.expunge(run)
    reports.report_run(rt, run.id)
    return run


def say(client: Any, run: Run, epoch: int, loss: float) -> None:
    body = {"current": epoch, "total": 10, "unit": "epoch", "figures": {"loss": loss}}
    answer = client.post(f"/api/v1/runs/{run.uuid}/progress", json=body)
    assert answer.status_code == 200, answer.json


def asked(enqueued: list[Any]) -> list[tuple[Any, ...]]:
    return [args for name, args in enqueued if name == progress.TASK]


def descriptions(github: GitHubDouble) -> list[str]:
    return [r.json["description"] for r in github.requests_to("POST", STATUS_PATH)]


def comment_calls(github: GitHubDouble) -> list[tuple[str, str]]:
    """(method, body) of each comment request."""
    return [(method, body) for method, _, body in github.comments()]


def due_now(db: Any, run: Run) -> bool:
    with db.session() as session:
        due = session.scalars(
            select(ProgressReport.due_at).where(ProgressReport.run_id == run.id)
        ).all()
    return bool(due) and all(at is not None and at <= utcnow() for at in due)


def test_five_progress_reports_in_a_burst_make_one_update_at_once_and_one_with_the_last_values(
    rt, db, client, github, enqueued
):
    run = running_run(db, rt)
    say(client, run, 1, 0.9)
    assert asked(enqueued) == [(run.id,)]
    assert progress.send(rt, run.id) is None  # the first goes at once

    for epoch, loss in ((2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)):
        say(client, run, epoch, loss)

    assert asked(enqueued) == [(run.id,), (run.id,)]  # one held-back send for all four
    assert descriptions(github) == ["Running", "Running · epoch 1/10 · loss 0.9"]
    wait_for(lambda: due_now(db, run), timeout=5, message="the held-back send falls due")
    progress.send(rt, run.id)

    trailing = descriptions(github)[-1]
    assert len(descriptions(github)) == 3
    assert trailing.startswith("Running · epoch 5/10 · loss 0.5 · ETA ")
    calls = comment_calls(github)
    assert [method for method, _ in calls] == ["POST", "PATCH", "PATCH"]
    assert "epoch 1/10" in calls[1][1] and "epoch 5/10 · loss 0.5 · ETA" in calls[2][1]
    github.assert_no_outstanding()


def test_progress_edits_the_comment_the_running_status_posted(rt, db, client, github, enqueued):
    run = running_run(db, rt)
    [(_, posted, _)] = github.comments()
    say(client, run, 3, 0.21)

    progress.send(rt, run.id)

    [_, (method, path, body)] = github.comments()
    assert method == "PATCH" and path.startswith(f"/repos/{OWNER}/{REPO}/issues/comments/")
    assert "running · epoch 3/10 · loss 0.21" in body
    assert len(github.requests_to("POST", "/repos/{owner}/{repo}/issues/{n}/comments")) == 1


def test_a_final_status_after_held_back_progress_keeps_the_final_text(
    rt, db, client, github, enqueued
):
    run = running_run(db, rt)
    say(client, run, 1, 0.9)
    progress.send(rt, run.id)
    say(client, run, 2, 0.8)  # held back for the window
    with db.session() as session:
        row = session.get(Run, run.id, with_for_update=True)
        lifecycle.transition(session, row, S.SUCCEEDED)
    reports.report_run(rt, run.id)
    final_state, final_comment = github.statuses(SHA)[-1], github.comments()[-1]

    wait_for(lambda: due_now(db, run), timeout=5, message="the held-back send falls due")
    assert progress.send(rt, run.id) is None

    assert (github.statuses(SHA)[-1], github.comments()[-1]) == (final_state, final_comment)
    assert final_state["state"] == "success"
    assert "succeeded" in final_comment[2].splitlines()[1]
    assert not due_now(db, run)  # nothing is left to send


def test_progress_waits_while_the_runs_status_is_being_reported(rt, db, client, github, enqueued):
    run = running_run(db, rt)
    say(client, run, 1, 0.9)
    with db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == run.id)
            .values(report_lease_until=utcnow() + timedelta(seconds=60))
        )

    assert progress.send(rt, run.id) == progress.BUSY_WAIT

    assert descriptions(github) == ["Running"]
    assert due_now(db, run)  # still to be sent once the reporter lets go


def test_a_held_back_send_whose_message_was_lost_is_sent_by_the_sweeper(
    rt, db, client, github, enqueued
):
    run = running_run(db, rt)
    say(client, run, 1, 0.9)
    progress.send(rt, run.id)
    say(client, run, 4, 0.4)
    enqueued.clear()  # the worker holding the countdown went away with it
    with db.session() as session:
        then = utcnow() - timedelta(seconds=300)
        session.execute(
            update(ProgressReport).where(ProgressReport.run_id == run.id).values(due_at=then)
        )
        session.add(BrokerProbe(sent_at=utcnow(), seen_at=utcnow()))

    assert sweeper.sweep(rt)["progress"] == 1
    assert asked(enqueued) == [(run.id,)]
    tasks.report_progress.run(run.id)  # a fresh worker takes the message

    assert descriptions(github)[-1].startswith("Running · epoch 4/10 · loss 0.4 · ETA ")
    assert not due_now(db, run)


def test_targets_that_cannot_edit_in_place_hear_no_progress(rt, db, client, github, enqueued):
    run = running_run(db, rt, report={"webhook": {"url": "http://hooks.invalid/axon"}})
    say(client, run, 1, 0.9)

    assert asked(enqueued) == []
    with db.session() as session:
        assert session.scalars(select(ProgressReport)).all() == []


def test_a_run_that_only_logs_metrics_shows_its_latest_step(rt, db, client, github, enqueued):
    run = running_run(db, rt)
    answer = client.post(
        f"/api/v1/runs/{run.uuid}/metrics", json={"metrics": {"loss": 0.25}, "step": 40}
    )
    assert answer.status_code == 200, answer.json

    assert asked(enqueued) == [(run.id,)]
    progress.send(rt, run.id)
    assert descriptions(github)[-1] == "Running · step 40 · loss 0.25"


def test_gitlab_hears_progress_in_its_commit_status_and_its_merge_request_note(
    rt, db, client, github, enqueued
):
    with GitLabDouble(token="glpat-test") as gitlab:
        rt.settings = rt.settings.model_copy(
            update={"gitlab_api_url": gitlab.url + "/api/v4", "gitlab_token": "glpat-test"}
        )
        gitlab.expect_status(f"{OWNER}/{REPO}", SHA, times=None)
        gitlab.expect_note(f"{OWNER}/{REPO}", PULL)
        gitlab.expect_note(f"{OWNER}/{REPO}", PULL, note_id=301, times=None)
        event = {**PULL_EVENT, "provider": "gitlab"}
        run = running_run(db, rt, report={"gitlab": {}, "note": {}}, event=event)
        say(client, run, 3, 0.21)

        progress.send(rt, run.id)

        assert [body["description"] for body in gitlab.statuses()] == [
            "Running",
            "Running · epoch 3/10 · loss 0.21",
        ]
        assert [method for method, _ in gitlab.notes()] == ["POST", "PUT"]
        assert "running · epoch 3/10 · loss 0.21" in gitlab.notes()[-1][1]
        gitlab.assert_no_outstanding()
