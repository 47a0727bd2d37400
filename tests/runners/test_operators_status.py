"""The Spark, Dask and Ray operators' states, each mapped to Axon's status and reason: the table
in `runners.kubernetes.operators_status`, read through the one status function every run uses."""

from __future__ import annotations

from typing import Any

import pytest

from runners.kubernetes.pod_status import Failure
from runners.kubernetes.status import RunView, ran, terminal, verdict
from schemas.status import RunStatus

S = RunStatus


def owner(kind: str, **status: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "axon-x", "uid": "u1"}, "status": status}


def spark(state: str | None, **more: Any) -> dict[str, Any]:
    found = {"applicationState": {"state": state, **more}} if state is not None else {}
    return owner("SparkApplication", **found)


CASES = [
    ("sparkapplications", spark(None), S.STARTING, "Submitted"),
    ("sparkapplications", spark("SUBMITTED"), S.STARTING, "Submitted"),
    ("sparkapplications", spark("RUNNING"), S.RUNNING, "Running"),
    ("sparkapplications", spark("SUCCEEDING"), S.RUNNING, "Running"),
    ("sparkapplications", spark("PENDING_RERUN"), S.RETRYING, "PendingRerun"),
    ("sparkapplications", spark("INVALIDATING"), S.RETRYING, "Invalidating"),
    ("sparkapplications", spark("COMPLETED"), S.SUCCEEDED, "Completed"),
    ("sparkapplications", spark("FAILED", errorMessage="boom"), S.FAILED, "Failed"),
    ("sparkapplications", spark("SUBMISSION_FAILED"), S.FAILED, "SubmissionFailed"),
    ("sparkapplications", spark("UNKNOWN"), S.WARNING, "Unknown"),
    ("daskjobs", owner("DaskJob"), S.STARTING, "Created"),
    ("daskjobs", owner("DaskJob", jobStatus="JobCreated"), S.STARTING, "JobCreated"),
    ("daskjobs", owner("DaskJob", jobStatus="ClusterCreated"), S.STARTING, "ClusterCreated"),
    ("daskjobs", owner("DaskJob", jobStatus="Running"), S.RUNNING, "Running"),
    ("daskjobs", owner("DaskJob", jobStatus="Successful"), S.SUCCEEDED, "Completed"),
    ("daskjobs", owner("DaskJob", jobStatus="Failed"), S.FAILED, "Failed"),
    ("daskclusters", owner("DaskCluster", phase="Created"), S.STARTING, "Created"),
    ("daskclusters", owner("DaskCluster", phase="Pending"), S.STARTING, "Pending"),
    ("daskclusters", owner("DaskCluster", phase="Running"), S.RUNNING, "Running"),
    ("rayjobs", owner("RayJob"), S.STARTING, "Created"),
    ("rayjobs", owner("RayJob", jobDeploymentStatus="Initializing"), S.STARTING, "Initializing"),
    ("rayjobs", owner("RayJob", jobDeploymentStatus="Suspended"), S.STARTING, "Suspended"),
    (
        "rayjobs",
        owner("RayJob", jobDeploymentStatus="Running", jobStatus="PENDING"),
        S.STARTING,
        "Pending",
    ),
    (
        "rayjobs",
        owner("RayJob", jobDeploymentStatus="Running", jobStatus="RUNNING"),
        S.RUNNING,
        "Running",
    ),
    ("rayjobs", owner("RayJob", jobDeploymentStatus="Retrying"), S.RETRYING, "Retrying"),
    (
        "rayjobs",
        owner("RayJob", jobDeploymentStatus="Complete", jobStatus="SUCCEEDED"),
        S.SUCCEEDED,
        "Completed",
    ),
    (
        "rayjobs",
        owner("RayJob", jobDeploymentStatus="Complete", jobStatus="FAILED"),
        S.FAILED,
        "Failed",
    ),
    (
        "rayjobs",
        owner("RayJob", jobDeploymentStatus="Complete", jobStatus="STOPPED"),
        S.STOPPED,
        "Stopped",
    ),
    (
        "rayjobs",
        owner("RayJob", jobDeploymentStatus="Failed", reason="DeadlineExceeded"),
        S.FAILED,
        "DeadlineExceeded",
    ),
    ("rayclusters", owner("RayCluster"), S.STARTING, "Created"),
    ("rayclusters", owner("RayCluster", state="ready"), S.RUNNING, "Running"),
    ("rayclusters", owner("RayCluster", state="suspended"), S.STARTING, "Suspended"),
    (
        "rayclusters",
        owner("RayCluster", state="failed", reason="HeadPodNotFound"),
        S.FAILED,
        "HeadPodNotFound",
    ),
]


@pytest.mark.parametrize(("plural", "obj", "status", "reason"), CASES)
def test_table_each_operator_state_maps_to_its_status_and_reason(plural, obj, status, reason):
    found = verdict(RunView(plural, obj))

    assert found is not None and (found.status, found.reason) == (status, reason)


def test_table_a_spark_application_failing_says_nothing_until_it_has_failed():
    assert verdict(RunView("sparkapplications", spark("FAILING"))) is None


def test_table_a_failure_names_the_failed_pod_then_the_operators_words():
    failure = Failure("axon-x-driver", "spark-kubernetes-driver", "Error", 3)
    view = RunView(
        "sparkapplications", spark("FAILED", errorMessage="driver exited"), failure=failure
    )

    found = terminal(view)

    assert found is not None and (found.status, found.reason, found.exit_code) == (
        S.FAILED,
        "Error",
        3,
    )
    assert found.message == (
        "Error (exit code 3) in container spark-kubernetes-driver of pod axon-x-driver; "
        "Failed: driver exited"
    )


def test_table_kuberays_end_time_is_the_runs_end():
    done = owner("RayJob", jobDeploymentStatus="Complete", jobStatus="SUCCEEDED")
    done["status"]["endTime"] = "2026-12-05T07:00:00Z"

    found = terminal(RunView("rayjobs", done))

    assert found is not None and found.at is not None and found.at.hour == 7


def test_table_a_pod_that_cannot_be_placed_tells_more_than_the_operator():
    pod = {
        "metadata": {"name": "axon-x-head"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes",
                }
            ],
        },
    }
    view = RunView("rayclusters", owner("RayCluster"), pods={"axon-x-head": pod})

    found = verdict(view)

    assert found is not None and (found.status, found.message) == (S.UNSCHEDULABLE, "0/3 nodes")


def test_table_a_run_the_operator_calls_running_has_run():
    assert ran(RunView("daskjobs", owner("DaskJob", jobStatus="Running")))
    assert not ran(RunView("daskjobs", owner("DaskJob", jobStatus="JobCreated")))
