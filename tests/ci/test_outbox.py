"""The outbox: a webhook's delivery is published by the relay, once, never by the request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from sqlalchemy import select, text

from ci.agent import outbox
from ci.intake import receipt
from ci.intake.receipt import SourceRef
from ci.runtime import Runtime
from ci.store.db import Database
from ci.store.models import Delivery, OutboxEntry, Project, Source
from tests.benchmarks.probes import libpq_url
from tests.ci.factories import setup_project
from tests.conftest import drop_database, fresh_database, relayed
from tests.waiting import wait_for
from webhooks.github import GitHubProvider


def test_the_webhook_request_publishes_nothing_and_the_relay_publishes_it(
    client, rt, db, github_delivery, enqueued
):
    setup_project(client)
    headers, body = github_delivery("push_branch_commits")
    delivery_id = client.post("/webhooks/github/gh", data=body, headers=headers).json["delivery"]
    assert enqueued == []

    assert outbox.relay_once(rt) == 1

    assert enqueued == [("axon.process_deliveries", ([delivery_id],))]
    with db.session() as session:
        assert session.scalars(select(OutboxEntry)).all() == []
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
                with db.transaction_in_one_trip(prefix=outbox.NO_DISK_WAIT) as conn:
                    ids = outbox.claim(conn, limit=7)
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
            assert session.scalars(select(OutboxEntry)).all() == []
    finally:
        db.dispose()
        drop_database(url)


@pytest.fixture
def own_database() -> Iterator[tuple[Database, SourceRef]]:
    """A database of its own, not inside a test transaction (its commits are seen by a relay
    and a listener on other connections), with a GitHub source."""
    url = fresh_database("axon_outbox")
    db = Database(url)
    with db.session() as session:
        project = Project(name="vision")
        source = Source(project=project, provider="github", name="gh", secret="topsecret")
        session.add(source)
        session.flush()
        ref = SourceRef(source.id, "github", "gh", "topsecret", False)
    yield db, ref
    db.dispose()
    drop_database(url)


def _listen(db: Database) -> Any:
    connection = psycopg2.connect(libpq_url(db.url))
    connection.autocommit = True
    connection.cursor().execute(f"LISTEN {outbox.CHANNEL}")
    return connection


def _notifications(connection: Any) -> int:
    connection.poll()
    count = len(connection.notifies)
    connection.notifies.clear()
    return count


@pytest.mark.postgres
def test_a_delivery_after_a_quiet_spell_wakes_the_relays_and_the_next_ones_at_once_do_not(
    own_database, github_delivery, monkeypatch
):
    db, source = own_database
    monkeypatch.setattr(outbox, "waker", outbox.Waker())
    monkeypatch.setattr(outbox, "NOTIFY_EVERY", 60.0)  # however slow the inserts are
    listener = _listen(db)
    try:
        for n in range(3):
            headers, body = github_delivery("push_branch_commits")
            headers["X-GitHub-Delivery"] = f"burst-{n}"
            assert receipt.receive(db, GitHubProvider(), source, headers, body).status == 202

        wait_for(lambda: _notifications(listener) == 1, 5)
        assert _notifications(listener) == 0
    finally:
        listener.close()


@pytest.mark.postgres
def test_deliveries_stored_without_a_notify_are_published_by_the_relay_the_first_one_woke(
    own_database, github_delivery, settings, enqueued, monkeypatch
):
    db, source = own_database
    monkeypatch.setattr(outbox, "waker", outbox.Waker())
    monkeypatch.setattr(outbox, "NOTIFY_EVERY", 60.0)  # the first delivery's NOTIFY is the only one
    # Within the test only a NOTIFY, and the wake-up it starts, can bring the relay round.
    monkeypatch.setattr(outbox, "POLL_SECONDS", 120.0)
    stop = threading.Event()
    relay = threading.Thread(target=outbox.run_forever, args=(Runtime(settings, db, b"k"), stop))
    relay.start()
    try:
        wait_for(lambda: _listening(db), 10)
        ids = []
        for n in range(3):
            headers, body = github_delivery("push_branch_commits")
            headers["X-GitHub-Delivery"] = f"relayed-{n}"
            ids.append(receipt.receive(db, GitHubProvider(), source, headers, body).delivery_id)

        wait_for(lambda: len(relayed(enqueued)) == 3, 10)
        assert relayed(enqueued) == ids
    finally:
        stop.set()
        with db.session() as session:
            outbox.notify(session)  # wakes the relay to see `stop`
        relay.join(10)


def _listening(db: Database) -> bool:
    with db.session() as session:
        return bool(
            session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE query = :q"),
                {"q": f"LISTEN {outbox.CHANNEL}"},
            )
        )


def _relay_awake(db: Database) -> bool:
    """Whether some relay holds AWAKE_LOCK: then a shared hold of it is refused."""
    with db.session() as session:
        free = session.scalar(
            text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": outbox.AWAKE_LOCK}
        )
    return not free


def _store(db: Database, source: SourceRef, github_delivery: Any, key: str) -> int | None:
    headers, body = github_delivery("push_branch_commits")
    headers["X-GitHub-Delivery"] = key
    outcome = receipt.receive(db, GitHubProvider(), source, headers, body)
    assert outcome.status == 202
    return outcome.delivery_id


@pytest.mark.postgres
def test_a_delivery_stored_while_a_relay_is_awake_sends_no_notify_and_one_after_it_sleeps(
    own_database, github_delivery, settings, monkeypatch
):
    db, source = own_database
    monkeypatch.setattr(outbox, "NOTIFY_EVERY", 0.0)  # every insert may notify, if it must
    awake = outbox.Listener(Runtime(settings, db, b"k"))
    listener = _listen(db)
    try:
        awake.open()
        awake.set_awake(True)
        assert awake.awake and _relay_awake(db)
        _store(db, source, github_delivery, "while-awake")

        awake.set_awake(False)
        assert not _relay_awake(db)
        _store(db, source, github_delivery, "while-asleep")
        # Notifications arrive in commit order: one from the first would come before this one.
        heard: list[int] = []
        wait_for(lambda: heard.append(_notifications(listener)) or sum(heard) >= 1, 5)
        assert sum(heard) == 1
    finally:
        awake.close()
        listener.close()


@pytest.mark.postgres
def test_a_second_relay_finding_the_lock_held_gives_up_within_its_wait_and_asks_again_later(
    own_database, settings, monkeypatch
):
    db, _ = own_database
    first = outbox.Listener(Runtime(settings, db, b"k"))
    second = outbox.Listener(Runtime(settings, db, b"k"))
    try:
        first.open()
        second.open()
        first.set_awake(True)
        started = time.monotonic()
        second.set_awake(True)
        assert not second.awake
        assert time.monotonic() - started < 1.0  # lock_timeout, not a wait for the first

        first.set_awake(False)
        second.set_awake(True)  # asked too recently: it does not ask yet
        assert not second.awake
        monkeypatch.setattr(outbox, "AWAKE_LOCK_RETRY", 0.0)
        second.set_awake(True)
        assert second.awake and _relay_awake(db)
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_a_relay_that_lost_its_connection_no_longer_counts_as_awake(own_database, settings):
    db, _ = own_database
    relay = outbox.Listener(Runtime(settings, db, b"k"))
    relay.open()
    relay.set_awake(True)
    assert _relay_awake(db)

    relay.connection.close()  # as a dropped connection would: the lock goes with its session
    wait_for(lambda: not _relay_awake(db), 5)
    relay.close()
    assert not relay.awake


@pytest.mark.postgres
def test_a_relay_is_awake_while_deliveries_come_and_asleep_after_so_a_quiet_one_notifies(
    own_database, github_delivery, settings, enqueued, monkeypatch
):
    db, source = own_database
    # Only a NOTIFY, or the relay still lingering, can bring the second delivery round.
    monkeypatch.setattr(outbox, "POLL_SECONDS", 120.0)
    stop = threading.Event()
    relay = threading.Thread(target=outbox.run_forever, args=(Runtime(settings, db, b"k"), stop))
    relay.start()
    listener = _listen(db)
    try:
        wait_for(lambda: _listening(db), 10)
        first = _store(db, source, github_delivery, "first")
        wait_for(lambda: len(relayed(enqueued)) == 1, 10)
        wait_for(lambda: not _relay_awake(db), 10)  # LINGER passed: it sleeps, lock let go
        _notifications(listener)

        second = _store(db, source, github_delivery, "after-quiet")
        heard: list[int] = []
        wait_for(lambda: heard.append(_notifications(listener)) or sum(heard) >= 1, 5)
        wait_for(lambda: len(relayed(enqueued)) == 2, 10)
        assert relayed(enqueued) == [first, second]
    finally:
        stop.set()
        with db.session() as session:
            outbox.notify(session)  # wakes the relay to see `stop`
        relay.join(10)
        listener.close()
