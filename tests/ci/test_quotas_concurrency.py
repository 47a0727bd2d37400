"""Twenty workers admitting runs at once on PostgreSQL never take more than the quota allows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from ci.config import Settings
from ci.runs import launch, lifecycle
from ci.runtime import Runtime
from ci.store.db import Database
from ci.store.models import Run
from schemas.status import RunStatus
from tests.ci.quota_runs import held, new_run, set_quota
from tests.conftest import drop_database, fresh_database

__all__ = ["held"]
S = RunStatus
WORKERS = 20
DEADLINE = 60.0


@pytest.fixture
def workers(postgres: str, enqueued: list[Any], tmp_path: Any) -> Iterator[list[Runtime]]:
    """WORKERS processes' worth of runtimes, each with its own connection pool, on one database."""
    url = fresh_database("axon_quotas")
    settings = Settings(database_url=url, runs_dir=str(tmp_path))
    runtimes = [Runtime(settings, Database(url), b"k") for _ in range(WORKERS)]
    yield runtimes
    for rt in runtimes:
        rt.db.dispose()
    drop_database(url)


def start_all_at_once(runtimes: list[Runtime], run_ids: list[int]) -> None:
    """Each worker starts one run, all released by one barrier; fails if one raises or hangs."""
    barrier = threading.Barrier(len(run_ids))
    errors: list[BaseException] = []

    def work(rt: Runtime, run_id: int) -> None:
        try:
            barrier.wait(DEADLINE)
            with rt.db.session() as session:
                launch.start_run(rt, session, run_id)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(rt, run_id))
        for rt, run_id in zip(runtimes, run_ids, strict=False)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    assert errors == []


def counted(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(Run.status, func.count()).group_by(Run.status))
        return {str(status): number for status, number in rows}


def test_twenty_simultaneous_admissions_never_overshoot_the_concurrent_runs_quota(workers, held):
    db = workers[0].db
    set_quota(db, "project", "vision", runs=4)
    run_ids = [new_run(db, "vision") for _ in range(WORKERS)]

    start_all_at_once(workers, run_ids)

    assert counted(db) == {"scheduled": 4, "queued": 16}
    assert len(held) == 4
    with db.session() as session:
        waiting = session.scalars(select(Run).where(Run.status == S.QUEUED).limit(1)).one()
        message = waiting.conditions[-1].message
    assert message.endswith("quota project vision: 4 of 4 concurrent runs in use")

    # Two end; every run's start is sent again at once: exactly two more get in.
    with db.session() as session:
        for run in session.scalars(
            select(Run).where(Run.status == S.SCHEDULED).order_by(Run.id).limit(2)
        ):
            lifecycle.transition(session, run, S.SUCCEEDED, "", "exit code 0")
    start_all_at_once(workers, run_ids)  # the started and ended ones are left as they are

    assert counted(db) == {"scheduled": 4, "succeeded": 2, "queued": 14}
    assert len(held) == 6


def test_twenty_simultaneous_admissions_never_overshoot_a_cpu_quota(workers, held):
    db = workers[0].db
    set_quota(db, "project", "vision", cpu=3)
    run_ids = [new_run(db, "vision", requests={"cpu": "500m"}) for _ in range(WORKERS)]

    start_all_at_once(workers, run_ids)

    assert counted(db) == {"scheduled": 6, "queued": 14}
