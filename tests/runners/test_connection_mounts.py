"""A run's connections on Kubernetes: their values go into the run's own Secret, which the main
containers read as variables and mount as files; a name Axon has no connection of stays an
existing Secret (envFrom). Against the API-server double through the official client."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from runners.base import RunSpec, SecretMount
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.manifests import Workload
from tests.fakes.kubernetes import KubernetesDouble, PodScript

K8S_VERSION = "1.30.0"
SECRET = "s3cr3t-" + uuid.uuid4().hex
FILE = "-----BEGIN KEY-----\n" + uuid.uuid4().hex + "\n-----END KEY-----\n"
STORE = SecretMount("store", env={"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ACCESS_KEY_ID": "AKIA"})
CREDS = SecretMount("creds", files={"key.pem": FILE}, path="/etc/creds")


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(speed=10, watch_timeout=20, bookmark_interval=2) as double:
        yield double


def submitted(k8s: KubernetesDouble, run: dict[str, Any], *mounts: SecretMount) -> dict[str, Any]:
    """The Job the runner created for a run with `mounts`."""
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", PodScript(duration=None))
    spec = RunSpec(
        uuid=run_uuid, name="train", project="mnist", command=["python", "train.py"],
        image="python:3.11", component={"run": run}, env={"LR": "0.1"}, mounts=mounts,
    )  # fmt: skip
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as runner:
        external_id = runner.submit(spec)
    job = k8s.get("jobs", Workload.parse(external_id).name)
    assert job is not None
    return job


def main_of(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]["containers"][0]


def secret_data(k8s: KubernetesDouble, name: str) -> dict[str, str]:
    secret = k8s.get("secrets", name)
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_a_connection_s_variables_are_read_from_the_run_s_secret_never_written_in_the_job(k8s):
    job = submitted(k8s, {"kind": "job", "container": {"image": "python:3.11"}}, STORE)

    env = {e["name"]: e for e in main_of(job)["env"]}
    ref = env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]
    assert "value" not in env["AWS_SECRET_ACCESS_KEY"]
    assert ref == {"name": f"{job['metadata']['name']}-env", "key": "AWS_SECRET_ACCESS_KEY"}
    assert env["LR"] == {"name": "LR", "value": "0.1"}
    assert secret_data(k8s, ref["name"])["AWS_SECRET_ACCESS_KEY"] == SECRET
    assert SECRET not in json.dumps(job)


def test_a_connection_s_files_are_mounted_read_only_at_its_path_from_the_run_s_secret(k8s):
    run = {
        "kind": "job",
        "container": {"image": "python:3.11"},
        "sidecars": [{"name": "metrics", "image": "acme/metrics:1"}],
    }
    job = submitted(k8s, run, CREDS)

    pod = job["spec"]["template"]["spec"]
    main = main_of(job)
    [volume] = [v for v in pod["volumes"] if v["name"] == "connection-0"]
    secret_name = f"{job['metadata']['name']}-env"
    assert volume["secret"] == {
        "secretName": secret_name,
        "items": [{"key": "file.creds.key.pem", "path": "key.pem"}],
        "defaultMode": 0o400,
    }
    assert {"name": "connection-0", "mountPath": "/etc/creds", "readOnly": True} in main[
        "volumeMounts"
    ]
    assert {"name": "AXON_CONNECTION_CREDS_PATH", "value": "/etc/creds"} in main["env"]
    assert secret_data(k8s, secret_name)["file.creds.key.pem"] == FILE
    sidecar = next(c for c in pod["initContainers"] if c["name"] == "metrics")
    assert "volumeMounts" not in sidecar  # only the containers that carry the run's env
    assert FILE not in json.dumps(job)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_a_name_axon_has_no_connection_of_stays_an_existing_secret_read_with_env_from(k8s):
    run = {"kind": "job", "container": {"image": "python:3.11"}, "connections": ["legacy"]}

    job = submitted(k8s, run, STORE)

    main = main_of(job)
    assert main["envFrom"] == [{"secretRef": {"name": "legacy"}}]
    assert "AWS_SECRET_ACCESS_KEY" in {e["name"] for e in main["env"]}
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_every_connection_value_is_in_the_one_secret_that_goes_with_the_job(k8s):
    job = submitted(k8s, {"kind": "job", "container": {"image": "python:3.11"}}, STORE, CREDS)

    secret = k8s.get("secrets", f"{job['metadata']['name']}-env")

    assert secret is not None
    assert [(o["kind"], o["uid"]) for o in secret["metadata"]["ownerReferences"]] == [
        ("Job", job["metadata"]["uid"])
    ]
    assert set(secret["data"]) == {
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "file.creds.key.pem",
    }


def test_an_init_git_step_naming_a_connection_gets_its_token_and_the_main_container_does_not(k8s):
    repo = SecretMount("repo", env={"GIT_TOKEN": SECRET}, main=False, init_steps=(0,))
    run = {
        "kind": "job",
        "container": {"image": "python:3.11"},
        "init": [{"git": {"url": "https://github.com/acme/models"}}],
    }

    job = submitted(k8s, run, repo)

    pod = job["spec"]["template"]["spec"]
    step = next(c for c in pod["initContainers"] if c["name"] == "init-0-git")
    secret_name = f"{job['metadata']['name']}-env"
    assert step["env"] == [
        {
            "name": "GIT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "init.repo.GIT_TOKEN"}},
        }
    ]
    assert "GIT_TOKEN" not in {e["name"] for e in main_of(job).get("env") or ()}
    assert secret_data(k8s, secret_name)["init.repo.GIT_TOKEN"] == SECRET
    assert SECRET not in json.dumps(job)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
