"""A Kubernetes job's outputs directory: an emptyDir at AXON_OUTPUTS_PATH in the main container
and, from Kubernetes 1.29, a native sidecar that uploads it when the main container ends.
Submitted through the official client to the API-server double, which stores only what its
strict schema accepts, and run there to the end."""

from __future__ import annotations

import uuid
from typing import Any

import kubernetes_validate
import pytest

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.outputs import OUTPUTS, collector_source
from runners.registry import OUTPUTS_PATHS
from schemas.status import RunStatus
from tests.contracts.runner import observe_until
from tests.fakes.kubernetes import KubernetesDouble, PodScript

JOB = {"kind": "job", "container": {"image": "python:3.11"}}
API = "http://axon.axon.svc:8000"


def run_spec(k8s: KubernetesDouble, env: dict[str, str] | None = None, **run: Any) -> RunSpec:
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", PodScript(duration=0.5))
    given = {"AXON_RUN_UUID": run_uuid, "AXON_API_URL": API, "AXON_RUN_TOKEN": "t0ken"}
    return RunSpec(
        uuid=run_uuid,
        name="train",
        project="mnist",
        command=["python", "train.py"],
        image="python:3.11",
        env=given if env is None else env,
        component={"run": {**JOB, **run}},
    )


def submitted_pod(k8s: KubernetesDouble, runner: KubernetesRunner, spec: RunSpec) -> Any:
    external_id = runner.submit(spec)
    job = k8s.get("jobs", external_id.rsplit("/", 1)[-1])
    assert job is not None
    return external_id, job["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or () if "value" in e}


def test_a_job_writes_to_an_empty_dir_that_a_native_sidecar_uploads_with_the_runs_token():
    with (
        KubernetesDouble(speed=10, version="1.30.0") as k8s,
        KubernetesRunner(configuration=k8s.configuration()) as runner,
    ):
        spec = run_spec(k8s)
        external_id, pod = submitted_pod(k8s, runner, spec)

        [main] = pod["containers"]
        assert env_of(main)["AXON_OUTPUTS_PATH"] == OUTPUTS
        assert env_of(main)["POLYAXON_RUN_OUTPUTS_PATH"] == OUTPUTS
        assert {"name": "axon-outputs", "mountPath": OUTPUTS} in main["volumeMounts"]
        assert {"name": "axon-outputs", "emptyDir": {}} in pod["volumes"]
        [collector] = pod["initContainers"]
        assert collector["restartPolicy"] == "Always"  # stopped once the main container ends
        assert collector["image"] == "python:3.12-alpine"
        assert collector["command"] == ["python", "-c", collector_source(), OUTPUTS]
        assert env_of(collector) == {"AXON_RUN_UUID": spec.uuid, "AXON_API_URL": API}
        # The token, as the main container's, is read from the run's Secret, never the spec.
        [token] = [e for e in collector["env"] if e["name"] == "AXON_RUN_TOKEN"]
        secret = k8s.get("secrets", token["valueFrom"]["secretKeyRef"]["name"])
        assert secret is not None and "AXON_RUN_TOKEN" in (secret.get("data") or {})
        mount = {"name": "axon-outputs", "mountPath": OUTPUTS, "readOnly": True}
        assert collector["volumeMounts"] == [mount]
        assert "import json" in collector_source()

        observed = observe_until(runner, external_id, {RunStatus.SUCCEEDED})
        assert observed[-1].status == RunStatus.SUCCEEDED
        assert k8s.schema_problems() == []


def test_before_1_29_the_job_keeps_its_outputs_directory_but_gets_no_collector():
    with (
        KubernetesDouble(speed=10, version="1.28.0") as k8s,
        KubernetesRunner(configuration=k8s.configuration()) as runner,
    ):
        _, pod = submitted_pod(k8s, runner, run_spec(k8s))

        assert env_of(pod["containers"][0])["AXON_OUTPUTS_PATH"] == OUTPUTS
        assert "initContainers" not in pod
        assert k8s.schema_problems() == []


def test_the_runs_own_outputs_path_gives_way_and_the_spec_sidecars_come_first():
    with (
        KubernetesDouble(speed=10, version="1.30.0") as k8s,
        KubernetesRunner(configuration=k8s.configuration()) as runner,
    ):
        spec = run_spec(
            k8s,
            container={
                "image": "python:3.11",
                "env": [{"name": "AXON_OUTPUTS_PATH", "value": "/tmp/mine"}],
            },
            sidecars=[{"name": "metrics", "image": "acme/metrics:1"}],
        )
        _, pod = submitted_pod(k8s, runner, spec)

        assert env_of(pod["containers"][0])["AXON_OUTPUTS_PATH"] == OUTPUTS
        assert [c["name"] for c in pod["initContainers"]] == ["metrics", "axon-outputs"]


@pytest.mark.parametrize(
    ("switched_on", "env"),
    [(False, None), (True, {})],
    ids=["turned off by setting", "a spec naming no run"],
)
def test_without_the_setting_or_a_run_to_upload_to_the_pod_is_left_as_it_was(switched_on, env):
    with (
        KubernetesDouble(speed=10, version="1.30.0") as k8s,
        KubernetesRunner(configuration=k8s.configuration(), collect_outputs=switched_on) as runner,
    ):
        _, pod = submitted_pod(k8s, runner, run_spec(k8s, env=env))

        assert "AXON_OUTPUTS_PATH" not in env_of(pod["containers"][0])
        assert "volumes" not in pod and "initContainers" not in pod


def test_the_collector_container_is_valid_for_kubernetes_1_30():
    with (
        KubernetesDouble(speed=10, version="1.30.0") as k8s,
        KubernetesRunner(configuration=k8s.configuration()) as runner,
    ):
        external_id = runner.submit(run_spec(k8s))
        job = k8s.get("jobs", external_id.rsplit("/", 1)[-1])

    kubernetes_validate.validate(job, "1.30.0", strict=True)


def test_the_registry_names_the_outputs_path_of_the_pods_without_loading_the_runner():
    assert OUTPUTS_PATHS == {"kubernetes": OUTPUTS}
