"""Webhook intake: verified deliveries are committed before the answer; bad ones are recorded."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from ci.store.models import Delivery, Run
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


def generic_push() -> bytes:
    return json.dumps(
        {
            "kind": "push",
            "repo": "Codertocat/Hello-World",
            "ref": "refs/heads/main",
            "branch": "main",
            "sha": "9f2c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
        }
    ).encode()


def runs_started(db) -> int:
    """Process every delivery still waiting, as the worker would; the number of runs."""
    from ci.runs import dispatch

    for row in deliveries(db):
        if row.status == "received":
            with db.session() as session:
                dispatch.process_delivery(session, row.id)
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Run))


def test_a_generic_delivery_replayed_with_its_id_changed_or_removed_starts_one_run(client, db):
    from webhooks.generic import sign

    setup_project(client)
    source = {"name": "ci", "provider": "generic", "secret": "topsecret"}
    assert client.post("/api/v1/projects/vision/sources", json=source).status_code == 201
    body = generic_push()
    signed = {"Content-Type": "application/json", **sign("topsecret", body, delivery="build-7")}
    changed = {**signed, "X-Axon-Delivery": "build-8"}
    removed = {k: v for k, v in signed.items() if k != "X-Axon-Delivery"}
    answers = [
        client.post("/webhooks/generic/ci", data=body, headers=headers).status_code
        for headers in (signed, changed, removed, signed)
    ]
    assert answers == [202, 401, 401, 200]
    assert runs_started(db) == 1


def test_a_refused_delivery_keeps_only_the_first_bytes_of_its_body_and_its_size(
    client, db, github_delivery
):
    setup_project(client)
    headers, _ = github_delivery("push_branch_commits", secret=None)
    body = b'{"padding": "' + b"x" * 100_000 + b'"}'
    assert client.post("/webhooks/github/gh", data=body, headers=headers).status_code == 401
    [row] = deliveries(db)
    assert (row.status, row.body, row.body_size) == ("rejected", body[:4096], len(body))


def test_a_signed_delivery_keeps_its_whole_body(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    client.post("/webhooks/github/gh", data=body, headers=headers)
    [row] = deliveries(db)
    assert (row.body, row.body_size) == (body, len(body))


def test_a_chunked_body_over_the_cap_gets_413_and_only_its_first_bytes_are_kept(
    client, db, github_delivery
):
    from ci import runtime

    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    limit = len(body) - 1
    object.__setattr__(runtime.get().settings, "max_body_bytes", limit)
    response = client.post(
        "/webhooks/github/gh",
        input_stream=io.BytesIO(body),
        headers={**headers, "Transfer-Encoding": "chunked"},
        # What a server that de-chunks the body (gunicorn, werkzeug's) tells the app.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.json["message"] == f"chunked body is over the {limit}-byte limit"
    [row] = deliveries(db)
    assert (row.status, row.body) == ("rejected", body[:4096])


def test_a_chunked_body_within_the_cap_is_read_whole(client, db, github_delivery):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    response = client.post(
        "/webhooks/github/gh",
        input_stream=io.BytesIO(body),
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 202
    assert deliveries(db)[0].body == body


def test_a_body_over_the_cap_by_its_length_keeps_only_its_first_bytes(client, db, github_delivery):
    from ci import runtime

    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    object.__setattr__(runtime.get().settings, "max_body_bytes", 100)
    assert client.post("/webhooks/github/gh", data=body, headers=headers).status_code == 413
    [row] = deliveries(db)
    assert (row.body, row.body_size) == (body[:4096], len(body))


def test_a_delivery_id_over_128_characters_gets_400_naming_the_header_and_is_recorded(
    client, db, github_delivery
):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    headers["X-GitHub-Delivery"] = "d" * 129
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 400
    message = "X-GitHub-Delivery is 129 characters long; at most 128 are accepted"
    assert response.json["message"] == message
    [row] = deliveries(db)
    assert (row.status, row.reason) == ("rejected", message)


def test_a_body_nested_1000_levels_deep_gets_400_and_is_recorded_as_malformed(client, db):
    setup_project(client)
    body = b"[" * 1000 + b"]" * 1000
    response = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, "topsecret")
    )
    assert response.status_code == 400
    [row] = deliveries(db)
    assert (row.status, row.reason) == (
        "malformed",
        "github: body is nested more than 64 levels deep",
    )


def test_a_refusal_for_a_source_deleted_meanwhile_is_still_answered_and_recorded(
    client, db, github_delivery
):
    from ci.store.models import Source

    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    assert client.post("/webhooks/github/gh", data=body, headers=headers).status_code == 202
    with db.session() as session:
        session.delete(session.scalar(select(Source)))
    forged, _ = github_delivery("push_branch_commits", secret="guess")
    assert client.post("/webhooks/github/gh", data=body, headers=forged).status_code == 401
    assert [(row.status, row.source_id) for row in deliveries(db)][-1] == ("rejected", None)
