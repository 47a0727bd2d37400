"""Webhook intake: verified deliveries are committed before the answer; bad ones are recorded."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from ci.models import Delivery, Run
from tests.ci.factories import setup_project
from tests.conftest import github_headers


def deliveries(db):
    with db.session() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_signed_push_is_stored_and_answered_202(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 202
    [row] = deliveries(db)
    assert (row.status, row.event_name, row.body) == ("received", "push", body)
    assert row.dedupe_key == headers["X-GitHub-Delivery"]
    assert "x-hub-signature-256" not in row.headers


def test_a_redelivery_with_the_same_id_is_acknowledged_and_stored_once(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    first = client.post("/webhooks/github/gh", data=body, headers=headers)
    second = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json["status"] == "duplicate"
    assert second.json["delivery"] == first.json["delivery"]
    assert len(deliveries(db)) == 1


def test_a_wrong_signature_gets_401_and_is_recorded_as_rejected(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits", secret="not-the-secret")
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 401
    [row] = deliveries(db)
    assert (row.status, row.reason) == ("rejected", "X-Hub-Signature-256 does not match the body")
    assert row.dedupe_key is None


def test_a_missing_signature_gets_401_with_the_reason(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits", secret=None)
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["message"] == "missing X-Hub-Signature-256 header"
    assert deliveries(db)[0].status == "rejected"


def test_a_rejected_copy_does_not_block_the_genuine_delivery(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert client.post("/webhooks/github/gh", data=body, headers=forged).status_code == 401
    assert client.post("/webhooks/github/gh", data=body, headers=headers).status_code == 202


def test_malformed_json_gets_400_and_is_recorded_with_the_reason(client, db):
    setup_project(client)
    body = b'{"ref": "refs/heads/main",'
    response = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, "topsecret")
    )
    assert response.status_code == 400
    [row] = deliveries(db)
    assert row.status == "malformed" and "not valid JSON" in row.reason


def test_a_body_over_the_cap_gets_413_and_is_recorded(client, db, github_delivery, app):
    from ci import runtime

    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    rt = runtime.get()
    limit = len(body) - 1
    object.__setattr__(rt.settings, "max_body_bytes", limit)
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 413
    [row] = deliveries(db)
    assert row.status == "rejected" and f"over the {limit}-byte limit" in row.reason


def test_an_unknown_provider_gets_404_listing_the_known_ones(client):
    response = client.post("/webhooks/gitbucket/gh", data=b"{}")
    assert response.status_code == 404
    assert "github" in response.json["known"]


def test_an_unknown_source_gets_404_and_is_recorded(client, db, github_delivery):
    headers, body = github_delivery("push_branch_commits")
    response = client.post("/webhooks/github/nope", data=body, headers=headers)
    assert response.status_code == 404
    [row] = deliveries(db)
    assert row.status == "rejected" and "no github source named 'nope'" in row.reason


def test_an_invalid_operation_is_refused_with_422_naming_the_field(client, db):
    from tests.ci.factories import OPERATION, subscription

    client.post("/api/v1/projects", json={"name": "vision"})
    container = {"image": "python:3.11", "comand": ["python"]}
    operation = json.loads(json.dumps(OPERATION))
    operation["component"]["run"]["container"] = container
    response = client.post(
        "/api/v1/projects/vision/subscriptions", json=subscription(operation=operation)
    )
    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == "operation.component.run.container.comand"
    assert "unknown" in error["reason"]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0
