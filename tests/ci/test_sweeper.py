"""The sweeper re-sends work whose message was lost: deliveries, starts, stops and reports."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from ci import sweeper
from ci.db import utcnow
from ci.models import Condition, Delivery, Run
from schemas.status import RunStatus
from tests.ci.conftest import advance, backdate

S = RunStatus
LONG_AGO = 300  # seconds; the sweeper waits sweep_after_seconds (30 by default)


def enqueued_as(enqueued, name):
    return [args for task, args in enqueued if task == name]


def age_run(db, run_id, seconds=LONG_AGO):
    """The run last changed, and went through each of its statuses, `seconds` ago."""
    then = utcnow() - timedelta(seconds=seconds)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(updated_at=then))
        session.execute(update(Condition).where(Condition.run_id == run_id).values(at=then))


def mark_reported(db, run_id):
    """Every target has heard of every condition so far."""
    with db.session() as session:
        run = session.get(Run, run_id)
        last = max(c.id for c in run.conditions)
        session.execute(update(Run).where(Run.id == run_id).values(report_cursor=last))


def test_a_delivery_still_received_long_after_it_was_enqueued_is_enqueued_again(
    rt, db, axon, enqueued
):
    axon.create_project()
    delivery_id = axon.deliver_push()
    backdate(db, Delivery, delivery_id, LONG_AGO, "enqueued_at")
    enqueued.clear()

    counts = sweeper.sweep(rt)

    assert counts["deliveries"] == 1
    assert enqueued_as(enqueued, "axon.process_delivery") == [(delivery_id,)]
    with db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "received"
        assert utcnow() - delivery.enqueued_at < timedelta(seconds=5)
    enqueued.clear()
    sweeper.sweep(rt)  # just enqueued again: it waits its turn once more
    assert enqueued_as(enqueued, "axon.process_delivery") == []


def test_a_delivery_enqueued_moments_ago_is_left_alone(rt, db, axon, enqueued):
    axon.create_project()
    stale = axon.deliver_push()
    fresh = axon.deliver_push()
    backdate(db, Delivery, stale, LONG_AGO, "enqueued_at")
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.process_delivery") == [(stale,)]
    with db.session() as session:
        assert session.get(Delivery, fresh).status == "received"


def test_a_processed_delivery_is_not_enqueued_again(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    axon.push()
    with db.session() as session:
        [delivery_id] = session.scalars(select(Delivery.id))
    backdate(db, Delivery, delivery_id, LONG_AGO, "enqueued_at")
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.process_delivery") == []


def test_runs_stuck_before_submission_are_started_again(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    created = axon.push()[0]
    queued = axon.push()[0]
    advance(db, queued, S.COMPILED, S.QUEUED)
    for run_id in (created, queued):
        age_run(db, run_id)
    enqueued.clear()

    counts = sweeper.sweep(rt)

    assert sorted(enqueued_as(enqueued, "axon.start_run")) == [(created,), (queued,)]
    assert counts["starts"] == 2


def test_a_run_created_moments_ago_or_already_submitted_is_not_started_again(
    rt, db, axon, enqueued
):
    axon.create_project()
    axon.subscribe()
    axon.push()  # created just now: its own start message is still on its way
    submitted = axon.push()[0]
    advance(db, submitted, S.COMPILED, S.QUEUED, S.SCHEDULED)
    age_run(db, submitted)
    enqueued.clear()

    counts = sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.start_run") == []
    assert counts["starts"] == 0


def test_a_run_stuck_stopping_is_asked_to_stop_again(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.STOPPING)
    age_run(db, run_id)
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.stop_run") == [(run_id,)]


def test_runs_with_conditions_not_yet_reported_get_a_report(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    unreported = axon.push()[0]
    reported = axon.push()[0]
    for run_id in (unreported, reported):
        advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    mark_reported(db, reported)
    for run_id in (unreported, reported):
        age_run(db, run_id)
    enqueued.clear()

    counts = sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.report_run") == [(unreported,)]
    assert counts["reports"] == 1


def test_a_run_whose_report_is_under_way_is_not_reported_again(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    age_run(db, run_id)
    with db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(report_lease_until=utcnow() + timedelta(seconds=60))
        )
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.report_run") == []
