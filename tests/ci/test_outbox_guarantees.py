"""The outbox table: a delivery to process waits in it from the statement that stores it until
a relay's publish of its task has committed; none is lost, and the delivery's row is not
written on the way."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text

from ci import runtime
from ci.agent import outbox
from ci.intake import receipt
from ci.runtime import Runtime
from ci.store.db import Database
from ci.store.models import Delivery, OutboxEntry
from tests.ci.conftest import SECRET
from tests.ci.test_outbox import own_database
from tests.conftest import github_headers, relayed
from webhooks.github import GitHubProvider

__all__ = ["own_database"]  # a fixture, used by name


def waiting(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(OutboxEntry.delivery_id).order_by("delivery_id")))


def test_a_verified_delivery_waits_in_the_outbox_and_a_refused_or_malformed_one_does_not(
    client, db, axon, github_delivery
):
    axon.create_project()
    accepted = axon.deliver_push()
    headers, body = github_delivery("push_branch_commits", secret="wrong")
    client.post("/webhooks/github/gh", data=body, headers=headers)
    bad = b"{not json"
    client.post("/webhooks/github/gh", data=bad, headers=github_headers("push", bad, SECRET))

    with db.session() as session:
        assert len(session.scalars(select(Delivery)).all()) == 3
    assert waiting(db) == [accepted]


def test_a_redelivery_waits_in_the_outbox(client, db, axon, enqueued):
    axon.create_project()
    original = axon.deliver_push()
    assert outbox.relay_once(runtime.get()) == 1

    copy = client.post(f"/api/v1/deliveries/{original}/redeliver").json

    assert waiting(db) == [copy["id"]]


def test_a_relay_that_dies_before_its_commit_leaves_its_batch_to_be_published_again(
    rt, db, axon, enqueued, monkeypatch
):
    axon.create_project()
    ids = [axon.deliver_push() for _ in range(3)]
    published: list[int] = []

    def dies_after_the_first_message(task: str, message: list[int], **_: object) -> bool:
        if published:
            raise SystemExit("the relay's process ends here")
        published.extend(message)
        return True

    with monkeypatch.context() as dying:
        dying.setattr(runtime, "enqueue", dies_after_the_first_message)
        with pytest.raises(SystemExit):
            outbox.relay_once(rt)

    # Published or not, none left the outbox: the claim was never committed.
    assert published == outbox.messages(ids)[0]
    assert waiting(db) == ids
    assert outbox.relay_once(rt) == 3
    assert relayed(enqueued) == ids
    assert waiting(db) == []


@pytest.mark.parametrize("claimed", [1, 3, 4, 10, 99, 100, 101, 500])
def test_a_claim_goes_out_in_few_messages_yet_in_enough_for_the_workers_to_share(claimed):
    ids = list(range(1000, 1000 + claimed))

    sent = outbox.messages(ids)

    assert [i for message in sent for i in message] == ids  # each once, oldest first
    assert len(sent) >= min(claimed, outbox.SPREAD)
    assert max(len(m) for m in sent) <= outbox.PER_MESSAGE
    # Few: no message could be spared without another naming more than PER_MESSAGE.
    assert len(sent) <= max(outbox.SPREAD, -(-claimed // outbox.PER_MESSAGE))


def test_the_relay_publishes_a_batch_as_messages_naming_several_deliveries(rt, db, axon, enqueued):
    axon.create_project()
    ids = [axon.deliver_push() for _ in range(10)]

    assert outbox.relay_once(rt) == 10

    assert {name for name, _ in enqueued} == {"axon.process_deliveries"}
    assert [args for _, args in enqueued] == [(m,) for m in outbox.messages(ids)]
    assert len(enqueued) == outbox.SPREAD
    assert waiting(db) == []


def test_a_batch_the_broker_refuses_partway_keeps_what_was_not_published(
    rt, db, axon, enqueued, monkeypatch
):
    axon.create_project()
    ids = [axon.deliver_push() for _ in range(4)]
    first, *_ = outbox.messages(ids)
    published: list[list[int]] = []

    def broker_goes_away(task: str, message: list[int], **_: object) -> bool:
        if published:
            return False
        published.append(message)
        return True

    with monkeypatch.context() as flaky:
        flaky.setattr(runtime, "enqueue", broker_goes_away)
        assert outbox.relay_once(rt) == len(first)

    assert published == [first]
    assert waiting(db) == ids[len(first) :]
    assert outbox.relay_once(rt) == len(ids) - len(first)
    assert relayed(enqueued) == ids[len(first) :]


@pytest.mark.postgres
def test_publishing_a_delivery_leaves_its_row_as_it_was_stored(
    own_database, github_delivery, settings, enqueued
):
    db, source = own_database
    headers, body = github_delivery("push_branch_commits")
    stored = receipt.receive(db, GitHubProvider(), source, headers, body).delivery_id
    version = "SELECT xmin::text, ctid::text FROM deliveries WHERE id = :id"
    with db.session() as session:
        before = session.execute(text(version), {"id": stored}).one()
        assert waiting(db) == [stored]

    assert outbox.relay_once(Runtime(settings, db, b"k")) == 1

    assert relayed(enqueued) == [stored]
    assert waiting(db) == []
    with db.session() as session:
        assert session.execute(text(version), {"id": stored}).one() == before


def _stored(db: Database, source: object, github_delivery: object, count: int) -> list[int]:
    ids = []
    for n in range(count):
        headers, body = github_delivery("push_branch_commits")  # type: ignore[operator]
        headers["X-GitHub-Delivery"] = f"one-trip-{n}"
        ids.append(receipt.receive(db, GitHubProvider(), source, headers, body).delivery_id)
    return ids


def _open_transactions(db: Database) -> int:
    with db.session() as session:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%'"
        )
        return int(session.scalar(text(query)) or 0)


@pytest.mark.postgres
def test_a_relays_claim_is_its_first_round_trip_with_its_begin_and_its_commit_the_second(
    own_database, github_delivery, settings, enqueued
):
    db, source = own_database
    ids = _stored(db, source, github_delivery, 2)
    sent: list[tuple[int, str]] = []

    def seen(_conn, cursor, *_):
        # What psycopg2 sent, as sent: the statement with what goes before it.
        sent.append((cursor.connection.info.backend_pid, cursor.query.decode()))

    with db.engine.connect() as other:  # held, so that the relay takes a connection of its own
        event.listen(db.engine, "after_cursor_execute", seen)
        try:
            assert outbox.relay_once(Runtime(settings, db, b"k")) == 2
        finally:
            event.remove(db.engine, "after_cursor_execute", seen)
        [(pid, claim)] = sent
        last = other.execute(text("SELECT query FROM pg_stat_activity WHERE pid = :p"), {"p": pid})
        assert last.scalar() == "COMMIT"  # the second and last round trip
    assert claim.startswith(f"BEGIN; {outbox.NO_DISK_WAIT} DELETE FROM delivery_outbox")
    assert relayed(enqueued) == ids
    assert waiting(db) == []


@pytest.mark.postgres
def test_a_relay_whose_publish_raises_leaves_its_batch_waiting_and_no_transaction_open(
    own_database, github_delivery, settings, enqueued, monkeypatch
):
    db, source = own_database
    ids = _stored(db, source, github_delivery, 3)
    rt = Runtime(settings, db, b"k")

    def broker_raises(task: str, row_id: int, **_: object) -> bool:
        raise RuntimeError("the broker's connection broke mid-publish")

    with monkeypatch.context() as broken:
        broken.setattr(runtime, "enqueue", broker_raises)
        with pytest.raises(RuntimeError):
            outbox.relay_once(rt)

    assert waiting(db) == ids
    assert _open_transactions(db) == 0
    assert outbox.relay_once(rt) == 3  # the same pooled connection, as good as new
    assert waiting(db) == []
