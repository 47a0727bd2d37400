"""A delivery ends: text PostgreSQL cannot hold is cleaned, and one that cannot be processed
fails with the reason instead of being sent again forever."""

from __future__ import annotations

import json

import pytest

from ci import tasks
from ci.agent import outbox, sweeper
from ci.runs import dispatch
from schemas import event as event_module
from tests.ci.conftest import SECRET
from tests.conftest import github_headers, load_json

MESSAGE = "fix the parser\u0000 for \ud800 input"


def deliver(client, message: str = MESSAGE) -> int:
    """A push to master whose commit message is `message`, sent as GitHub sends it."""
    payload = load_json("webhooks/github/push_branch_commits.json")
    payload["head_commit"]["message"] = message
    body = json.dumps(payload).encode()  # JSON escapes: "\u0000" and "\ud800"
    response = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, SECRET)
    )
    assert response.status_code == 202, response.json
    return int(response.json["delivery"])


def shown(client, delivery_id: int) -> dict:
    return client.get(f"/api/v1/deliveries/{delivery_id}").json


def test_a_push_whose_commit_message_holds_nul_and_a_lone_surrogate_is_processed(
    axon, client, local_runner
):
    axon.create_project()
    axon.subscribe()
    delivery_id = deliver(client)

    tasks.process_delivery(delivery_id)

    delivery = shown(client, delivery_id)
    assert delivery["status"] == "processed", delivery["reason"]
    [decision] = delivery["decisions"]
    assert decision["matched"]
    [run] = client.get("/api/v1/runs", query_string={"project": "vision"}).json
    assert run["delivery"] == delivery_id
    event = client.get(f"/api/v1/runs/{run['uuid']}").json["event"]
    assert event["message"] == "fix the parser\ufffd for \ufffd input"


def test_a_delivery_the_database_refuses_ends_failed_with_the_reason_and_is_not_sent_again(
    axon, client, rt, monkeypatch, enqueued
):
    axon.create_project()
    axon.subscribe()
    # As if events were not cleaned: PostgreSQL refuses the NUL in JSONB with a DataError.
    monkeypatch.setattr(event_module, "storable", lambda value: value)
    delivery_id = deliver(client)
    assert outbox.relay_once(rt) == 1

    tasks.process_delivery(delivery_id)

    delivery = shown(client, delivery_id)
    assert delivery["status"] == "failed"
    assert delivery["reason"].startswith("processing failed with DataError: ")
    assert "Unicode" in delivery["reason"] or "\\u0000" in delivery["reason"]
    assert client.get("/api/v1/runs", query_string={"project": "vision"}).json == []
    monkeypatch.setattr(rt, "settings", rt.settings.model_copy(update={"sweep_after_seconds": 0}))
    assert sweeper.sweep(rt)["deliveries"] == 0


def test_a_delivery_whose_processing_meets_a_bug_ends_failed_with_the_reason(
    axon, client, monkeypatch
):
    axon.create_project()
    axon.subscribe()
    delivery_id = deliver(client, "an ordinary message")

    def broken(*_args, **_kwargs):
        raise KeyError("head_commit")

    monkeypatch.setattr(dispatch, "_summary", broken)
    tasks.process_delivery(delivery_id)

    delivery = shown(client, delivery_id)
    assert (delivery["status"], delivery["reason"]) == (
        "failed",
        "processing failed with KeyError: 'head_commit'",
    )
    assert client.get("/api/v1/runs", query_string={"project": "vision"}).json == []


@pytest.mark.parametrize("text", ["a\u0000b", "a\ud800b", "a\udfffb"])
def test_event_text_postgresql_cannot_hold_becomes_the_replacement_character(text):
    event = event_module.Event(kind="push", provider="github", message=text, raw={"m": [text]})

    assert event.message == "a\ufffdb"
    assert event.raw == {"m": ["a\ufffdb"]}
