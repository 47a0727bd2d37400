"""Notifier test fixtures: a realistic Report, as ci.reporting.reports builds one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifiers.base import Report
from schemas.status import DONE, RunStatus

STARTED = datetime(2024, 5, 6, 9, 30, 0, tzinfo=UTC)

ReportFactory = Callable[..., Report]


@pytest.fixture
def report() -> ReportFactory:
    """`report(status, **changes)`: run "train-resnet50" of project "vision", pushed to main.

    A finished run took 12 s and, when it succeeded, output accuracy 0.93; a failed one
    exited with code 1.
    """

    def make(status: RunStatus = RunStatus.SUCCEEDED, **changes: Any) -> Report:
        finished = status in DONE
        failed = status in {RunStatus.FAILED, RunStatus.UPSTREAM_FAILED}
        base = Report(
            run_uuid="3f1c9a52e8d44b0f9a6f0c1d2e3b4a5c",
            run_name="train-resnet50",
            project="vision",
            status=status,
            reason="ProcessExited" if failed else "",
            message="exit code 1" if failed else "",
            url="https://axon.example.com/projects/vision/runs/3f1c9a52",
            started_at=STARTED,
            finished_at=STARTED + timedelta(seconds=12) if finished else None,
            duration=12.0 if finished else None,
            params={"learning_rate": 0.01, "epochs": 3},
            outputs={"accuracy": 0.93, "loss": 0.214} if status == RunStatus.SUCCEEDED else {},
            repo="octo-org/vision",
            sha="9fceb02d0ae598e95dc970b74767f19372d61af8",
            ref="refs/heads/main",
            branch="main",
            subscription="train-on-push",
        )
        return dataclasses.replace(base, **changes)

    return make
