"""The sweeper re-sends work whose message was lost: deliveries, starts, stops and reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from ci.agent import outbox, sweeper
from ci.store.db import utcnow
from ci.store.models import BrokerProbe, Condition, Delivery, Notification, Run
from schemas.status import RunStatus
from tests.ci.conftest import advance, backdate
from tests.conftest import relayed

S = RunStatus
LONG_AGO = 300  # seconds; the sweeper waits sweep_after_seconds (30 by default)


@pytest.fixture(autouse=True)
def workers_are_through_the_queue(db):
    """A probe sent just now has been seen: nothing published before it is still queued."""
    with db.session() as session:
        session.add(BrokerProbe(sent_at=utcnow(), seen_at=utcnow()))


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


def test_a_delivery_still_received_long_after_the_relay_published_it_is_enqueued_again(
    rt, db, axon, enqueued
):
    axon.create_project()
    delivery_id = axon.deliver_push()
    assert outbox.relay_once(rt) == 1
    backdate(db, Delivery, delivery_id, LONG_AGO, "received_at")
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
    assert outbox.relay_once(rt) == 2
    backdate(db, Delivery, stale, LONG_AGO, "received_at")
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
    backdate(db, Delivery, delivery_id, LONG_AGO, "received_at", "enqueued_at")
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.process_delivery") == []


def test_a_delivery_still_in_the_outbox_is_the_relays_however_old(rt, db, axon, enqueued):
    axon.create_project()
    delivery_id = axon.deliver_push()
    backdate(db, Delivery, delivery_id, LONG_AGO, "received_at")
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued_as(enqueued, "axon.process_delivery") == []
    assert outbox.relay_once(rt) == 1
    assert relayed(enqueued) == [delivery_id]


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


# -- re-sending only what is lost: marks and a growing wait ------------------------------------

AGE = 30  # the sweep age of the test settings (sweep_after_seconds)


def resent_ago(db, run_id, seconds, mark="resent_at"):
    """The run's last re-send (its `mark`) was `seconds` ago; its state is older still."""
    then = utcnow() - timedelta(seconds=seconds)
    long_ago = utcnow() - timedelta(seconds=LONG_AGO * 10)
    with db.session() as session:
        session.execute(
            update(Run).where(Run.id == run_id).values({mark: then, "updated_at": long_ago})
        )


