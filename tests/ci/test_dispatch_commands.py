"""Comment commands on a pull request: `/axon run` with typed params, `/axon rerun` at the pull
request's head, and `/axon cancel`, which stops its runs instead of starting one."""

from __future__ import annotations

import json
from copy import deepcopy

from sqlalchemy import select, update

from ci.compile.compiler import compile_operation
from ci.runs import dispatch
from ci.store.models import Decision, Run
from schemas.spec import load_operation
from schemas.status import RunStatus
from tests.ci.conftest import advance
from tests.ci.factories import OPERATION, setup_project
from tests.conftest import fixture_bytes, github_headers

S = RunStatus
# The recorded pull_request_opened: Codertocat/Hello-World#2, head at this sha.
HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
COMMANDS = {"run": {"args": {"lr": "float", "note": "str"}}, "rerun": None, "cancel": None}


def operation_with_note():
    operation = deepcopy(OPERATION)
    operation["component"]["inputs"].append({"name": "note", "type": "str", "isOptional": True})
    return operation


def subscribe(client):
    setup_project(
        client,
        name="train-on-pr",
        on={"pull_request": {"branches": ["master"]}, "comment": {"commands": COMMANDS}},
        operation=operation_with_note(),
    )


def process(client, db, event, name, body=None):
    """Deliver a recorded GitHub delivery (or `body` in its place) and process it."""
    body = body if body is not None else fixture_bytes(f"webhooks/github/{name}.json")
    headers = github_headers(event, body, "topsecret")
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 202, response.json
    delivery_id = response.json["delivery"]
    with db.session() as session:
        return delivery_id, dispatch.process_delivery(session, delivery_id)


def comment(client, db, text, number=2):
    """An OWNER's new comment on pull request `number` of Codertocat/Hello-World."""
    payload = json.loads(fixture_bytes("webhooks/github/issue_comment_created_on_pr.json"))
    payload["repository"]["full_name"] = "Codertocat/Hello-World"
    payload["issue"]["number"] = number
    payload["comment"]["body"] = text
    body = json.dumps(payload).encode()
    return process(client, db, "issue_comment", "issue_comment_created_on_pr", body)


def opened(client, db):
    [run_id] = process(client, db, "pull_request", "pull_request_opened")[1]
    return run_id


def checks_of(db, delivery_id):
    with db.session() as session:
        [decision] = session.scalars(select(Decision).where(Decision.delivery_id == delivery_id))
        return decision.run_id, [(c["check"], c["ok"], c["reason"]) for c in decision.checks]


def compiled_inputs(db, run_id):
    """The inputs the run's job would get."""
    with db.session() as session:
        run = session.get(Run, run_id)
        compiled = compile_operation(
            load_operation(run.spec), context={"event": run.event}, globals_={}
        )
        return compiled.inputs


def test_a_run_command_passes_its_typed_params_to_the_run_at_the_pull_requests_head(
    client, db, enqueued
):
    subscribe(client)
    opened(client, db)

    _, [run_id] = comment(client, db, "Looks good.\n/axon run train lr=0.5")

    with db.session() as session:
        run = session.get(Run, run_id)
        assert run.spec["params"]["lr"] == {"value": 0.5}
        assert (run.event["sha"], run.event["ref"]) == (HEAD_SHA, "refs/pull/2/head")
    inputs = compiled_inputs(db, run_id)
    assert (inputs["lr"], inputs["sha"]) == (0.5, HEAD_SHA)


def test_a_command_value_is_taken_literally_not_as_a_template(client, db, enqueued):
    subscribe(client)
    opened(client, db)

    _, [run_id] = comment(client, db, '/axon run train note="{{ 7 * 7 }}"')

    assert compiled_inputs(db, run_id)["note"] == "{{ 7 * 7 }}"


def test_rerun_starts_a_new_run_at_the_pull_requests_head(client, db, enqueued):
    subscribe(client)
    pr_delivery, [first] = process(client, db, "pull_request", "pull_request_opened")

    delivery_id, [again] = comment(client, db, "/axon rerun")

    assert again != first
    with db.session() as session:
        assert session.get(Run, again).event["sha"] == HEAD_SHA
    _, checks = checks_of(db, delivery_id)
    assert ("head", True, f"pull request #2 is at ec26c3e (delivery {pr_delivery})") in checks


def test_cancel_stops_the_pull_requests_runs_and_starts_none(client, db, enqueued):
    subscribe(client)
    run_id = opened(client, db)
    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(external_id="local-1"))

    delivery_id, started = comment(client, db, "/axon cancel")

    assert started == []
    with db.session() as session:
        assert session.get(Run, run_id).status == "stopping"
        assert len(list(session.scalars(select(Run)))) == 1
    assert ("axon.stop_run", (run_id,)) in enqueued
    made, checks = checks_of(db, delivery_id)
    assert made is None
    assert (
        "cancel",
        True,
        f"cancelled run {run_id} of pull request #2, as chhsia0 asked",
    ) in checks


def test_cancel_leaves_other_pull_requests_alone(client, db, enqueued):
    subscribe(client)
    run_id = opened(client, db)

    delivery_id, _ = comment(client, db, "/axon cancel", number=7)

    with db.session() as session:
        assert session.get(Run, run_id).status == "created"
    _, checks = checks_of(db, delivery_id)
    assert ("cancel", True, "no run of pull request #7 was in progress") in checks


def test_a_command_on_a_pull_request_axon_has_not_seen_starts_nothing_and_says_why(
    client, db, enqueued
):
    subscribe(client)

    delivery_id, started = comment(client, db, "/axon run train", number=3)

    assert started == []
    made, checks = checks_of(db, delivery_id)
    assert made is None
    assert ("head", False, "Axon has seen no pull_request event of #3, so no commit to run") in (
        checks
    )
