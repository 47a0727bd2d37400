"""The outbox: a webhook's delivery is published by the relay, once, never by the request."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from ci.agent import outbox
from ci.store.db import Database
from ci.store.models import Delivery
from tests.ci.factories import setup_project
from tests.conftest import drop_database, fresh_database


def test_the_webhook_request_publishes_nothing_and_the_relay_publishes_it(
    client, rt, db, github_delivery, enqueued
):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    delivery_id = client.post("/webhooks/github/gh", data=body, headers=headers).json["delivery"]
    assert enqueued == []

    assert outbox.relay_once(rt) == 1

    assert enqueued == [("axon.process_delivery", (delivery_id,))]
    with db.session() as session:
        assert session.get(Delivery, delivery_id).enqueued_at is not None
    assert outbox.relay_once(rt) == 0


def test_rejected_and_malformed_deliveries_are_not_published(client, rt, github_delivery, enqueued):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits", secret="wrong")
    client.post("/webhooks/github/gh", data=body, headers=headers)
    bad = b"{not json"
    client.post("/webhooks/github/gh", data=bad, headers={**headers, "X-Hub-Signature-256": ""})

    assert outbox.relay_once(rt) == 0


@pytest.mark.postgres
def test_two_relays_never_claim_the_same_delivery():
    url = fresh_database("axon_outbox")
    db = Database(url)
    try:
        with db.session() as session:
            session.add_all(
                Delivery(provider="github", dedupe_key=str(n), status="received", body=b"{}")
                for n in range(300)
            )
        claimed: list[list[int]] = [[], []]
        barrier = threading.Barrier(2)

        def relay(slot: int) -> None:
            barrier.wait()
            while True:
                with db.session() as session:
                    ids = outbox.claim(session, limit=7)
                if not ids:
                    return
                claimed[slot] += ids

        threads = [threading.Thread(target=relay, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert not set(claimed[0]) & set(claimed[1])
        assert len(claimed[0]) + len(claimed[1]) == 300
        with db.session() as session:
            waiting = session.scalars(select(Delivery).where(Delivery.enqueued_at.is_(None)))
            assert list(waiting) == []
    finally:
        db.dispose()
        drop_database(url)