def test_a_second_sweep_right_after_the_first_re_sends_nothing(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    created, stopping, running = axon.push()[0], axon.push()[0], axon.push()[0]
    advance(db, stopping, S.COMPILED, S.QUEUED, S.SCHEDULED, S.STOPPING)
    advance(db, running, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    for run_id in (created, stopping, running):
        age_run(db, run_id)
    assert sweeper.sweep(rt)["starts"] == 1
    enqueued.clear()

    counts = sweeper.sweep(rt)

    assert enqueued == []
    assert counts == dict.fromkeys(
        ("deliveries", "starts", "stops", "turns", "reports", "advances", "progress"), 0
    )


def test_the_wait_before_a_run_is_re_sent_again_doubles_each_time(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    age_run(db, run_id)
    sweeper.sweep(rt)  # the first re-send: then wait 2 × the age, then 4 ×
    enqueued.clear()

    resent_ago(db, run_id, AGE * 1.5)
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.start_run") == []

    resent_ago(db, run_id, AGE * 2 + 1)
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.start_run") == [(run_id,)]

    resent_ago(db, run_id, AGE * 3)
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.start_run") == [(run_id,)]
    with db.session() as session:
        assert session.get(Run, run_id).resent_count == 2


def test_a_run_whose_state_moved_on_since_its_re_send_waits_the_age_from_that_change(
    rt, db, axon, enqueued
):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    age_run(db, run_id)
    sweeper.sweep(rt)
    advance(db, run_id, S.COMPILED)  # the re-sent start got this far, then its message was lost
    enqueued.clear()

    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.start_run") == []

    # Re-sent 40 seconds ago, compiled 35 seconds ago: the new state waited the age.
    resent_ago(db, run_id, AGE + 10)
    age_run(db, run_id, AGE + 5)
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.start_run") == [(run_id,)]
    with db.session() as session:
        assert session.get(Run, run_id).resent_count == 1  # counted afresh for its new state


def test_a_report_re_sent_is_not_re_sent_again_until_its_wait_is_over(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    age_run(db, run_id)
    sweeper.sweep(rt)
    enqueued.clear()

    resent_ago(db, run_id, AGE * 1.5, mark="report_resent_at")
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.report_run") == []

    resent_ago(db, run_id, AGE * 2 + 1, mark="report_resent_at")
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.report_run") == [(run_id,)]


def test_a_report_whose_retry_is_on_its_way_is_not_re_sent_until_that_retry_is_overdue(
    rt, db, axon, enqueued
):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    age_run(db, run_id)
    with db.session() as session:
        run = session.get(Run, run_id)
        retrying = Notification(
            run_id=run_id,
            condition_id=run.conditions[-1].id,
            target="github",
            status=S.RUNNING,
            state="retrying",
            attempts=2,
            next_attempt_at=utcnow() + timedelta(seconds=40),
        )
        session.add(retrying)
    enqueued.clear()

    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.report_run") == []

    # The retry was due long ago and never came: its message was lost.
    backdate(db, Notification, retrying.id, LONG_AGO, "next_attempt_at")
    sweeper.sweep(rt)
    assert enqueued_as(enqueued, "axon.report_run") == [(run_id,)]


def test_a_run_in_no_concurrency_group_that_ends_asks_for_no_turn(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    enqueued.clear()

    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED)

    assert enqueued_as(enqueued, "axon.start_next_in_group") == []
    # Its five statuses ask for one report pass: none has begun yet.
    assert enqueued_as(enqueued, "axon.report_run") == [(run_id,)]


def test_a_re_send_the_broker_refused_is_not_marked_and_goes_again_next_sweep(
    rt, db, axon, enqueued, monkeypatch
):
    from ci import runtime

    axon.create_project()
    axon.subscribe()
    first, second = axon.push()[0], axon.push()[0]
    for run_id in (first, second):
        age_run(db, run_id)
    refused = []

    def refuse(task, *args, **_):
        refused.append(args)
        return False

    monkeypatch.setattr(runtime, "enqueue", refuse)

    assert sweeper.sweep(rt)["starts"] == 0
    assert refused == [(first,)]  # the broker is away: the second is not even tried

    monkeypatch.undo()
    monkeypatch.setattr(runtime, "enqueue", lambda task, *args, **_: enqueued.append((task, args)))
    assert sweeper.sweep(rt)["starts"] == 2
    assert sorted(enqueued_as(enqueued, "axon.start_run")) == [(first,), (second,)]


# -- lost or only late: probes down the queue --------------------------------------------------


def test_work_that_may_still_be_queued_behind_a_backlog_is_probed_not_re_sent(
    rt, db, axon, enqueued
):
    from ci import tasks

    axon.create_project()
    axon.subscribe()
    run_id = axon.push()[0]
    age_run(db, run_id)
    with db.session() as session:
        session.execute(delete(BrokerProbe))  # no worker has got through the queue since
    enqueued.clear()

    assert sweeper.sweep(rt)["starts"] == 0
    [(probe_id,)] = enqueued_as(enqueued, "axon.probe")
    sweeper.sweep(rt)  # the probe is on its way: no second one
    assert enqueued_as(enqueued, "axon.start_run") == []
    assert len(enqueued_as(enqueued, "axon.probe")) == 1

    tasks.probe.run(probe_id)  # a worker got to the probe, and the start was not before it

    assert sweeper.sweep(rt)["starts"] == 1
    assert enqueued_as(enqueued, "axon.start_run") == [(run_id,)]


def test_nothing_waiting_sends_no_probe(rt, db, axon, enqueued):
    axon.create_project()
    axon.subscribe()
    axon.push()  # its start was sent just now
    enqueued.clear()

    sweeper.sweep(rt)

    assert enqueued == []


def test_a_relay_batch_the_broker_refuses_stays_in_the_outbox_until_the_broker_is_back(
    rt, db, axon, enqueued, monkeypatch
):
    from ci import runtime

    axon.create_project()
    ids = [axon.deliver_push() for _ in range(3)]
    with monkeypatch.context() as broker_away:
        broker_away.setattr(runtime, "enqueue", lambda task, *args, **_: False)
        assert outbox.relay_once(rt) == 0

    # Not given to the sweeper either: the relay publishes all three when the broker is back.
    backdate(db, Delivery, ids[0], LONG_AGO, "received_at")
    enqueued.clear()
    assert sweeper.sweep(rt)["deliveries"] == 0
    assert outbox.relay_once(rt) == 3
    assert relayed(enqueued) == ids
