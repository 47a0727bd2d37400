"""A worker killed mid-burst (SIGKILL: no clean shutdown) loses no accepted delivery and makes
no run twice: its unacknowledged tasks go back to the queue and are safe to run again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.e2e import burst
from tests.waiting import wait_for


def pool_children(pid: int) -> list[int]:
    """The worker's pool processes (Linux: the kernel lists a process's children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_a_worker_pool_process_and_then_the_whole_worker_killed_mid_burst_lose_nothing(
    production_axon,
):
    axon = production_axon(AXON_SWEEP_AFTER_SECONDS="10").start()
    project, source = burst.subscribe(axon)
    # A worker that is up and working: one that dies while starting is Celery's to report.
    first = burst.send_all(axon, source, [burst.push(burst.QUIET_BRANCH)])
    burst.processed_once(axon, project, first)

    def kill_a_pool_process_then_the_worker() -> None:
        [worker] = [process for name, process in axon.processes if name == "worker"]
        pool = pool_children(worker.pid)
        # The worker's main process replaces a pool process that dies; its task is requeued.
        os.kill(pool[0], signal.SIGKILL)
        wait_for(
            lambda: pool[0] not in (now := pool_children(worker.pid)) and len(now) >= len(pool),
            30,
            0.05,
            "the worker replacing its pool process",
        )
        # A whole worker lost at once, as its machine would: its supervisor starts a new one.
        axon.kill_process("worker")
        axon.start_process("worker")

    accepted = burst.send_all(
        axon, source, burst.pushes(150), during=kill_a_pool_process_then_the_worker
    )
    assert len(accepted) == 150

    burst.processed_once(axon, project, first + accepted, timeout=90)
