"""The Spark, Dask and Ray objects compiled from run specs: each valid for its operator's CRD
(`operator_crds.json`) with pod templates valid for Kubernetes 1.30, carrying the run's labels
and what the spec asked for, and refusing what the operator cannot carry out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner, operators
from runners.kubernetes.cleanup import KEEP, hold_until_recorded
from runners.kubernetes.manifests import ATTEMPT, RUN_UUID, ManifestError, compile_run
from runners.kubernetes.operators_kinds import OPERATORS, log_pod
from runners.kubernetes.pods import PodOptions
from runners.kubernetes.queues import Queue
from runners.registry import KINDS

K8S_VERSION = "1.30.0"
SCHEMA = Path(__file__).parents[1] / "fakes" / "kubernetes" / "operator_crds.json"
CRDS = json.loads(SCHEMA.read_text())
UUID = "5a1e2b3c4d5e6f708192a3b4c5d6e7f8"
DEFAULT = Queue(name="default", namespace="lake")
IMAGE = {"image": "acme/dist:1"}


def templates(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pod template in an operator's object, as {metadata, spec}."""
    spec, kind = body["spec"], body["kind"]
    if kind == "DaskJob":
        cluster = spec["cluster"]["spec"]
        return [spec["job"], cluster["scheduler"], cluster["worker"]]
    if kind == "DaskCluster":
        return [spec["scheduler"], spec["worker"]]
    cluster = spec["rayClusterSpec"] if kind == "RayJob" else spec if kind == "RayCluster" else None
    if cluster is None:
        return []
    groups = cluster.get("workerGroupSpecs") or []
    return [cluster["headGroupSpec"]["template"], *(g["template"] for g in groups)]


def compiled(
    run: dict[str, Any], command: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    spec = RunSpec(
        uuid=UUID,
        name="analyse",
        project="lake",
        command=command or [],
        image="acme/dist:1",
        env={"AXON_RUN_UUID": UUID},
        component={"run": run, **fields},
    )
    [manifest] = compile_run(spec, DEFAULT, PodOptions(server=(1, 30)))
    body = manifest.body
    jsonschema.validate(body, CRDS)
    for template in templates(body):
        pod = {"metadata": template.get("metadata") or {}, "spec": template["spec"]}
        document = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}}
        kubernetes_validate.validate({**document, "template": pod}, K8S_VERSION, strict=True)
        assert pod["metadata"]["labels"][RUN_UUID] == UUID
        assert pod["metadata"]["labels"][ATTEMPT] == "0"
    assert manifest.plural == OPERATORS[run["kind"]].plural
    return body


SPARK = {
    "kind": "spark",
    "type": "scala",
    "mainClass": "org.acme.Etl",
    "mainApplicationFile": "local:///opt/etl.jar",
    "arguments": ["--day", "2026-12-05"],
    "sparkConf": {"spark.sql.shuffle.partitions": "64"},
    "driver": {
        "container": {**IMAGE, "resources": {"requests": {"cpu": "1500m", "memory": "2Gi"}}}
    },
    "executor": {
        "replicas": 3,
        "container": {
            **IMAGE,
            "resources": {"requests": {"memory": "512Mi"}, "limits": {"cpu": 2}},
        },
    },
}


