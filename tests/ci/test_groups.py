"""Concurrency groups: a subscription's runs start, wait, are superseded or skipped, and the
waiting run starts when its group frees up; the decision log says why at every step."""

from __future__ import annotations

from sqlalchemy import select, update

from ci import tasks
from ci.agent import sweeper
from ci.runs import dispatch
from ci.store.models import Decision, Run
from schemas.status import RunStatus
from tests.ci.conftest import advance, backdate
from tests.ci.factories import setup_project, subscription
from tests.ci.test_dispatch import deliver

S = RunStatus
GROUP = "ref/{{ event.branch }}"
# The recorded push is to master, which a group protects unless told otherwise.
UNPROTECTED = {"group": GROUP, "protect": []}


def push(client, db, github_delivery):
    """Deliver the recorded push to master and process it; the ids of the runs to start now."""
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        return dispatch.process_delivery(session, delivery_id)


def runs(db):
    """Every run, oldest first, as (id, status)."""
    with db.session() as session:
        return [(r.id, r.status) for r in session.scalars(select(Run).order_by(Run.id))]


def last_reason(db, run_id):
    with db.session() as session:
        return session.get(Run, run_id).conditions[-1].message


def concurrency_checks(db, run_id):
    """The concurrency lines of the decision that created `run_id`."""
    with db.session() as session:
        decision = session.scalars(select(Decision).where(Decision.run_id == run_id)).one()
        return [c["reason"] for c in decision.checks if c["check"] == "concurrency"]


def running(db, run_id):
    """Take the run as far as `running` on a runner, as if it had been started."""
    advance(db, run_id, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(external_id="local-4242"))


def sent(enqueued, name):
    return [args for task, args in enqueued if task == name]


def test_a_run_alone_in_its_group_starts_and_remembers_its_group(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency=GROUP)

    [run_id] = push(client, db, github_delivery)

    with db.session() as session:
        assert session.get(Run, run_id).concurrency_group == "ref/master"
    assert concurrency_checks(db, run_id) == ["started in group ref/master"]


def test_cancel_in_progress_cancels_the_older_run_and_says_so_in_the_decision_log(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency={**UNPROTECTED, "cancelInProgress": True})
    [older] = push(client, db, github_delivery)
    running(db, older)

    [newer] = push(client, db, github_delivery)

    assert runs(db) == [(older, "stopping"), (newer, "created")]
    assert (older,) in sent(enqueued, "axon.stop_run")
    assert concurrency_checks(db, newer) == [
        "started in group ref/master",
        f"cancelled run {older}: superseded in group ref/master",
    ]
    # The cancelled run's own history says what superseded it, too.
    assert last_reason(db, older) == f"cancelled run {older}: superseded in group ref/master"


def test_a_run_on_a_protected_branch_is_not_cancelled_and_the_new_one_waits(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency={"group": GROUP, "cancelInProgress": True})
    [older] = push(client, db, github_delivery)
    running(db, older)

    assert push(client, db, github_delivery) == []

    [(_, first), (newer, second)] = runs(db)
    assert (first, second) == ("running", "on_schedule")
    reason = (
        f"queued in group ref/master behind run {older}; "
        f"run {older} is on protected branch 'master', never cancelled"
    )
    assert concurrency_checks(db, newer) == [reason]
    assert last_reason(db, newer) == reason
    assert sent(enqueued, "axon.stop_run") == []


def test_a_waiting_run_starts_when_the_run_holding_its_group_ends(
    rt, client, db, github_delivery, enqueued
):
    setup_project(client, concurrency=GROUP)
    [older] = push(client, db, github_delivery)
    push(client, db, github_delivery)
    [_, (newer, status)] = runs(db)
    assert status == "on_schedule"
    running(db, older)

    advance(db, older, S.SUCCEEDED)
    assert (older,) in sent(enqueued, "axon.start_next_in_group")
    tasks.start_next_in_group(older)

    assert runs(db) == [(older, "succeeded"), (newer, "compiled")]
    assert sent(enqueued, "axon.start_run") == [(newer,)]


def test_a_delivery_processed_again_leaves_its_run_waiting_in_its_group(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency=GROUP)
    push(client, db, github_delivery)  # its run holds the group
    delivery_id = deliver(client, github_delivery)
    with db.session() as session:
        assert dispatch.process_delivery(session, delivery_id) == []

    with db.session() as session:  # its task's message again, as after a lost worker
        assert dispatch.process_delivery(session, delivery_id) == []

    [_, (_, status)] = runs(db)
    assert status == "on_schedule"


