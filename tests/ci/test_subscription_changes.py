"""A project's subscriptions are compiled once per process, and the next delivery after any
change to them, whoever wrote it, is decided by the changed set."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest
from sqlalchemy import select, text, update

from ci.intake import delivery_state
from ci.runs import dispatch, indexes
from ci.store import migrate
from ci.store.db import Database, make_engine
from ci.store.models import Decision, Delivery, Project, Source, Subscription, SubscriptionVersion
from schemas.status import DeliveryStatus
from tests.ci.factories import setup_project, subscription
from tests.ci.test_dispatch import deliver
from tests.conftest import drop_database, fixture_bytes, fresh_database

SUBSCRIPTIONS = "/api/v1/projects/vision/subscriptions"
ON_DEV = {"push": {"branches": ["dev"]}}  # the recorded push is to master


def started(client: Any, db: Database, github_delivery: Any) -> list[str]:
    """Deliver the recorded push to master, process it: the subscriptions that started a run."""
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
        return matched(session, delivery_id)


def matched(session: Any, delivery_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Decision.subscription_name)
            .where(Decision.delivery_id == delivery_id, Decision.matched.is_(True))
            .order_by(Decision.subscription_name)
        )
    )


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the subscriptions compiled in this process from now on."""
    names: list[str] = []
    compile_subscription = indexes.compile_subscription

    def counting(id: int, name: str, spec: dict[str, Any]) -> Any:
        names.append(name)
        return compile_subscription(id, name, spec)

    monkeypatch.setattr(indexes, "compile_subscription", counting)
    return names


def test_a_project_is_compiled_once_and_then_only_what_changed(
    client, db, github_delivery, enqueued, compiled
):
    setup_project(client)
    client.post(SUBSCRIPTIONS, json=subscription("nightly-docs", on=ON_DEV))
    assert started(client, db, github_delivery) == ["train-on-main"]
    assert started(client, db, github_delivery) == ["train-on-main"]
    assert sorted(compiled) == ["nightly-docs", "train-on-main"]

    changed = subscription("nightly-docs", on={"push": {"branches": ["master"]}})
    assert client.put(f"{SUBSCRIPTIONS}/nightly-docs", json=changed).status_code == 200

    assert started(client, db, github_delivery) == ["nightly-docs", "train-on-main"]
    assert sorted(compiled) == ["nightly-docs", "nightly-docs", "train-on-main"]


def test_a_process_forgets_the_least_recently_used_project_past_its_bound(
    client, db, github_delivery, enqueued, compiled, monkeypatch
):
    monkeypatch.setattr(indexes, "MOST_SUBSCRIPTIONS", 1)
    setup_project(client)
    client.post("/api/v1/projects", json={"name": "other"})
    source = {"name": "gh-other", "provider": "github", "secret": "topsecret"}
    client.post("/api/v1/projects/other/sources", json=source)
    client.post("/api/v1/projects/other/subscriptions", json=subscription("other-train"))

    assert started(client, db, github_delivery) == ["train-on-main"]
    headers, body = github_delivery("push_branch_commits")
    other = client.post("/webhooks/github/gh-other", data=body, headers=headers).json["delivery"]
    with db.session() as session:
        dispatch.process_delivery(session, other)
    assert started(client, db, github_delivery) == ["train-on-main"]

    assert compiled == ["train-on-main", "other-train", "train-on-main"]


