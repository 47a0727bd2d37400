"""`isApproved: false` holds a compiled run until someone approves it: API, CLI, PR comment."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from ci.agent import sweeper
from ci.cli import client as cli_client
from ci.cli.commands import main
from ci.runs import dispatch
from ci.store.db import utcnow
from ci.store.models import Run
from tests.ci.cli_transport import Api
from tests.ci.conftest import operation
from tests.ci.factories import OPERATION, setup_project
from tests.conftest import fixture_bytes, github_headers


def held_operation(**overrides: Any) -> dict[str, Any]:
    op = operation()
    op["isApproved"] = False
    op.update(overrides)
    return op


@pytest.fixture
def held_run(axon) -> int:
    axon.create_project()
    axon.subscribe(operation=held_operation())
    [run_id] = axon.push()
    return run_id


def statuses(axon, run_id) -> list[str]:
    return [c["status"] for c in axon.run(run_id)["conditions"]]


def startable(db) -> list[int]:
    with db.session() as session:
        due = sweeper._due_runs(session, utcnow(), timedelta(0), sweeper._startable())
    return [run_id for run_id, _ in due]


def test_a_run_that_is_not_approved_compiles_and_waits(axon, held_run, submitted, start, db):
    start(held_run)
    start(held_run)  # a second start (the sweeper's, a redelivery) does not let it go either

    run = axon.run(held_run)
    assert (run["status"], run["pending"]) == ("compiled", "approval")
    assert statuses(axon, held_run) == ["created", "compiled"]
    assert submitted == []
    assert held_run not in startable(db)


def test_approving_by_the_api_queues_it_and_the_history_says_who(
    axon, client, held_run, submitted, start, enqueued
):
    start(held_run)
    uuid = axon.run(held_run)["uuid"]

    response = client.post(f"/api/v1/runs/{uuid}/approve", json={"by": "alice"})

    assert response.status_code == 202, response.json
    assert response.json["pending"] is None
    assert ("axon.start_run", (held_run,)) in enqueued
    start(held_run)
    run = axon.run(held_run)
    assert run["status"] == "scheduled"
    queued = [c for c in run["conditions"] if c["status"] == "queued"][0]
    assert queued["message"] == "runner local; approved by alice"
    assert [spec.uuid for spec in submitted] == [uuid]


def test_a_run_not_waiting_for_approval_cannot_be_approved(axon, client, held_run, start):
    start(held_run)
    uuid = axon.run(held_run)["uuid"]
    assert client.post(f"/api/v1/runs/{uuid}/approve").status_code == 202

    again = client.post(f"/api/v1/runs/{uuid}/approve")

    assert again.status_code == 409
    assert again.json["error"]["message"] == (
        f"run {uuid} is not waiting for approval (it is compiled)"
    )
    assert client.post("/api/v1/runs/nosuchrun/approve").status_code == 404
    bad = client.post(f"/api/v1/runs/{uuid}/approve", json={"by": ""})
    assert bad.status_code == 422


def test_a_component_that_asks_for_approval_is_held_unless_its_operation_approves_it(
    axon, db, start
):
    asked = operation()
    asked["component"]["isApproved"] = False
    approved = operation()
    approved["component"]["isApproved"] = False
    approved["isApproved"] = True
    axon.create_project()
    axon.subscribe(name="asked", operation=asked)
    axon.subscribe(name="approved", operation=approved)
    run_ids = axon.push()

    for run_id in run_ids:
        start(run_id)

    with db.session() as session:
        pending = {
            session.get(Run, i).subscription.name: session.get(Run, i).pending for i in run_ids
        }
    assert pending == {"asked": "approval", "approved": None}


def test_axon_ops_approve(client, db, axon, held_run, start, monkeypatch):
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))
    start(held_run)
    uuid = axon.run(held_run)["uuid"]

    result = CliRunner().invoke(
        main, ["ops", "approve", uuid, "--by", "bob"], env={"AXON_URL": "http://axon.test"}
    )
    again = CliRunner().invoke(main, ["ops", "approve", uuid], env={"AXON_URL": "http://axon.test"})

    assert result.exit_code == 0, result.output
    assert result.output == f"{uuid}\tcompiled\tapproved by bob\n"
    assert again.exit_code != 0
    assert "is not waiting for approval" in again.output


def comment(client, db, text: str) -> list[int]:
    """An OWNER's comment on pull request #2 of Codertocat/Hello-World, processed."""
    payload = json.loads(fixture_bytes("webhooks/github/issue_comment_created_on_pr.json"))
    payload["repository"]["full_name"] = "Codertocat/Hello-World"
    payload["issue"]["number"] = 2
    payload["comment"]["body"] = text
    body = json.dumps(payload).encode()
    headers = github_headers("issue_comment", body, "topsecret")
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 202, response.json
    with db.session() as session:
        return dispatch.process_delivery(session, response.json["delivery"])


def pull_request_opened(client, db) -> int:
    body = fixture_bytes("webhooks/github/pull_request_opened.json")
    response = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("pull_request", body, "topsecret")
    )
    with db.session() as session:
        [run_id] = dispatch.process_delivery(session, response.json["delivery"])
    return run_id


def test_an_approve_comment_lets_the_pull_requests_waiting_runs_go(client, db, enqueued, start):
    op = dict(OPERATION, isApproved=False)
    setup_project(
        client,
        name="train-on-pr",
        on={"pull_request": {"branches": ["master"]}, "comment": {"commands": ["approve"]}},
        operation=op,
    )
    run_id = pull_request_opened(client, db)
    start(run_id)

    started = comment(client, db, "/axon approve")

    assert started == []
    with db.session() as session:
        run = session.get(Run, run_id)
        assert (run.pending, run.meta["approved_by"]) == (None, "chhsia0")
    assert ("axon.start_run", (run_id,)) in enqueued


def test_an_approve_comment_from_an_untrusted_author_approves_nothing(client, db, start):
    op = dict(OPERATION, isApproved=False)
    setup_project(
        client,
        name="train-on-pr",
        on={
            "pull_request": {"branches": ["master"]},
            "comment": {"commands": ["approve"], "associations": ["MEMBER"]},
        },
        operation=op,
    )
    run_id = pull_request_opened(client, db)
    start(run_id)

    comment(client, db, "/axon approve")  # the recorded author is the repository's OWNER

    with db.session() as session:
        assert session.get(Run, run_id).pending == "approval"