def test_a_spark_run_is_a_spark_application_with_its_driver_and_executors():
    body = compiled(SPARK, termination={"maxRetries": 2})

    assert body["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    spec = body["spec"]
    assert (spec["type"], spec["mode"], spec["mainClass"]) == ("Scala", "cluster", "org.acme.Etl")
    assert spec["arguments"] == ["--day", "2026-12-05"]
    assert (spec["driver"]["cores"], spec["driver"]["memory"]) == (2, "2g")
    executor = spec["executor"]
    assert (executor["instances"], executor["memory"], executor["coreLimit"]) == (3, "512m", "2")
    assert spec["driver"]["labels"][RUN_UUID] == UUID
    assert {"name": "AXON_RUN_UUID", "value": UUID} in spec["driver"]["env"]
    assert spec["restartPolicy"] == {
        "type": "OnFailure",
        "onFailureRetries": 2,
        "onSubmissionFailureRetries": 2,
    }


def test_a_spark_application_without_retries_is_never_restarted():
    assert compiled(SPARK)["spec"]["restartPolicy"] == {"type": "Never"}


def test_a_spark_memory_spark_cannot_read_is_refused_with_its_field():
    run = {
        **SPARK,
        "driver": {"container": {**IMAGE, "resources": {"requests": {"memory": "1.5Gi"}}}},
    }
    with pytest.raises(ManifestError, match=r"run.driver.container.resources: memory '1.5Gi'"):
        compiled(run)


def test_a_daskjob_has_its_job_runner_scheduler_with_its_service_and_workers():
    run = {
        "kind": "daskjob",
        "job": {"container": {**IMAGE, "command": ["python", "etl.py"]}},
        "worker": {"replicas": 4, "container": IMAGE},
    }
    body = compiled(run, ["python", "etl.py"], termination={"timeout": 600})

    assert (body["apiVersion"], body["kind"]) == ("kubernetes.dask.org/v1", "DaskJob")
    job = body["spec"]["job"]["spec"]
    assert job["containers"][0]["name"] == "job"
    assert job["containers"][0]["command"] == ["python", "etl.py"]
    assert job["activeDeadlineSeconds"] == 600
    cluster = body["spec"]["cluster"]["spec"]
    scheduler = cluster["scheduler"]["spec"]["containers"][0]
    assert scheduler["command"] == ["dask", "scheduler"]
    assert [p["port"] for p in cluster["scheduler"]["service"]["ports"]] == [8786, 8787]
    assert cluster["worker"]["replicas"] == 4
    assert cluster["worker"]["spec"]["containers"][0]["image"] == "acme/dist:1"


def test_a_daskcluster_is_a_scheduler_and_workers_and_refuses_a_job():
    body = compiled({"kind": "daskcluster", "worker": {"replicas": 2, "container": IMAGE}})
    assert body["kind"] == "DaskCluster" and body["spec"]["worker"]["replicas"] == 2

    with pytest.raises(ManifestError, match="run.job: a daskcluster runs no job"):
        compiled({"kind": "daskcluster", "job": {"container": IMAGE}})


def test_a_rayjob_submits_its_entrypoint_to_a_cluster_kept_until_recorded():
    run = {
        "kind": "rayjob",
        "rayVersion": "2.9.0",
        "runtimeEnv": {"pip": ["requests"]},
        "head": {"container": {**IMAGE, "command": ["python", "tune.py", "--trials", "8"]}},
        "workers": {"gpu": {"replicas": 2, "maxReplicas": 4, "container": {}}},
    }
    body = compiled(run, ["python", "tune.py", "--trials", "8"], termination={"ttl": 120})

    spec = body["spec"]
    assert spec["entrypoint"] == "python tune.py --trials 8"
    assert yaml.safe_load(spec["runtimeEnvYAML"]) == {"pip": ["requests"]}
    assert spec["shutdownAfterJobFinishes"] is False
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["name"] == "ray-head" and "command" not in head
    [group] = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert (group["groupName"], group["replicas"], group["minReplicas"], group["maxReplicas"]) == (
        "gpu", 2, 2, 4,
    )  # fmt: skip
    assert group["template"]["spec"]["containers"][0]["image"] == "acme/dist:1"
    assert body["metadata"]["annotations"][KEEP] == "120"
    assert hold_until_recorded(body) == body


def test_a_raycluster_runs_the_heads_command_and_refuses_an_entrypoint():
    body = compiled({"kind": "raycluster", "head": {"container": IMAGE}}, ["ray", "start"])
    head = body["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["command"] == ["ray", "start"]

    with pytest.raises(ManifestError, match="run.entrypoint: a raycluster runs no entrypoint"):
        compiled({"kind": "raycluster", "entrypoint": "python x.py", "head": {"container": IMAGE}})


def test_what_an_operator_cannot_carry_out_is_refused_at_compile_time_with_its_path():
    found = KubernetesRunner.unsupported({"run": SPARK, "termination": {"timeout": 60}})

    assert found == [("termination.timeout", "the Spark operator gives an application no deadline")]
    assert (
        KubernetesRunner.unsupported({"run": {"kind": "daskjob"}, "termination": {"timeout": 60}})
        == []
    )


def test_the_log_is_the_driver_job_runner_scheduler_or_heads_pod():
    assert log_pod("sparkapplications", {"spark-role": "driver"})
    assert not log_pod("sparkapplications", {"spark-role": "executor"})
    assert log_pod("daskjobs", {"dask.org/component": "job-runner"})
    assert not log_pod("daskjobs", {"dask.org/component": "scheduler"})
    assert log_pod("daskclusters", {"dask.org/component": "scheduler"})
    assert log_pod("rayjobs", {"ray.io/node-type": "head"})
    assert not log_pod("rayclusters", {"ray.io/node-type": "worker"})
    assert log_pod("jobs", {})


def test_a_spark_application_kept_after_its_end_says_so_as_every_run_does():
    body = compiled(SPARK, termination={"ttl": 30})

    assert body["metadata"]["annotations"][KEEP] == "30" and operators.KEEP == KEEP


def test_the_registry_names_every_operator_kind_the_runner_runs():
    assert set(OPERATORS) <= KINDS["kubernetes"] == KubernetesRunner.kinds
