"""What every Runner must do; each runner's tests subclass `RunnerContract`.

A subclass provides two fixtures: `runner` (a fresh runner whose runs are cleaned up after the
test) and `make_spec(command, **fields) -> RunSpec` (a spec with a new uuid). Commands here are
argument lists starting with `python`; `make_spec` maps that to an interpreter the backend has.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from typing import Any

import pytest

from runners.base import Observation, Runner, RunSpec
from schemas.status import DONE, RunStatus

MakeSpec = Callable[..., RunSpec]


def python(code: str) -> list[str]:
    return ["python", "-c", code]


SUCCEED = python("print('hello')")
FAIL = python("import sys; sys.exit(3)")
SLEEP = python("import time; time.sleep(60)")


def observe_until(
    runner: Runner, external_id: str, statuses: Collection[RunStatus], timeout: float = 5.0
) -> list[Observation]:
    """The run's observations from a fresh observer, up to the first with one of `statuses`."""
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    seen: list[Observation] = []
    observations: Iterator[Observation] = runner.observe(stop)
    try:
        for observation in observations:
            if observation.external_id == external_id:
                seen.append(observation)
                if observation.status in statuses:
                    return seen
    finally:
        timer.cancel()
        stop.set()
    pytest.fail(f"no {sorted(statuses)} for {external_id} within {timeout}s; saw {seen}")


def run_to_end(runner: Runner, external_id: str, timeout: float = 5.0) -> list[Observation]:
    return observe_until(runner, external_id, DONE, timeout)


def statuses(observations: list[Observation]) -> list[RunStatus]:
    return [observation.status for observation in observations]


class RunnerContract:
    """What every runner promises. A subclass provides the `runner` and `make_spec` fixtures."""

    def test_submit_returns_the_runs_external_id(self, runner: Runner, make_spec: MakeSpec):
        external_id = runner.submit(make_spec(SUCCEED))

        assert isinstance(external_id, str) and external_id
        assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED

    def test_submitting_twice_starts_one_run(self, runner: Runner, make_spec: MakeSpec):
        spec = make_spec(SUCCEED)

        first, second = runner.submit(spec), runner.submit(spec)
        run_to_end(runner, first)
        third = runner.submit(spec)

        assert first == second == third
        assert statuses(run_to_end(runner, first)).count(RunStatus.RUNNING) == 1

    def test_succeeding_command_is_observed_starting_running_succeeded(
        self, runner: Runner, make_spec: MakeSpec
    ):
        observations = run_to_end(runner, runner.submit(make_spec(SUCCEED)))

        wanted = [RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
        assert [status for status in statuses(observations) if status in wanted] == wanted
        assert observations[-1].status == RunStatus.SUCCEEDED
        assert all(o.at is not None and o.at.utcoffset() is not None for o in observations)

    def test_failing_command_ends_failed(self, runner: Runner, make_spec: MakeSpec):
        last = run_to_end(runner, runner.submit(make_spec(FAIL)))[-1]

        assert last.status == RunStatus.FAILED
        assert last.reason
        assert last.exit_code in (3, None)

    def test_cancelling_a_running_run_ends_stopped(self, runner: Runner, make_spec: MakeSpec):
        external_id = runner.submit(make_spec(SLEEP))
        observe_until(runner, external_id, {RunStatus.RUNNING})

        runner.cancel(external_id)

        assert run_to_end(runner, external_id)[-1].status == RunStatus.STOPPED

    def test_cancelling_a_finished_run_changes_nothing(self, runner: Runner, make_spec: MakeSpec):
        external_id = runner.submit(make_spec(SUCCEED))
        run_to_end(runner, external_id)

        runner.cancel(external_id)

        assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED

    def test_cancelling_an_unknown_run_is_not_an_error(self, runner: Runner):
        runner.cancel(str(uuid.uuid4()))

    def test_observe_returns_once_stop_is_set(self, runner: Runner, make_spec: MakeSpec):
        runner.submit(make_spec(SLEEP))
        stop, seen = threading.Event(), queue.Queue[Any]()
        finished = threading.Event()

        def consume() -> None:
            for observation in runner.observe(stop):
                seen.put(observation)
            finished.set()

        threading.Thread(target=consume, daemon=True).start()
        seen.get(timeout=5.0)
        stop.set()

        assert finished.wait(timeout=2.0), "observe() kept going after stop was set"
