"""The local runner's supervisor samples its job's CPU, memory and processes from outside the job
and posts them to the run's system series: the real app on loopback, over its own database."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import select

from ci import runtime
from ci.runs import series
from ci.store.db import Database
from ci.store.models import Run
from runners.base import RunSpec
from runners.local import LocalRunner, LocalSettings, read_state
from runners.local_supervisor import supervising
from schemas.settings import SettingsError
from schemas.status import RunStatus
from tests.contracts.runner import run_to_end
from tests.dashboard import seed
from tests.live import serve
from tests.waiting import wait_for

MEGABYTE = 1 << 20
# Holds 64 MB, starts a child that waits beside it, and burns CPU until the file named by its
# argument appears (or a minute passes, so a failed test leaves nothing behind for long). The
# machine is shared: a busy loop is only sure of a share of a core.
BUSY = """
import os, subprocess, sys, time
held = b"x" * (64 << 20)
stop = sys.argv[1]
child = subprocess.Popen([sys.executable, "-c",
    "import os, sys, time\\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)", stop])
deadline = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < deadline:
    sum(range(10000))
child.wait()
"""


@dataclass
class Axon:
    url: str
    db: Database


@pytest.fixture(scope="module")
def axon(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Axon]:
    with serve("axon_system_metrics", tmp_path_factory.mktemp("axon")) as served:
        yield Axon(served.url, served.db)


def start(axon: Axon, runner: LocalRunner, name: str, command: list[str]) -> tuple[str, str]:
    """A running run of project `name` whose job is `command`; its uuid and external id."""
    uuid = seed.run(axon.db, name, "job", status="running")
    env = {"AXON_API_URL": axon.url, "AXON_RUN_TOKEN": runtime.get().run_token(uuid)}
    spec = RunSpec(uuid=uuid, name="job", project=name, command=command, env=env)
    return uuid, runner.submit(spec)


def samples(axon: Axon, uuid: str) -> dict[str, list[tuple[float, float]]]:
    """The run's system series: (time, value) of each point, by name."""
    with axon.db.session() as session:
        run_id = session.scalar(select(Run.id).where(Run.uuid == uuid))
        names = series.last_points(session, [run_id], "system")
        return {
            name: [(float(p["time"]), float(p["value"])) for p in read[run_id]]
            for (_, name) in names
            if (read := series.read(session, [run_id], "system", name))
        }


def values(found: dict[str, list[tuple[float, float]]], name: str) -> list[float]:
    return [value for _, value in found.get(name, [])]


def summary(found: dict[str, list[tuple[float, float]]]) -> dict[str, tuple[int, float]]:
    """Each series' number of points and highest value, for a failure's message."""
    return {name: (len(points), max(v for _, v in points)) for name, points in found.items()}


def ended_at(run_dir: Path) -> float:
    """When the supervisor recorded the run's end, once it has also left."""
    wait_for(lambda: not supervising(run_dir), timeout=10, message="the supervisor to leave")
    return datetime.fromisoformat(read_state(run_dir)[-1]["time"]).timestamp()


@pytest.fixture
def runner(local_runner: LocalRunner) -> LocalRunner:
    local_runner.system_metrics_interval = 0.2
    return local_runner


def test_a_busy_job_s_cpu_memory_and_processes_reach_the_run_s_system_series(
    axon: Axon, runner: LocalRunner, tmp_path: Path
):
    stop = tmp_path / "stop"
    uuid, external_id = start(axon, runner, "busy", [sys.executable, "-c", BUSY, str(stop)])

    def busy_seen() -> dict[str, Any] | None:
        found = samples(axon, uuid)
        cpu, rss = values(found, "cpu_percent"), values(found, "memory_rss_bytes")
        if cpu and max(cpu) > 10 and rss and max(rss) >= 64 * MEGABYTE:
            return found
        return None

    found = wait_for(
        busy_seen,
        timeout=20,
        interval=0.1,
        message=lambda: f"a busy job's samples; the series: {summary(samples(axon, uuid))}",
    )
    stop.touch()

    assert max(values(found, "processes")) == 2  # the job and the child it started
    assert 0 < max(values(found, "memory_percent")) < 100
    assert run_to_end(runner, external_id, timeout=10)[-1].status == RunStatus.SUCCEEDED


