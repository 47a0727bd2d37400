"""What one report of a run's status says: the run, its event, its outputs beside the base
branch's, and a pipeline's lines."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ci.reporting import comparison, pipelines
from ci.runtime import Runtime
from ci.store.models import Condition, Run
from notifiers.base import Report
from schemas.status import RunStatus


def report(rt: Runtime, run: Run, condition: Condition, session: Session) -> Report:
    event = run.event or {}
    pull = event.get("pull_request") or {}
    against = against_base(rt, session, run, pull.get("base") or "")
    return Report(
        run_uuid=run.uuid,
        run_name=run.name,
        project=run.project.name,
        status=RunStatus(condition.status),
        reason=condition.reason,
        message=condition.message,
        url=rt.run_url(run.uuid),
        started_at=run.started_at,
        finished_at=run.finished_at if condition.status == run.status else None,
        duration=run.duration if condition.status == run.status else None,
        params=dict(run.inputs or {}),
        outputs=dict(run.outputs or {}),
        repo=event.get("repo", ""),
        sha=event.get("sha", ""),
        ref=event.get("ref", ""),
        branch=event.get("branch", ""),
        pull_request=pull.get("number"),
        subscription=run.subscription.name if run.subscription else "",
        ops=pipelines.op_lines(session, run.id, rt.run_url),
        best=pipelines.best_line(session, run),
        **against,
    )


def against_base(rt: Runtime, session: Session, run: Run, base_branch: str) -> dict[str, Any]:
    """For a pull request's run: its outputs beside the base branch's latest successful run."""
    if not base_branch or run.subscription is None:
        return {}
    base = comparison.baseline(session, run, base_branch)
    if base is None:
        return {"base_branch": base_branch}
    wanted = comparison.rules(run.subscription.spec.get("compare"))
    comparisons, regression = comparison.compare(run.outputs or {}, base.outputs or {}, wanted)
    return {
        "comparisons": comparisons,
        "base_branch": base_branch,
        "base_url": rt.run_url(base.uuid),
        "regression": regression,
    }
