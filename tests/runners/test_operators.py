"""Spark, Dask and Ray runs on the API-server double: each kind submitted as its operator's
object, its statuses told as the operator moves it on, its log read from the driver's, job
runner's, scheduler's or head's pod, and stopped by deleting the object."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.manifests import ManifestError
from schemas.status import RunStatus
from tests.contracts.runner import observe_until, run_to_end, statuses
from tests.fakes.kubernetes import KubernetesDouble, PodScript, fixtures

S = RunStatus
k8s = fixtures.k8s
FOREVER = PodScript(duration=None)
IMAGE = {"image": "acme/dist:1"}


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    configuration = k8s.configuration()
    with KubernetesRunner(configuration=configuration, operators="spark,dask,ray") as made:
        yield made


def spec(run: dict[str, Any], command: list[str] | None = None) -> RunSpec:
    return RunSpec(
        uuid=uuid.uuid4().hex,
        name="analyse",
        project="lake",
        command=command or [],
        image="acme/dist:1",
        component={"run": run},
    )


def script(k8s: KubernetesDouble, run: RunSpec, selector: str, behaviour: PodScript) -> None:
    k8s.script(f"axon.dev/run-uuid={run.uuid},{selector}", behaviour)


def name_of(external_id: str) -> str:
    return external_id.rsplit("/", 1)[-1]


SPARK = {
    "kind": "spark",
    "type": "python",
    "mainApplicationFile": "local:///app/etl.py",
    "driver": {"container": IMAGE},
    "executor": {"replicas": 2, "container": IMAGE},
}


def test_a_spark_application_succeeds_with_its_drivers_log_alone(runner, k8s):
    run = spec(SPARK)
    script(k8s, run, "spark-role=driver", PodScript(duration=0.5, logs=["rows: 42"]))
    script(k8s, run, "spark-role=executor", PodScript(duration=None, logs=["executor noise"]))

    external_id = runner.submit(run)
    observations = run_to_end(runner, external_id)

    assert external_id == f"default/sparkapplications/{name_of(external_id)}"
    assert statuses(observations) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    logs = runner.logs(external_id)
    assert "rows: 42" in logs and "executor noise" not in logs


def test_a_spark_applications_run_token_is_in_the_runs_secret_not_in_the_object(runner, k8s):
    run = spec({**SPARK, "connections": ["warehouse"]})
    run = dataclasses.replace(run, env={"AXON_RUN_TOKEN": "t0k3n"})
    script(k8s, run, "spark-role", FOREVER)

    external_id = runner.submit(run)

    driver = k8s.get("sparkapplications", name_of(external_id))["spec"]["driver"]
    [token] = [e for e in driver["env"] if e["name"] == "AXON_RUN_TOKEN"]
    secret = f"{name_of(external_id)}-env"
    assert token == {
        "name": "AXON_RUN_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "AXON_RUN_TOKEN"}},
    }
    assert k8s.get("secrets", secret) is not None
    assert driver["envFrom"] == [{"secretRef": {"name": "warehouse"}}]
    runner.cancel(external_id)


def test_a_spark_application_whose_driver_fails_fails_with_the_drivers_reason(runner, k8s):
    run = spec(SPARK)
    script(k8s, run, "spark-role=driver", PodScript(exit_code=3, duration=0.3))

    last = run_to_end(runner, runner.submit(run))[-1]

    assert (last.status, last.reason, last.exit_code) == (S.FAILED, "Error", 3)
    assert "spark-kubernetes-driver" in last.message
    assert "driver container failed with ExitCode: 3" in last.message


DASK_JOB = {
    "kind": "daskjob",
    "job": {"container": {**IMAGE, "command": ["python", "etl.py"]}},
    "worker": {"replicas": 2, "container": IMAGE},
}


def test_a_daskjob_runs_its_job_against_its_cluster_which_goes_when_it_ends(runner, k8s):
    run = spec(DASK_JOB, ["python", "etl.py"])
    script(k8s, run, "dask.org/component in (scheduler,worker)", FOREVER)
    script(k8s, run, "dask.org/component=job-runner", PodScript(duration=0.5, logs=["done: 7"]))

    external_id = runner.submit(run)
    observations = run_to_end(runner, external_id)

    assert statuses(observations) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    assert runner.logs(external_id) == "done: 7\n"
    name = name_of(external_id)
    k8s.wait_for(lambda: k8s.get("daskclusters", name) is None)
    runner_pod = k8s.get("pods", f"{name}-runner")
    assert runner_pod["spec"]["containers"][0]["command"] == ["python", "etl.py"]


def test_a_daskjob_whose_job_fails_fails_with_the_pods_reason(runner, k8s):
    run = spec(DASK_JOB, ["python", "etl.py"])
    script(k8s, run, "dask.org/component in (scheduler,worker)", FOREVER)
    script(k8s, run, "dask.org/component=job-runner", PodScript(oom=True, duration=0.3))

    last = run_to_end(runner, runner.submit(run))[-1]

    assert (last.status, last.reason, last.exit_code) == (S.FAILED, "OOMKilled", 137)
    assert "container job of pod" in last.message


def test_a_daskcluster_runs_until_stopped_and_stopping_deletes_it(runner, k8s):
    run = spec(
        {"kind": "daskcluster", "scheduler": {"container": IMAGE}, "worker": {"container": IMAGE}}
    )
    script(
        k8s,
        run,
        "dask.org/component in (scheduler,worker)",
        PodScript(duration=None, logs=["scheduler at tcp://:8786"]),
    )

    external_id = runner.submit(run)
    observe_until(runner, external_id, {S.RUNNING})
    assert "scheduler at tcp://:8786" in runner.logs(external_id)
    runner.cancel(external_id)

    assert run_to_end(runner, external_id)[-1].status == S.STOPPED
    name = name_of(external_id)
    k8s.wait_for(lambda: k8s.get("daskclusters", name) is None and not k8s.pods_of(name))


RAY_JOB = {
    "kind": "rayjob",
    "entrypoint": "python tune.py",
    "head": {"container": IMAGE},
    "workers": {"small": {"replicas": 2, "container": IMAGE}},
}


def test_a_rayjob_succeeds_with_its_heads_log(runner, k8s):
    run = spec(RAY_JOB)
    script(
        k8s, run, "ray.io/node-type in (head,worker)", PodScript(duration=None, logs=["head up"])
    )
    k8s.script(f"ray.io/originated-from-cr-name=axon-{run.uuid}", PodScript(duration=0.5))

    external_id = runner.submit(run)
    observations = run_to_end(runner, external_id)

    assert statuses(observations) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    assert "head up" in runner.logs(external_id)
    body = k8s.get("rayjobs", name_of(external_id))
    assert body["spec"]["entrypoint"] == "python tune.py"


def test_a_rayjob_whose_entrypoint_fails_fails_with_kuberays_reason(runner, k8s):
    run = spec(RAY_JOB)
    script(k8s, run, "ray.io/node-type in (head,worker)", FOREVER)
    k8s.script(f"ray.io/originated-from-cr-name=axon-{run.uuid}", PodScript(exit_code=1))

    last = run_to_end(runner, runner.submit(run))[-1]

    assert (last.status, last.reason) == (S.FAILED, "AppFailed")
    assert "the entrypoint failed with ExitCode: 1" in last.message


def test_a_raycluster_runs_until_stopped_and_its_pods_go_with_it(runner, k8s):
    run = spec({"kind": "raycluster", "head": {"container": IMAGE}}, ["ray", "start"])
    script(k8s, run, "ray.io/node-type=head", FOREVER)

    external_id = runner.submit(run)
    assert statuses(observe_until(runner, external_id, {S.RUNNING})) == [S.STARTING, S.RUNNING]
    runner.cancel(external_id)

    last = run_to_end(runner, external_id)[-1]
    assert (last.status, last.reason) == (S.STOPPED, "Stopped")
    name = name_of(external_id)
    k8s.wait_for(lambda: k8s.get("rayclusters", name) is None and not k8s.pods_of(name))


def test_a_head_that_cannot_pull_its_image_is_a_warning_whatever_the_operator_says(runner, k8s):
    run = spec({"kind": "raycluster", "head": {"container": IMAGE}})
    script(k8s, run, "ray.io/node-type=head", PodScript(image_pull_error="manifest unknown"))

    last = observe_until(runner, runner.submit(run), {S.WARNING})[-1]

    assert last.reason in ("ErrImagePull", "ImagePullBackOff")
    assert "container ray-head" in last.message


def test_without_an_operator_configured_its_kinds_are_neither_submitted_nor_watched(k8s):
    with KubernetesRunner(configuration=k8s.configuration(), operators="dask") as runner:
        with pytest.raises(ManifestError, match="AXON_KUBERNETES_OPERATORS to include spark"):
            runner.submit(spec(SPARK))
        watched = runner._owner_plurals()

    assert "daskjobs" in watched and "daskclusters" in watched
    assert not {"sparkapplications", "rayjobs", "rayclusters"} & set(watched)


def test_an_unknown_operator_name_is_refused_with_the_known_ones(k8s):
    with pytest.raises(ValueError, match="unknown flink; expected some of dask, ray, spark"):
        KubernetesRunner(configuration=k8s.configuration(), operators="spark,flink")


@pytest.mark.parametrize(
    ("run", "plural"),
    [(SPARK, "sparkapplications"), (DASK_JOB, "daskjobs"), (RAY_JOB, "rayjobs")],
    ids=["spark", "daskjob", "rayjob"],
)
def test_stopping_a_running_job_of_each_operator_deletes_it_and_its_pods(runner, k8s, run, plural):
    made = spec(run, ["python", "etl.py"])
    k8s.script(f"axon.dev/run-uuid={made.uuid}", FOREVER)
    k8s.script(f"ray.io/originated-from-cr-name=axon-{made.uuid}", FOREVER)

    external_id = runner.submit(made)
    observe_until(runner, external_id, {S.RUNNING})
    runner.cancel(external_id)

    last = run_to_end(runner, external_id)[-1]
    assert (last.status, last.reason) == (S.STOPPED, "Stopped")
    name = name_of(external_id)
    k8s.wait_for(lambda: k8s.get(plural, name) is None and not k8s.pods_of(name))


def test_following_a_daskjob_yields_its_job_runners_lines_and_ends_with_it(runner, k8s):
    run = spec(DASK_JOB, ["python", "etl.py"])
    script(
        k8s,
        run,
        "dask.org/component in (scheduler,worker)",
        PodScript(duration=None, logs=["worker"]),
    )
    lines = ["partition 1", "partition 2", "done"]
    script(k8s, run, "dask.org/component=job-runner", PodScript(duration=0.5, logs=lines))

    external_id = runner.submit(run)
    followed = list(runner.follow_logs(external_id))

    assert [line.rstrip("\n") for line in followed] == lines
