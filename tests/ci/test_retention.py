"""Deliveries are kept AXON_DELIVERY_RETENTION_DAYS; what older ones leave behind stays whole."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from ci.intake import retention
from ci.store.db import utcnow
from ci.store.models import Decision, Delivery, Run, Schedule, ScheduleFire, Subscription
from schemas.status import RunStatus
from tests.ci.conftest import advance, backdate

S = RunStatus
DAY = 24 * 3600
FINISHED = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.STARTING, S.RUNNING, S.SUCCEEDED)


def delivery_of(db, run_id: int) -> int:
    with db.session() as session:
        return session.get(Run, run_id).delivery_id


def exists(db, delivery_id: int) -> bool:
    with db.session() as session:
        return session.get(Delivery, delivery_id) is not None


def test_a_delivery_older_than_the_retention_is_pruned_with_its_decisions(
    rt, db, axon, created_run
):
    delivery_id = delivery_of(db, created_run)
    advance(db, created_run, *FINISHED)
    backdate(db, Delivery, delivery_id, 31 * DAY, "received_at")
    assert retention.prune(rt) == 1
    assert not exists(db, delivery_id)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0
        run = session.get(Run, created_run)
        assert (run.delivery_id, run.status, run.event["sha"]) == (
            None,
            S.SUCCEEDED,
            "199eddf46df50de8d02e99bf1c5fdb4101338224",
        )


def test_a_delivery_within_the_retention_is_kept(rt, db, created_run):
    delivery_id = delivery_of(db, created_run)
    advance(db, created_run, *FINISHED)
    backdate(db, Delivery, delivery_id, 29 * DAY, "received_at")
    assert retention.prune(rt) == 0
    assert exists(db, delivery_id)


def test_the_delivery_of_a_live_run_is_kept_however_old(rt, db, created_run):
    delivery_id = delivery_of(db, created_run)
    backdate(db, Delivery, delivery_id, 400 * DAY, "received_at")
    assert retention.prune(rt) == 0
    assert exists(db, delivery_id)


def test_a_delivery_not_yet_processed_is_kept_however_old(rt, db, axon):
    axon.create_project()
    delivery_id = axon.deliver_push()
    backdate(db, Delivery, delivery_id, 400 * DAY, "received_at")
    assert retention.prune(rt) == 0
    assert exists(db, delivery_id)


def test_the_latest_fired_slot_of_a_schedule_keeps_its_delivery(rt, db, axon, created_run):
    advance(db, created_run, *FINISHED)
    old = utcnow() - timedelta(days=90)
    with db.session() as session:
        subscription_id = session.scalar(select(Subscription.id))
        schedule = Schedule(subscription_id=subscription_id, entry=0, spec={"cron": "@monthly"})
        session.add(schedule)
        fired = []
        for months_ago in (3, 2):
            delivery = Delivery(provider="schedule", status="processed", received_at=old)
            session.add(delivery)
            session.flush()
            at = utcnow() - timedelta(days=30 * months_ago)
            session.add(ScheduleFire(schedule_id=schedule.id, fire_at=at, delivery_id=delivery.id))
            fired.append(delivery.id)
    earlier, latest = fired
    retention.prune(rt)
    assert (exists(db, earlier), exists(db, latest)) == (False, True)


def test_a_retention_of_zero_days_keeps_every_delivery(rt, db, created_run):
    delivery_id = delivery_of(db, created_run)
    advance(db, created_run, *FINISHED)
    backdate(db, Delivery, delivery_id, 4000 * DAY, "received_at")
    rt.settings = rt.settings.model_copy(update={"delivery_retention_days": 0})
    assert retention.prune(rt) == 0
    assert exists(db, delivery_id)


def test_refused_deliveries_are_pruned_too(rt, db, client):
    client.post("/webhooks/github/nowhere", data=b"{}")
    with db.session() as session:
        session.execute(update(Delivery).values(received_at=utcnow() - timedelta(days=31)))
    assert retention.prune(rt) == 1


def test_the_periodic_prune_runs_at_most_once_per_interval(rt, db, created_run, monkeypatch):
    monkeypatch.setattr(retention, "_last_prune", None)
    delivery_id = delivery_of(db, created_run)
    advance(db, created_run, *FINISHED)
    assert retention.prune_if_due(rt, every_seconds=3600) == 0  # nothing old yet
    backdate(db, Delivery, delivery_id, 31 * DAY, "received_at")
    assert retention.prune_if_due(rt, every_seconds=3600) == 0  # not due again within the hour
    assert exists(db, delivery_id)
    assert retention.prune_if_due(rt, every_seconds=0) == 1
