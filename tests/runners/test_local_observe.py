"""Observing local runs: an end is seen within tens of milliseconds however many ended run dirs
the root keeps, and runs submitted by another runner instance (another process) are found."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from pathlib import Path

from runners.base import RunSpec
from runners.local import LocalRunner
from schemas.status import DONE, RunStatus
from tests.contracts.runner import SUCCEED, python

ENDED_RUNS = 2000  # ended run dirs a busy root keeps (each benchmark rep adds about a thousand)
PROMPT_S = 0.15  # a job's exit to the observation of its end (polls every 25 ms)
ENDS = 3  # ends timed one after another


def spec(command: list[str]) -> RunSpec:
    if command[:1] == ["python"]:
        command = [sys.executable, *command[1:]]
    return RunSpec(name="train", project="mnist", command=command, uuid=uuid.uuid4().hex)


def plant_ended_runs(root: Path, count: int) -> None:
    """Run dirs as finished runs leave them: a spec and a final state."""
    state = [{"status": "succeeded", "reason": "", "message": "", "time": "2026-01-01T00:00:00"}]
    for _ in range(count):
        run_dir = root / uuid.uuid4().hex
        run_dir.mkdir(parents=True)
        (run_dir / "spec.json").write_text("{}")
        (run_dir / "state.json").write_text(json.dumps(state))


def test_an_end_is_observed_within_tens_of_milliseconds(
    local_runner: LocalRunner, tmp_path: Path
) -> None:
    plant_ended_runs(local_runner.root, ENDED_RUNS)
    runner = LocalRunner(local_runner.root)  # the default poll interval, as the agent has it
    jobs = {}
    for index in range(ENDS):
        gate, exited = tmp_path / f"gate{index}", tmp_path / f"exited{index}"
        # The job waits for its gate, then notes the moment it exits.
        code = (
            "import os, time\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.005)\n"
            f"open({str(exited)!r}, 'w').write(repr(time.time()))"
        )
        jobs[runner.submit(spec(python(code)))] = (gate, exited)
    running: set[str] = set()
    lags: dict[str, float] = {}
    stop = threading.Event()
    timer = threading.Timer(15.0, stop.set)
    timer.start()
    try:
        for observation in runner.observe(stop):
            if observation.external_id not in jobs:
                continue
            if observation.status == RunStatus.RUNNING:
                running.add(observation.external_id)
            if observation.status in DONE:
                assert observation.status == RunStatus.SUCCEEDED, observation
                exited = jobs[observation.external_id][1]
                lags[observation.external_id] = time.time() - float(exited.read_text())
                if len(lags) == ENDS:
                    break
            if running == jobs.keys():  # all started: open one gate at a time, ends one by one
                waiting = [
                    gate for external_id, (gate, _) in jobs.items() if external_id not in lags
                ]
                if not any(gate.exists() for gate in waiting):
                    waiting[0].touch()
    finally:
        timer.cancel()
        stop.set()

    assert len(lags) == ENDS, f"ends observed: {lags}"
    slowest = max(lags.values())
    assert slowest < PROMPT_S, f"an end was observed {slowest * 1000:.0f} ms after the job exited"


def observe_submitted_midway(watcher: LocalRunner, planted: int, later: RunSpec) -> list[RunStatus]:
    """`later`'s statuses to its end, submitted by another runner instance once `watcher`'s
    observer has reported the `planted` runs already there (its first listing is behind it)."""
    stop = threading.Event()
    timer = threading.Timer(10.0, stop.set)
    timer.start()
    seen: list[RunStatus] = []
    reported = 0
    try:
        for observation in watcher.observe(stop):
            if observation.external_id == later.uuid:
                seen.append(observation.status)
                if observation.status in DONE:
                    break
                continue
            reported += 1
            if reported == planted:
                # Another process's runner: nothing of it passes through the observing instance.
                assert LocalRunner(watcher.root).submit(later) == later.uuid
    finally:
        timer.cancel()
        stop.set()
    return seen


def test_a_run_another_runner_submits_is_found_by_a_running_observer(
    local_runner: LocalRunner,
) -> None:
    plant_ended_runs(local_runner.root, 50)
    later = spec(SUCCEED)

    seen = observe_submitted_midway(local_runner, 50, later)

    assert seen == [RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED]


def test_a_run_dir_whose_spec_comes_later_is_still_found(local_runner: LocalRunner) -> None:
    plant_ended_runs(local_runner.root, 1)
    later = spec(SUCCEED)
    (local_runner.root / later.uuid).mkdir()  # as submit makes it, before writing the spec

    seen = observe_submitted_midway(local_runner, 1, later)

    assert seen[-1:] == [RunStatus.SUCCEEDED]
