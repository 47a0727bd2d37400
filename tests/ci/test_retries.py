"""termination.maxRetries: the core retries a failed run on a runner that does not retry itself."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from ci.agent import recording, sweeper
from ci.store.db import utcnow
from ci.store.models import Run
from runners.base import Observation, RunSpec
from runners.local import LocalRunner
from runners.registry import runners
from schemas.status import RunStatus
from tests.ci.conftest import observed_to_end, operation


def failing_until(tries: Path, succeed_at: int) -> str:
    """Python code that exits 3 until its `succeed_at`-th try (counted in `tries`), then 0."""
    return (
        "import pathlib, sys; "
        f"p = pathlib.Path({str(tries)!r}); "
        "n = len(p.read_text()) + 1 if p.exists() else 1; "
        "p.write_text('x' * n); print('try', n); "
        f"sys.exit(0 if n >= {succeed_at} else 3)"
    )


def with_retries(code: str, max_retries: int) -> dict:
    op = operation(code=code)
    op["component"]["termination"] = {"timeout": 30, "maxRetries": max_retries}
    return op


def run_to_end(rt, db, local_runner: LocalRunner, start, run_id: int) -> None:
    """Start the run and record what the local runner observes until its try ends."""
    start(run_id)
    with db.session() as session:
        external_id = session.get(Run, run_id).external_id
    for observation in observed_to_end(local_runner, external_id):
        recording.apply(rt, local_runner, observation)


def conditions(axon, run_id):
    return [(c["status"], c["message"]) for c in axon.run(run_id)["conditions"]]


def test_a_failed_try_with_retries_left_is_retried_on_the_local_runner_until_it_succeeds(
    rt, db, axon, enqueued, local_runner, start, tmp_path
):
    axon.create_project()
    axon.subscribe(operation=with_retries(failing_until(tmp_path / "tries", 2), max_retries=2))
    [run_id] = axon.push()

    run_to_end(rt, db, local_runner, start, run_id)

    run = axon.run(run_id)
    assert (run["status"], run["external_id"]) == ("retrying", None)
    assert conditions(axon, run_id)[-1] == ("retrying", "attempt 2 of 3: exit code 3")
    assert ("axon.start_run", (run_id,)) in enqueued

    run_to_end(rt, db, local_runner, start, run_id)

    run = axon.run(run_id)
    assert run["status"] == "succeeded"
    # The second try ran in a run dir of its own, under an external id of its own.
    assert run["external_id"] == f"{run['uuid']}.1"
    assert (tmp_path / "tries").read_text() == "xx"
    history = conditions(axon, run_id)
    statuses = [status for status, _ in history]
    assert statuses == [
        "created", "compiled", "queued", "scheduled", "starting", "running", "retrying",
        "queued", "scheduled", "starting", "running", "succeeded",
    ]  # fmt: skip
    assert ("queued", "attempt 2 of 3") in history
    with db.session() as session:
        assert session.get(Run, run_id).attempt == 1


def test_a_run_fails_once_its_retries_are_spent(rt, db, axon, local_runner, start, tmp_path):
    axon.create_project()
    axon.subscribe(operation=with_retries(failing_until(tmp_path / "tries", 99), max_retries=1))
    [run_id] = axon.push()

    run_to_end(rt, db, local_runner, start, run_id)
    run_to_end(rt, db, local_runner, start, run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert (tmp_path / "tries").read_text() == "xx"
    assert [m for s, m in conditions(axon, run_id) if s == "retrying"] == [
        "attempt 2 of 2: exit code 3"
    ]


def test_without_max_retries_a_failure_is_final(rt, db, axon, local_runner, start, tmp_path):
    axon.create_project()
    axon.subscribe(operation=operation(code=failing_until(tmp_path / "tries", 2)))
    [run_id] = axon.push()

    run_to_end(rt, db, local_runner, start, run_id)

    assert axon.run(run_id)["status"] == "failed"
    assert "retrying" not in [s for s, _ in conditions(axon, run_id)]


def test_a_run_past_its_timeout_is_not_retried(rt, db, axon, local_runner, start):
    axon.create_project()
    op = with_retries("import time; time.sleep(30)", max_retries=3)
    op["component"]["termination"]["timeout"] = 1
    axon.subscribe(operation=op)
    [run_id] = axon.push()

    run_to_end(rt, db, local_runner, start, run_id)

    run = axon.run(run_id)
    assert (run["status"], run["conditions"][-1]["reason"]) == ("failed", "DeadlineExceeded")


def test_a_runner_that_retries_itself_has_its_failure_recorded_as_final(
    rt, db, axon, enqueued, start, local_runner, monkeypatch, tmp_path
):
    axon.create_project()
    axon.subscribe(operation=with_retries(failing_until(tmp_path / "tries", 2), max_retries=2))
    [run_id] = axon.push()
    start(run_id)
    external_id = axon.run(run_id)["external_id"]
    monkeypatch.setattr(LocalRunner, "retries_itself", True)

    recording.apply(rt, local_runner, Observation(external_id, RunStatus.FAILED, "Error", "gone"))

    assert axon.run(run_id)["status"] == "failed"
    assert ("axon.start_run", (run_id,)) not in enqueued


def test_the_sweeper_resends_the_start_of_a_retry_whose_message_was_lost(
    rt, db, axon, enqueued, local_runner, start, tmp_path
):
    axon.create_project()
    axon.subscribe(operation=with_retries(failing_until(tmp_path / "tries", 2), max_retries=1))
    [run_id] = axon.push()
    run_to_end(rt, db, local_runner, start, run_id)

    with db.session() as session:
        due = sweeper._due_runs(session, utcnow(), timedelta(0), sweeper._startable())

    assert run_id in [row_id for row_id, _ in due]


def test_kubernetes_retries_itself_and_the_local_runner_leaves_retries_to_the_core():
    # The Job's backoffLimit is maxRetries (tests/runners/test_kubernetes_manifests.py) and its
    # tracker reports `retrying` while the Job goes on (tests/runners/test_kubernetes_runner.py).
    assert runners.load("kubernetes").retries_itself
    assert not runners.load("local").retries_itself


def test_the_local_runner_takes_each_try_once_under_an_id_of_its_own(tmp_path, monkeypatch):
    launched: list[str] = []

    def launch(self: LocalRunner, run_dir: Path) -> None:
        launched.append(run_dir.name)
        (run_dir / "supervisor.pid").write_text(f"{os.getpid()}\n")  # as its supervisor does

    monkeypatch.setattr(LocalRunner, "_launch", launch)
    runner = LocalRunner(tmp_path)
    first = RunSpec(uuid="b" * 32, name="train", project="vision", command=["true"])
    second = replace(first, attempt=1)

    ids = [runner.submit(first), runner.submit(first), runner.submit(second), runner.submit(second)]

    assert ids == ["b" * 32, "b" * 32, f"{'b' * 32}.1", f"{'b' * 32}.1"]
    assert launched == ["b" * 32, f"{'b' * 32}.1"]
