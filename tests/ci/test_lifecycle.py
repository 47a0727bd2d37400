"""The lifecycle: every status has a row, illegal moves raise, each move is recorded."""

from __future__ import annotations

import pytest

from ci.runs import lifecycle
from ci.store.models import Project, Run
from schemas.status import DONE, RunStatus


def test_every_status_has_a_row_in_the_transition_table():
    assert set(lifecycle.TRANSITIONS) == set(RunStatus)


def test_every_target_in_the_table_is_a_status():
    for targets in lifecycle.TRANSITIONS.values():
        assert targets <= set(RunStatus)


def test_done_is_final_except_for_resume():
    for status in DONE:
        assert lifecycle.TRANSITIONS[status] == {RunStatus.RESUMING}


def test_the_happy_path_is_legal():
    path = ["created", "compiled", "queued", "scheduled", "starting", "running", "succeeded"]
    for current, following in zip(path, path[1:], strict=False):
        assert lifecycle.can_transition(current, following), (current, following)


@pytest.fixture
def run(db):
    with db.session() as session:
        project = Project(name="lifecycle")
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="train")
        lifecycle.create(session, run)
        session.flush()
        return run.id


def test_a_transition_records_status_reason_message_and_time(db, run, enqueued):
    with db.session() as session:
        row = session.get(Run, run)
        lifecycle.transition(session, row, RunStatus.COMPILED, "Compiled", "image python:3.11")
    with db.session() as session:
        row = session.get(Run, run)
        assert row.status == "compiled"
        history = [(c.status, c.reason, c.message) for c in row.conditions]
        assert history == [("created", "", ""), ("compiled", "Compiled", "image python:3.11")]
        assert row.conditions[-1].at.tzinfo is not None


def test_an_illegal_move_raises_and_writes_nothing(db, run, enqueued):
    with pytest.raises(lifecycle.IllegalTransition, match="cannot go from created to running"):
        with db.session() as session:
            lifecycle.transition(session, session.get(Run, run), RunStatus.RUNNING)
    with db.session() as session:
        row = session.get(Run, run)
        assert row.status == "created" and len(row.conditions) == 1


def test_a_committed_transition_enqueues_its_report(rt, db, run, enqueued):
    # A default Slack webhook: every run has a target to hear of its statuses.
    rt.settings = rt.settings.model_copy(
        update={"slack_webhook_url": "https://hooks.slack.example/T/B/x"}
    )
    with db.session() as session:
        lifecycle.transition(session, session.get(Run, run), RunStatus.COMPILED)
    assert ("axon.report_run", (run,)) in enqueued


def test_a_rolled_back_transition_enqueues_nothing(db, run, enqueued):
    with pytest.raises(RuntimeError):
        with db.session() as session:
            lifecycle.transition(session, session.get(Run, run), RunStatus.COMPILED)
            raise RuntimeError("boom")
    assert enqueued == []


def test_finishing_sets_the_times(db, run, enqueued):
    with db.session() as session:
        row = session.get(Run, run)
        for status in ("compiled", "queued", "scheduled", "running", "succeeded"):
            lifecycle.transition(session, row, RunStatus(status))
    with db.session() as session:
        row = session.get(Run, run)
        assert row.started_at is not None and row.finished_at >= row.started_at
        assert row.duration is not None


def test_a_reaction_to_the_run_as_it_is_hears_each_run_once_per_transaction(db, run, monkeypatch):
    heard: list[tuple[str, int, str]] = []

    def every(run_id: int, status: RunStatus) -> None:
        heard.append(("every", run_id, status))

    def once(run_id: int, status: RunStatus) -> None:
        heard.append(("once", run_id, status))

    monkeypatch.setattr(lifecycle, "reactions", [every, once])
    monkeypatch.setattr(lifecycle, "once_per_run", {once})
    with db.session() as session:
        row = session.get(Run, run)
        for status in ("compiled", "queued", "scheduled"):
            lifecycle.transition(session, row, RunStatus(status))
    with db.session() as session:
        lifecycle.transition(session, session.get(Run, run), RunStatus.RUNNING)

    assert heard == [
        ("every", run, "compiled"),
        ("every", run, "queued"),
        ("every", run, "scheduled"),
        ("once", run, "scheduled"),
        ("every", run, "running"),
        ("once", run, "running"),
    ]


def test_what_reactions_keep_of_the_row_is_taken_after_commit_only(db, run, monkeypatch):
    kept: list[tuple[int, str]] = []
    monkeypatch.setattr(lifecycle, "reactions", [])
    monkeypatch.setattr(
        lifecycle, "remembering", [lambda _, row: kept.append((row.id, row.status))]
    )
    with pytest.raises(RuntimeError):
        with db.session() as session:
            lifecycle.transition(session, session.get(Run, run), RunStatus.COMPILED)
            raise RuntimeError("boom")
    assert kept == []

    with db.session() as session:
        row = session.get(Run, run)
        lifecycle.transition(session, row, RunStatus.COMPILED)
        lifecycle.transition(session, row, RunStatus.QUEUED)
    assert kept == [(run, "queued")]