def test_each_change_through_the_api_decides_the_very_next_delivery(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    assert started(client, db, github_delivery) == ["train-on-main"]

    client.put(f"{SUBSCRIPTIONS}/train-on-main", json=subscription(on=ON_DEV))
    assert started(client, db, github_delivery) == []

    client.put(f"{SUBSCRIPTIONS}/train-on-main", json=subscription())
    assert started(client, db, github_delivery) == ["train-on-main"]

    client.post(f"{SUBSCRIPTIONS}/train-on-main/pause")
    assert started(client, db, github_delivery) == []

    client.post(f"{SUBSCRIPTIONS}/train-on-main/resume")
    assert started(client, db, github_delivery) == ["train-on-main"]

    client.post(SUBSCRIPTIONS, json=subscription("evaluate"))
    assert started(client, db, github_delivery) == ["evaluate", "train-on-main"]

    client.delete(f"{SUBSCRIPTIONS}/evaluate")
    assert started(client, db, github_delivery) == ["train-on-main"]


def test_applying_a_file_decides_the_very_next_delivery(client, db, github_delivery, enqueued):
    setup_project(client)
    assert started(client, db, github_delivery) == ["train-on-main"]
    file = [subscription("evaluate"), subscription("train-on-main", on=ON_DEV)]

    assert client.put(SUBSCRIPTIONS, json=file).status_code == 200
    assert started(client, db, github_delivery) == ["evaluate"]

    assert client.put(f"{SUBSCRIPTIONS}?prune=true", json=file[1:]).status_code == 200
    assert started(client, db, github_delivery) == []


def test_a_write_in_plain_sql_as_a_migration_would_do_decides_the_next_delivery(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    assert started(client, db, github_delivery) == ["train-on-main"]
    with db.session() as session:
        session.execute(
            text(
                "UPDATE subscriptions SET spec = CAST(:spec AS JSONB) WHERE name = 'train-on-main'"
            ),
            {"spec": json.dumps(subscription(on=ON_DEV))},
        )
    assert started(client, db, github_delivery) == []

    with db.session() as session:
        session.execute(update(Subscription).values(spec=subscription()))
    assert started(client, db, github_delivery) == ["train-on-main"]


def test_fixing_an_invalid_stored_subscription_makes_it_match_the_next_delivery(
    client, db, github_delivery, enqueued
):
    setup_project(client)
    with db.session() as session:
        row = session.scalars(select(Subscription)).one()
        row.spec = {**row.spec, "on": {"push": {"branches": ["release/["]}}}
    assert started(client, db, github_delivery) == []

    client.put(f"{SUBSCRIPTIONS}/train-on-main", json=subscription())
    assert started(client, db, github_delivery) == ["train-on-main"]


def test_every_write_to_a_projects_subscriptions_gives_it_a_new_version(db):
    """Even on the database alone: no Axon code runs but the writes."""
    with db.session() as session:
        project = Project(name="vision")
        other = Project(name="other")
        session.add_all([project, other])
        session.flush()
        seen: list[int | None] = []

        def version() -> int | None:
            return session.scalar(
                select(SubscriptionVersion.version).where(
                    SubscriptionVersion.project_id == project.id
                )
            )

        seen.append(version())
        row = Subscription(project_id=project.id, name="a", spec=subscription("a"))
        session.add(row)
        session.flush()
        seen.append(version())
        session.execute(update(Subscription).where(Subscription.id == row.id).values(paused=True))
        seen.append(version())
        session.execute(text("DELETE FROM subscriptions WHERE name = 'a'"))
        seen.append(version())

        assert seen[0] is None
        assert None not in seen[1:] and len(set(seen[1:])) == 3
        untouched = select(SubscriptionVersion).where(SubscriptionVersion.project_id == other.id)
        assert session.scalar(untouched) is None


def test_on_sqlite_too_a_write_in_plain_sql_decides_the_next_delivery(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'axon.db'}")
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(f"sqlite:///{tmp_path / 'axon.db'}")
    try:
        source_id = _project(db)
        assert _matched_in(db, _store_push(db, source_id, "1")) == ["train-on-main"]
        with db.session() as session:
            session.execute(
                text("UPDATE subscriptions SET spec = :spec"),
                {"spec": json.dumps(subscription(on=ON_DEV))},
            )
        assert _matched_in(db, _store_push(db, source_id, "2")) == []
        with db.session() as session:
            session.execute(text("UPDATE subscriptions SET paused = 1"))
            session.execute(
                text("UPDATE subscriptions SET paused = 0, spec = :spec"),
                {"spec": json.dumps(subscription())},
            )
        assert _matched_in(db, _store_push(db, source_id, "3")) == ["train-on-main"]
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_change_committed_by_one_process_decides_the_next_delivery_in_another():
    url = fresh_database("axon_dispatch")
    db = Database(url)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    worker = context.Process(target=_worker, args=(url, theirs), daemon=True)
    try:
        source_id = _project(db)
        worker.start()

        def processed_by_worker(key: str) -> list[str]:
            ours.send(_store_push(db, source_id, key))
            assert ours.poll(60), "the worker process did not answer within 60 s"
            return ours.recv()

        assert processed_by_worker("1") == ["train-on-main"]
        assert processed_by_worker("2") == ["train-on-main"]  # from its copy
        _respec(db, on=ON_DEV)
        assert processed_by_worker("3") == []
        _respec(db)
        assert processed_by_worker("4") == ["train-on-main"]
        with db.session() as session:
            session.execute(update(Subscription).values(paused=True))
        assert processed_by_worker("5") == []
        with db.session() as session:
            session.execute(update(Subscription).values(paused=False))
        assert processed_by_worker("6") == ["train-on-main"]
    finally:
        ours.send(None)
        worker.join(30)
        if worker.is_alive():
            worker.kill()
        db.dispose()
        drop_database(url)


def _worker(url: str, conn: Any) -> None:
    """Another process's worker: processes each delivery id it is sent, answers what matched."""
    db = Database(url)
    while (delivery_id := conn.recv()) is not None:
        with db.session() as session:
            dispatch.process_delivery(session, delivery_id)
        with db.session() as session:
            conn.send(matched(session, delivery_id))
    db.dispose()


def _project(db: Database) -> int:
    """A project with a GitHub source and the train-on-main subscription; the source's id."""
    with db.session() as session:
        project = Project(name="vision")
        source = Source(project=project, name="gh", provider="github", secret="topsecret")
        session.add_all([project, source])
        session.add(Subscription(project=project, name="train-on-main", spec=subscription()))
        session.flush()
        return source.id


def _respec(db: Database, **fields: Any) -> None:
    with db.session() as session:
        row = session.scalars(select(Subscription)).one()
        row.spec = subscription(**fields)


def _store_push(db: Database, source_id: int, key: str) -> int:
    """The recorded push to master, stored as received; its delivery id."""
    with db.session() as session:
        delivery = Delivery(
            **delivery_state.new(
                DeliveryStatus.RECEIVED,
                provider="github",
                source_id=source_id,
                dedupe_key=key,
                event_name="push",
                headers={"X-GitHub-Event": "push"},
                body=fixture_bytes("webhooks/github/push_branch_commits.json"),
            )
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def _matched_in(db: Database, delivery_id: int) -> list[str]:
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
    with db.session() as session:
        return matched(session, delivery_id)