def test_the_samples_stop_when_the_job_ends(axon: Axon, runner: LocalRunner, tmp_path: Path):
    stop = tmp_path / "stop"
    uuid, external_id = start(axon, runner, "ending", [sys.executable, "-c", BUSY, str(stop)])
    wait_for(lambda: values(samples(axon, uuid), "cpu_percent"), timeout=20, interval=0.1)

    stop.touch()
    assert run_to_end(runner, external_id, timeout=10)[-1].status == RunStatus.SUCCEEDED
    end = ended_at(runner.root / external_id)

    # The supervisor has left too, so no sample can come after these.
    kept = samples(axon, uuid)
    assert max(at for points in kept.values() for at, _ in points) <= end


def test_an_interval_of_0_sends_no_samples(axon: Axon, runner: LocalRunner):
    runner.system_metrics_interval = 0
    job = "import time\ndeadline = time.monotonic() + 1\nwhile time.monotonic() < deadline: pass"
    uuid, external_id = start(axon, runner, "quiet", [sys.executable, "-c", job])

    assert run_to_end(runner, external_id, timeout=10)[-1].status == RunStatus.SUCCEEDED
    ended_at(runner.root / external_id)

    spec = json.loads((runner.root / external_id / "spec.json").read_text())
    assert spec["system_metrics_interval"] == 0
    assert samples(axon, uuid) == {}


def test_a_negative_or_unreadable_interval_names_its_variable():
    for given in ("-1", "soon", "nan"):
        with pytest.raises(SettingsError, match="AXON_SYSTEM_METRICS_INTERVAL: expected a number"):
            LocalSettings.load({"AXON_SYSTEM_METRICS_INTERVAL": given})
    assert LocalSettings.load({}).system_metrics_interval == 10


def test_an_unreachable_axon_costs_the_job_nothing_and_is_said_in_the_supervisor_log(
    runner: LocalRunner,
):
    # The job works on until its supervisor has given up on a sample (it starts in `work/`).
    job = (
        "import time\ndeadline = time.monotonic() + 30\n"
        "while time.monotonic() < deadline and 'dropping' not in open('../supervisor.log').read():"
        " time.sleep(0.05)"
    )
    env = {"AXON_API_URL": "http://127.0.0.1:9", "AXON_RUN_TOKEN": "unused"}
    spec = RunSpec(
        uuid=uuid4().hex, name="job", project="alone", command=[sys.executable, "-c", job], env=env
    )
    external_id = runner.submit(spec)

    assert run_to_end(runner, external_id, timeout=30)[-1].status == RunStatus.SUCCEEDED
    ended_at(runner.root / external_id)
    log = (runner.root / external_id / "supervisor.log").read_text()
    assert "dropping reports: Axon at http://127.0.0.1:9 cannot be reached" in log


def test_a_job_sampled_by_its_supervisor_is_told_so_and_its_client_leaves_the_sampling_to_it(
    monkeypatch,
):
    from axon_tracking import run as tracking_run
    from runners import local_metrics

    spec = {"uuid": "u1", "env": {"AXON_API_URL": "http://127.0.0.1:9"}}
    assert local_metrics.samples(spec)
    assert not local_metrics.samples({**spec, "system_metrics_interval": 0})

    monkeypatch.setenv("AXON_SYSTEM_SAMPLED_BY", "runner")
    client = tracking_run.Run("u1", "http://127.0.0.1:9", "t", system_interval=0.01)
    try:
        assert client._sender.sample is None
    finally:
        client._ended = True


def test_a_job_that_ends_within_the_settling_second_costs_its_supervisor_no_imports(monkeypatch):
    from runners import local_metrics

    set_up: list[bool] = []
    monkeypatch.setattr(local_metrics, "with_site_packages", lambda: set_up.append(True))
    sampling = local_metrics.SystemMetrics(os.getpid(), 10.0, "http://127.0.0.1:9", "u1", "t")
    sampling.start().stop()

    assert not sampling.thread.is_alive() and set_up == []
