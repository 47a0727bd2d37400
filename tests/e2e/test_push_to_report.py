"""A signed GitHub push becomes a run, and comes back as a commit status and a Slack message."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import github_headers
from tests.e2e.scenario import NAME, OWNER, push_delivery, send, subscribe


def test_a_push_runs_the_operation_and_reports_pending_then_success(axon, repo, github, slack):
    project, source = subscribe(axon)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message(times=1)

    response = send(axon, source, *push_delivery(repo))
    assert response.status_code == 202

    run = axon.wait_for_run(project)
    assert run["status"] == "succeeded", axon.logs()
    history = [c["status"] for c in run["conditions"]]
    assert history == [
        "created",
        "compiled",
        "queued",
        "scheduled",
        "starting",
        "running",
        "succeeded",
    ]
    assert run["outputs"] == {"accuracy": 0.93, "loss": 0.21}
    logs = axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs").text
    assert f"training at {repo['sha']} with lr=0.05" in logs
    assert "model v1" in logs  # the pushed commit, not the branch head

    statuses = github.wait_for_statuses(2, timeout=15)
    assert [s["state"] for s in statuses] == ["pending", "success"]
    assert {s["context"] for s in statuses} == {"axon/train"}
    assert statuses[-1]["target_url"] == f"{axon.url}/runs/{run['uuid']}"
    [message] = slack.wait_for_messages(1, timeout=15)
    assert "succeeded" in message["text"] and "accuracy" in json.dumps(message["blocks"])
    github.assert_no_outstanding()
    slack.assert_no_outstanding()


def test_a_command_that_exits_1_ends_failed_and_reports_failure(axon, repo, github, slack):
    project, source = subscribe(axon, exit_code=1)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message(times=1)

    assert send(axon, source, *push_delivery(repo)).status_code == 202

    run = axon.wait_for_run(project)
    assert run["status"] == "failed"
    assert run["conditions"][-1]["message"] == "exit code 1"
    assert [s["state"] for s in github.wait_for_statuses(2, timeout=15)] == ["pending", "failure"]
    [message] = slack.wait_for_messages(1, timeout=15)
    assert "failed" in message["text"]
    github.assert_no_outstanding()


def test_the_same_delivery_sent_twice_starts_one_run(axon, repo, github, slack):
    project, source = subscribe(axon)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message(times=1)
    headers, body = push_delivery(repo, delivery=str(uuid.uuid4()))

    first, second = send(axon, source, headers, body), send(axon, source, headers, body)

    assert (first.status_code, second.status_code) == (202, 200)
    axon.wait_for_run(project)
    runs = axon.api("GET", "/api/v1/runs", params={"project": project}).json()
    assert len(runs) == 1
    github.wait_for_statuses(2, timeout=15)
    github.assert_no_outstanding()


def test_stopping_a_running_run_kills_it_and_ends_stopped(axon, repo, github, slack):
    project, source = subscribe(axon, sleep=60)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)
    slack.expect_message(times=1)
    assert send(axon, source, *push_delivery(repo)).status_code == 202
    run = axon.wait_for_run(project, done=False)
    axon.wait_for_status(run["uuid"], "running")

    assert axon.api("POST", f"/api/v1/runs/{run['uuid']}/stop").status_code == 202

    stopped = axon.wait_for_status(run["uuid"], "stopped", timeout=20)
    assert [c["status"] for c in stopped["conditions"]][-2:] == ["stopping", "stopped"]
    assert [s["state"] for s in github.wait_for_statuses(2, timeout=15)] == ["pending", "error"]
    slack.wait_for_messages(1, timeout=15)


def test_the_delivery_shows_which_subscription_matched_and_why(axon, repo, github, slack):
    project, source = subscribe(axon)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=None)
    slack.expect_message(times=None)
    response = send(axon, source, *push_delivery(repo))
    axon.wait_for_run(project)

    delivery = axon.api("GET", f"/api/v1/deliveries/{response.json()['delivery']}").json()

    assert delivery["status"] == "processed"
    [decision] = delivery["decisions"]
    assert decision["matched"] and decision["run"]
    assert {"check": "ref", "ok": True, "reason": "branch 'main' matches 'main'"} in decision[
        "checks"
    ]


@pytest.mark.parametrize("secret", ["wrong secret", None])
def test_a_bad_signature_is_refused_and_recorded(axon, repo, secret):
    project, source = subscribe(axon)
    _, body = push_delivery(repo)
    headers = github_headers("push", body, secret)

    assert send(axon, source, headers, body).status_code == 401

    rejected = axon.api("GET", "/api/v1/deliveries", params={"status": "rejected"}).json()
    assert any(d["source"] == source for d in rejected)
    assert axon.api("GET", "/api/v1/runs", params={"project": project}).json() == []
