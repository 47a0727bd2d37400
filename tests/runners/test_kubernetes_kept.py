"""Finished runs' objects stay on the cluster until Axon has recorded their end and kept their
logs, then go; transitions are timestamped in the order they were recorded.

Through the core, as the agent records what the runner observes, on the API-server double (the
same checks run on a real kube-apiserver in tests/kube_real/test_kept_and_followed.py).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from ci.agent import recording
from ci.runs import launch
from ci.store.db import Database
from ci.store.models import Condition, Run
from runners.base import Observation
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.cleanup import KEEP, Reaper, delete_after, hold_until_recorded
from runners.kubernetes.manifests import Workload
from schemas.status import RunStatus
from tests import waiting
from tests.ci.conftest import Axon, operation
from tests.contracts.runner import run_to_end
from tests.fakes.kubernetes import KubernetesDouble, PodScript, fixtures

S = RunStatus
k8s = fixtures.k8s
TRAINS = PodScript(duration=0.5, logs=["epoch 1", "converged"])


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


def pushed_run(client: Any, db: Database, rt: Any, runner: KubernetesRunner, ttl: int) -> int:
    """A pushed run on `runner` whose spec keeps its finished objects `ttl` seconds; started."""
    axon = Axon(client, db)
    project = f"p{uuid.uuid4().hex[:8]}"
    axon.create_project(project)
    doc = operation()
    doc["component"]["termination"]["ttl"] = ttl
    axon.subscribe(project, operation=doc)
    [run_id] = axon.push()
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(runner="kubernetes"))
    rt._runners["kubernetes"] = runner
    with db.session() as session:
        launch.start_run(rt, session, run_id)
    return run_id


def run_row(db: Database, run_id: int) -> tuple[Run, list[Condition]]:
    with db.session() as session:
        run = session.get(Run, run_id)
        history = session.scalars(
            select(Condition).where(Condition.run_id == run_id).order_by(Condition.id)
        ).all()
        session.expunge_all()
        return run, list(history)


def record_to_end(rt: Any, runner: KubernetesRunner, external_id: str, timeout: float) -> None:
    """An agent starting now: each observation of the run, up to its end, recorded."""
    for observation in run_to_end(runner, external_id, timeout=timeout):
        recording.apply(rt, runner, observation)


def test_a_job_that_ended_while_no_agent_watched_is_kept_until_recorded_with_its_logs(
    client, db, rt, runner, k8s
):
    k8s.default_script = TRAINS
    run_id = pushed_run(client, db, rt, runner, ttl=0)
    external_id = run_row(db, run_id)[0].external_id
    name = Workload.parse(external_id).name
    # The server is given no TTL to delete the Job by; the spec's ttl is Axon's to apply.
    created = next(c.body for c in k8s.requests if (c.verb, c.resource) == ("create", "jobs"))
    assert "ttlSecondsAfterFinished" not in created["spec"]
    assert created["metadata"]["annotations"][KEEP] == "0"

    k8s.wait_for(lambda: k8s.job_finished(name))
    ended = k8s.clock.now()
    k8s.wait_for(lambda: k8s.clock.now() > ended + 5)  # a TTL of 0 would have deleted it
    assert k8s.get("jobs", name) is not None and k8s.pods_of(name)

    record_to_end(rt, runner, external_id, timeout=10)

    run, history = run_row(db, run_id)
    assert run.status == S.SUCCEEDED
    assert run.logs == "epoch 1\nconverged\n"
    assert [c.status for c in history][-3:] == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    k8s.wait_for(lambda: k8s.get("jobs", name) is None and not k8s.pods_of(name))


def test_a_recorded_job_left_behind_is_deleted_when_an_agent_sees_it_again(
    client, db, rt, runner, k8s
):
    k8s.default_script = TRAINS
    run_id = pushed_run(client, db, rt, runner, ttl=0)
    external_id = run_row(db, run_id)[0].external_id
    name = Workload.parse(external_id).name
    k8s.fail_next("delete", "jobs", 503)

    record_to_end(rt, runner, external_id, timeout=10)
    assert run_row(db, run_id)[0].status == S.SUCCEEDED
    assert k8s.get("jobs", name) is not None  # the deletion failed: the Job stays for now
    recorded = len(run_row(db, run_id)[1])

    record_to_end(rt, runner, external_id, timeout=10)  # the next agent to start

    k8s.wait_for(lambda: k8s.get("jobs", name) is None)
    run, history = run_row(db, run_id)
    assert run.status == S.SUCCEEDED and len(history) == recorded
    assert run.logs == "epoch 1\nconverged\n"


def test_a_ttl_keeps_a_finished_object_that_long_after_its_end():
    ended = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    job = {
        "metadata": {"annotations": {KEEP: "600"}},
        "status": {
            "conditions": [
                {"type": "Complete", "status": "True", "lastTransitionTime": "2026-12-05T03:00:00Z"}
            ]
        },
    }
    now = ended + timedelta(seconds=30)

    assert delete_after("jobs", job, now) == ended + timedelta(seconds=600)
    assert delete_after("jobs", job, ended + timedelta(hours=1)) == ended + timedelta(hours=1)
    assert delete_after("jobs", {"metadata": {}}, now) == now


def test_a_start_seen_before_its_scheduling_was_recorded_is_timestamped_after_it(
    client, db, rt, runner, k8s
):
    k8s.default_script = PodScript(duration=None)
    run_id = pushed_run(client, db, rt, runner, ttl=0)
    run, history = run_row(db, run_id)
    scheduled = next(c for c in history if c.status == S.SCHEDULED)
    # The observer saw the Job before the worker that created it recorded `scheduled`.
    early = Observation(run.external_id, S.STARTING, "Created", at=scheduled.at - timedelta(1))

    assert recording.apply(rt, runner, early)

    _, history = run_row(db, run_id)
    times = [c.at for c in history]
    assert history[-1].status == S.STARTING
    assert times == sorted(times)
    runner.cancel(run.external_id)


def test_the_run_token_is_in_a_secret_the_run_owns_and_goes_with_it(client, db, rt, runner, k8s):
    k8s.default_script = TRAINS
    run_id = pushed_run(client, db, rt, runner, ttl=0)
    run = run_row(db, run_id)[0]
    name = Workload.parse(run.external_id).name
    job = k8s.get("jobs", name)
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert "value" not in env["AXON_RUN_TOKEN"]
    ref = env["AXON_RUN_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = k8s.get("secrets", ref["name"])
    token = base64.b64decode(secret["data"][ref["key"]]).decode()
    assert token == rt.run_token(run.uuid)
    assert [(o["kind"], o["uid"]) for o in secret["metadata"]["ownerReferences"]] == [
        ("Job", job["metadata"]["uid"])
    ]

    record_to_end(rt, runner, run.external_id, timeout=10)
    k8s.wait_for(lambda: k8s.get("secrets", ref["name"]) is None)


def test_a_deletion_due_later_is_made_when_it_falls_due_and_not_before():
    now = [datetime(2026, 12, 5, 3, 0, tzinfo=UTC)]
    deleted: list[str] = []
    reaper = Reaper(deleted.append, clock=lambda: now[0])
    try:
        reaper.at(now[0], "default/jobs/axon-now")
        reaper.at(now[0] + timedelta(seconds=60), "default/jobs/axon-later")

        assert deleted == ["default/jobs/axon-now"]
        assert reaper.pending() == ["default/jobs/axon-later"]
        now[0] += timedelta(seconds=61)
        waiting.wait_for(lambda: len(deleted) == 2, 5, message="the later deletion")
    finally:
        reaper.close()

    assert deleted == ["default/jobs/axon-now", "default/jobs/axon-later"]
    assert reaper.pending() == []


def test_no_ttl_reaches_the_server_for_a_job_or_a_kubeflow_kind():
    job = {"metadata": {"name": "axon-1"}, "spec": {"ttlSecondsAfterFinished": 600}}
    pytorch = {
        "metadata": {"name": "axon-2"},
        "spec": {"runPolicy": {"ttlSecondsAfterFinished": 60}},
    }
    kept_forever = {"metadata": {"name": "axon-3"}, "spec": {"backoffLimit": 0}}

    for body in (job, pytorch, kept_forever):
        hold_until_recorded(body)

    assert job["spec"] == {} and job["metadata"]["annotations"] == {KEEP: "600"}
    assert pytorch["spec"] == {"runPolicy": {}}
    assert pytorch["metadata"]["annotations"] == {KEEP: "60"}
    assert "annotations" not in kept_forever["metadata"]