def test_a_waiting_run_stays_while_its_group_is_held(rt, client, db, github_delivery, enqueued):
    setup_project(client, concurrency=GROUP)
    [older] = push(client, db, github_delivery)
    push(client, db, github_delivery)
    [_, (newer, _)] = runs(db)

    tasks.start_next_in_group(newer)

    assert runs(db) == [(older, "created"), (newer, "on_schedule")]
    assert sent(enqueued, "axon.start_run") == []


def test_a_burst_of_pushes_starts_one_run_once_the_debounce_window_closes(
    rt, client, db, github_delivery, enqueued
):
    setup_project(client, concurrency={**UNPROTECTED, "debounce": 30})

    started = [push(client, db, github_delivery) for _ in range(3)]

    assert started == [[], [], []]
    [(first, s1), (second, s2), (last, s3)] = runs(db)
    assert (s1, s2, s3) == ("stopped", "stopped", "on_schedule")
    window = "the 30 s debounce window of group ref/master"
    assert f"cancelled run {second}: superseded within {window}" in concurrency_checks(db, last)
    assert sweeper.sweep(rt)["turns"] == 0  # still inside its window

    backdate(db, Run, last, 31, "created_at", "updated_at")
    enqueued.clear()
    assert sweeper.sweep(rt)["turns"] == 0  # its task may still be queued: a probe goes first
    [(probe,)] = sent(enqueued, "axon.probe")
    tasks.probe(probe)  # a worker got through the queue, and no task started the run
    assert sweeper.sweep(rt)["turns"] == 1
    [(waiting,)] = sent(enqueued, "axon.start_next_in_group")
    tasks.start_next_in_group(waiting)

    assert runs(db) == [(first, "stopped"), (second, "stopped"), (last, "compiled")]
    assert sent(enqueued, "axon.start_run") == [(last,)]


def test_past_the_queue_limit_the_oldest_waiting_run_is_superseded(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency=UNPROTECTED)
    [holding] = push(client, db, github_delivery)
    push(client, db, github_delivery)
    push(client, db, github_delivery)

    [(_, s1), (oldest, s2), (newest, s3)] = runs(db)
    assert (s1, s2, s3) == ("created", "stopped", "on_schedule")
    assert concurrency_checks(db, newest) == [
        f"queued in group ref/master behind run {holding}",
        f"cancelled run {oldest}: superseded in group ref/master (queueLimit 1)",
    ]


def test_with_a_queue_limit_of_zero_a_run_that_would_wait_is_skipped_with_the_reason(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency={**UNPROTECTED, "queueLimit": 0})
    [holding] = push(client, db, github_delivery)

    assert push(client, db, github_delivery) == []

    [_, (skipped, status)] = runs(db)
    reason = f"skipped: run {holding} holds group ref/master, and queueLimit is 0"
    assert (status, last_reason(db, skipped)) == ("skipped", reason)
    with db.session() as session:
        decision = session.scalars(select(Decision).where(Decision.run_id == skipped)).one()
        assert {"check": "concurrency", "ok": False, "reason": reason} in decision.checks


def test_a_group_the_event_cannot_render_fails_the_run_with_the_reason(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency="pr-{{ event.pull_request.number }}")

    assert push(client, db, github_delivery) == []

    [(run_id, status)] = runs(db)
    assert status == "failed"
    assert last_reason(db, run_id) == (
        "concurrency.group: cannot render the group: 'None' has no attribute 'number'"
    )


def test_subscriptions_in_other_groups_do_not_wait_for_each_other(
    client, db, github_delivery, enqueued
):
    setup_project(client, concurrency=GROUP)
    other = subscription("nightly-eval", concurrency="eval-{{ event.branch }}")
    assert client.post("/api/v1/projects/vision/subscriptions", json=other).status_code == 201

    assert len(push(client, db, github_delivery)) == 2


def test_a_bad_concurrency_key_is_refused_with_422_naming_the_field(client):
    setup_project(client)
    doc = subscription("racy", concurrency={"group": GROUP, "cancel-in-progress": True})

    response = client.post("/api/v1/projects/vision/subscriptions", json=doc)

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert (error["path"], error["reason"]) == (
        "concurrency.cancel-in-progress",
        "unknown key; did you mean 'cancelInProgress'?",
    )
