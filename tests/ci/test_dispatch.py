"""A delivery becomes decisions and runs; the decision log says why for every subscription."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from ci.runs import dispatch
from ci.store.models import Delivery, Run, Subscription
from schemas.status import RunStatus
from tests.ci.conftest import advance
from tests.ci.factories import setup_project, subscription
from tests.conftest import github_headers


def deliver(client, github_delivery, name="push_branch_commits", body=None):
    headers, recorded = github_delivery(name)
    body = body if body is not None else recorded
    headers = github_headers(headers["X-GitHub-Event"], body, "topsecret")
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 202, response.json
    return response.json["delivery"]


def test_a_matching_push_creates_one_run_and_asks_for_its_start(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        run_ids = dispatch.process_delivery(session, delivery_id)
    [run_id] = run_ids
    with db.session() as session:
        run = session.get(Run, run_id)
        assert (run.status, run.name, run.event["branch"]) == ("created", "train", "master")
        assert run.event_key.startswith("github:")
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "processed"
        assert delivery.reason == "1 event(s), 1 run(s) started"


def test_processing_twice_creates_nothing_new_and_names_the_run_no_start_has_taken(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        [run_id] = dispatch.process_delivery(session, delivery_id)
    with db.session() as session:
        # As when the worker starting it was lost: the run is still to be started.
        assert dispatch.process_delivery(session, delivery_id) == [run_id]
        assert len(list(session.scalars(select(Run)))) == 1
    advance(db, run_id, RunStatus.COMPILED, RunStatus.QUEUED)
    with db.session() as session:
        assert dispatch.process_delivery(session, delivery_id) == []


@pytest.mark.postgres
def test_processing_a_delivery_commits_without_waiting_for_the_disk(
    client, db, github_delivery, enqueued
):
    # Lost in a database crash, the delivery is `received` again, out of the outbox: the
    # sweeper sends its task again (tests/ci/test_sweeper.py). The webhook's commit waited.
    setup_project(client)
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        assert session.scalar(text("SHOW synchronous_commit")) == "on"
        [run_id] = dispatch.process_delivery(session, delivery_id)
        assert session.scalar(text("SHOW synchronous_commit")) == "off"
    with db.session() as session:
        assert session.get(Delivery, delivery_id).status == "processed"
        assert session.get(Run, run_id).status == "created"


def test_the_decision_log_says_why_each_candidate_did_or_did_not_match(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    docs_only = subscription(
        "docs-only", on={"push": {"branches": ["master"], "paths": ["docs/**"]}}
    )
    assert client.post("/api/v1/projects/vision/subscriptions", json=docs_only).status_code == 201
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
    shown = client.get(f"/api/v1/deliveries/{delivery_id}").json
    by_name = {d["subscription"]: d for d in shown["decisions"]}
    assert by_name["train-on-main"]["matched"] and by_name["train-on-main"]["run"]
    refused = by_name["docs-only"]
    assert not refused["matched"] and refused["run"] is None
    assert {"check": "paths", "ok": False, "reason": "none of 1 changed files passes"} in refused[
        "checks"
    ]


def test_only_candidates_are_decided_and_the_reason_counts_the_others(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    for name, on in [
        ("release-only", {"push": {"branches": ["release/**"]}}),
        ("on-pull-requests", {"pull_request": {"branches": ["master"]}}),
    ]:
        doc = subscription(name, on=on)
        assert client.post("/api/v1/projects/vision/subscriptions", json=doc).status_code == 201
    delivery_id = deliver(client, github_delivery)

    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)

    shown = client.get(f"/api/v1/deliveries/{delivery_id}").json
    assert [d["subscription"] for d in shown["decisions"]] == ["train-on-main"]
    assert shown["reason"] == (
        "1 event(s), 1 run(s) started; not candidates: "
        "1 listen to other events or repositories; "
        "1 listen to push events of Codertocat/Hello-World but not to branch 'master'"
    )


def test_an_invalid_stored_subscription_is_still_decided_with_the_reason(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    with db.session() as session:
        row = session.scalars(select(Subscription)).one()
        row.spec = {**row.spec, "on": {"push": {"branches": ["release/["]}}}
    delivery_id = deliver(client, github_delivery)

    with db.session() as session:
        assert dispatch.process_delivery(session, delivery_id) == []

    [decision] = client.get(f"/api/v1/deliveries/{delivery_id}").json["decisions"]
    assert decision["checks"][0]["check"] == "spec"
    assert decision["checks"][0]["reason"].startswith("the subscription is invalid: ")


def test_a_paused_subscription_is_not_evaluated(client, db, github_delivery, enqueued):
    setup_project(client)
    client.post("/api/v1/projects/vision/subscriptions/train-on-main/pause")
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        assert dispatch.process_delivery(session, delivery_id) == []


def test_a_push_missing_a_field_marks_the_delivery_malformed_with_the_field(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    _, body = github_delivery("push_branch_commits")
    payload = json.loads(body)
    del payload["ref"]
    delivery_id = deliver(client, github_delivery, body=json.dumps(payload).encode())
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
        delivery = session.get(Delivery, delivery_id)
        assert (delivery.status, delivery.reason) == (
            "malformed",
            "github push: field 'ref' missing",
        )


def test_a_ping_is_processed_and_starts_nothing(client, db, github_delivery, enqueued):
    setup_project(client)
    delivery_id = deliver(client, github_delivery, name="ping")
    with db.session() as session:
        assert dispatch.process_delivery(session, delivery_id) == []
        reason = session.get(Delivery, delivery_id).reason
        assert reason == "ping: no event Axon acts on; nothing started"


def test_subscriptions_of_another_project_are_not_evaluated(client, db, github_delivery, enqueued):
    setup_project(client)
    client.post("/api/v1/projects", json={"name": "other"})
    client.post("/api/v1/projects/other/subscriptions", json=subscription("elsewhere"))
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
    names = [
        d["subscription"] for d in client.get(f"/api/v1/deliveries/{delivery_id}").json["decisions"]
    ]
    assert names == ["train-on-main"]


def test_a_gitlab_push_goes_the_same_way_as_a_github_one(client, db, enqueued):
    from tests.ci.factories import subscription
    from tests.conftest import fixture_bytes

    client.post("/api/v1/projects", json={"name": "vision"})
    source = {"name": "gl", "provider": "gitlab", "secret": "glsecret"}
    assert client.post("/api/v1/projects/vision/sources", json=source).status_code == 201
    doc = subscription(repo="mike/diaspora", on={"push": {"branches": ["master"]}})
    assert client.post("/api/v1/projects/vision/subscriptions", json=doc).status_code == 201
    body = fixture_bytes("webhooks/gitlab/push.json")
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": "glsecret",
        "Idempotency-Key": "7d1e2b1c-gl",
    }

    response = client.post("/webhooks/gitlab/gl", data=body, headers=headers)
    with db.session() as session:
        [run_id] = dispatch.process_delivery(session, response.json["delivery"])
        run = session.get(Run, run_id)

    assert response.status_code == 202
    assert (run.event["provider"], run.event["branch"]) == ("gitlab", "master")


def test_a_redelivered_delivery_starts_its_runs_again(client, db, github_delivery, enqueued):
    setup_project(client)
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)

    response = client.post(f"/api/v1/deliveries/{delivery_id}/redeliver")
    copy_id = response.json["id"]
    with db.session() as session:
        dispatch.process_delivery(session, copy_id)

    assert response.status_code == 202 and copy_id != delivery_id
    shown = client.get(f"/api/v1/deliveries/{copy_id}").json
    assert shown["reason"] == f"redelivery of delivery {delivery_id}: 1 event(s), 1 run(s) started"
    with db.session() as session:
        assert len(list(session.scalars(select(Run)))) == 2


def test_a_rejected_delivery_cannot_be_redelivered(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits", secret="wrong")
    client.post("/webhooks/github/gh", data=body, headers=headers)
    [rejected] = client.get("/api/v1/deliveries", query_string={"status": "rejected"}).json

    response = client.post(f"/api/v1/deliveries/{rejected['id']}/redeliver")

    assert response.status_code == 409 and "rejected" in response.json["error"]["message"]
