"""A subscription makes one run of an event, with its first condition, however often the event
comes; the run runs the operation of the subscription as it is now."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, text

from ci.intake import delivery_state
from ci.runs import dispatch, lifecycle
from ci.store import migrate
from ci.store.db import Database, make_engine
from ci.store.models import Condition, Decision, Delivery, Project, Run, Source, Subscription
from schemas.status import DeliveryStatus
from tests.ci.factories import OPERATION, subscription
from tests.conftest import fixture_bytes


def _project(db: Database, sources: int = 1) -> tuple[int, list[int]]:
    """A project with GitHub sources and the train-on-main subscription: (its id, source ids)."""
    with db.session() as session:
        project = Project(name="vision")
        made = [
            Source(project=project, name=f"gh{n}", provider="github", secret="s")
            for n in range(sources)
        ]
        session.add_all([project, *made])
        session.add(Subscription(project=project, name="train-on-main", spec=subscription()))
        session.flush()
        return project.id, [s.id for s in made]


def _process_push(db: Database, source_id: int, key: str) -> int:
    """The recorded push to master, stored as received under `key` and processed."""
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
        delivery_id = delivery.id
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
    return delivery_id


def _values(project_id: int, subscription_id: int, key: str = "github:d1:0") -> dict[str, Any]:
    return {
        "project_id": project_id,
        "subscription_id": subscription_id,
        "event_key": key,
        "name": "train",
        "spec": OPERATION,
    }


def test_the_same_event_from_two_sources_makes_one_run_and_both_decisions_say_so(db):
    _, [first, second] = _project(db, sources=2)
    made = _process_push(db, first, "same-delivery")
    again = _process_push(db, second, "same-delivery")
    with db.session() as session:
        [run] = session.scalars(select(Run)).all()
        assert run.delivery_id == made
        [condition] = session.scalars(select(Condition)).all()
        assert (condition.run_id, condition.status, condition.reason) == (
            run.id,
            "created",
            "EventMatched",
        )
        assert condition.message == "push refs/heads/master"
        decisions = session.execute(
            select(Decision.delivery_id, Decision.matched, Decision.run_id).order_by(Decision.id)
        ).all()
        assert decisions == [(made, True, run.id), (again, True, None)]
        reason = session.get_one(Delivery, again).reason
        assert reason == "1 event(s), 0 run(s) started"
        stored = session.execute(text("SELECT status, processed_at FROM deliveries")).all()
        assert [status for status, _ in stored] == ["processed", "processed"]
        assert all(at is not None for _, at in stored)


def test_a_changed_operation_is_what_the_next_run_runs(db):
    _, [source] = _project(db)
    _process_push(db, source, "1")
    with db.session() as session:
        row = session.scalars(select(Subscription)).one()
        row.spec = subscription(operation={**OPERATION, "name": "train-again"})
    _process_push(db, source, "2")
    with db.session() as session:
        names = session.scalars(select(Run.name).order_by(Run.id)).all()
        assert names == ["train", "train-again"]


def _create_once_twice_makes_one_run(db: Database) -> None:
    project_id, _ = _project(db)
    with db.session() as session:
        subscription_id = session.scalars(select(Subscription.id)).one()
        run_id = lifecycle.create_once(session, _values(project_id, subscription_id), "R", "m")
        assert run_id is not None
        values = _values(project_id, subscription_id)
        assert lifecycle.create_once(session, values, "R", "m") is None
        # The conflict left the transaction usable: the same cause on another event still goes.
        other = _values(project_id, subscription_id, "github:d2:0")
        assert lifecycle.create_once(session, other, "R", "m") not in (None, run_id)
    with db.session() as session:
        run = session.get_one(Run, run_id)
        assert (run.status, run.kind, run.runner, run.attempt, run.meta) == (
            "created",
            "job",
            "local",
            0,
            {},
        )
        assert len(run.uuid) == 32 and run.created_at == run.updated_at
        assert [(c.status, c.reason, c.message, c.at) for c in run.conditions] == [
            ("created", "R", "m", run.created_at)
        ]
        assert session.scalar(select(func.count()).select_from(Condition)) == 2


def test_an_event_makes_one_run_of_a_subscription_however_often_it_is_created(db):
    _create_once_twice_makes_one_run(db)


def test_on_sqlite_too_an_event_makes_one_run_of_a_subscription(tmp_path):
    url = f"sqlite:///{tmp_path / 'axon.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(url)
    try:
        _create_once_twice_makes_one_run(db)
    finally:
        db.dispose()


def test_a_deleted_subscription_gets_no_run(db):
    project_id, _ = _project(db)
    with db.session() as session:
        subscription_id = session.scalars(select(Subscription.id)).one()
        session.execute(delete(Subscription))
        assert lifecycle.create_once(session, _values(project_id, subscription_id), "R", "") is None
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0


def test_a_run_of_an_event_refuses_a_column_it_does_not_set(db):
    project_id, _ = _project(db)
    with db.session() as session, pytest.raises(ValueError, match="sets no parent_id"):
        lifecycle.create_once(session, {**_values(project_id, 1), "parent_id": 3}, "R", "")
