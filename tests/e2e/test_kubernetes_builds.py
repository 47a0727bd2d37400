"""Build jobs on Kubernetes, end to end: a push builds the pushed commit's Dockerfile with kaniko,
and the operation runs on the image it pushed, named by its digest; a failed build leaves the
operation upstream_failed, never started.

Axon runs as in production against the API-server double (see tests/e2e/test_kubernetes.py);
the double's builder pods end with the digest as their termination message, as kaniko's
`--digest-file=/dev/termination-log` does. Every manifest it receives must pass
kubernetes-validate's strict schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from tests import waiting
from tests.e2e import test_kubernetes
from tests.e2e.harness import Axon
from tests.e2e.scenario import NAME, OWNER, push_delivery, send
from tests.e2e.test_kubernetes import S_DONE, history, wait_for
from tests.fakes.kubernetes import KubernetesDouble, PodScript

SHA = "b" * 40
PUSHED = {"url": f"https://github.com/{OWNER}/{NAME}.git", "sha": SHA}
DIGEST = "sha256:" + "7c" * 32
REGISTRY = "registry.example.com/acme"

# The production stack on the double's cluster, as the Kubernetes end-to-end tests run it.
k8s = test_kubernetes.k8s
axon = test_kubernetes.axon


@pytest.fixture(autouse=True)
def _manifests_are_valid(k8s: KubernetesDouble) -> Iterator[None]:
    before = len(k8s.requests)
    yield
    created = [c for c in k8s.requests[before:] if c.verb == "create" and c.body]
    for call in created:
        kubernetes_validate.validate(call.body, k8s.version, strict=True)


def subscribe_building(
    axon: Axon, k8s: KubernetesDouble, build: PodScript, **extra: dict[str, Any]
) -> tuple[str, str]:
    """A project whose pushes build their image, then train on it; its builds behave as
    `build` says, its training jobs succeed. `extra` adds params to the build (`context` from
    a connection) and creates connections first (`connections`: name -> fields)."""
    project = f"b{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    for name, fields in (extra.get("connections") or {}).items():
        made = axon.api("POST", f"/api/v1/projects/{project}/connections", json=fields)
        assert made.status_code == 201, made.text
        assert name == fields["name"]
    k8s.script(f"axon.dev/project={project}", PodScript(duration=0.5, logs=["trained"]))
    k8s.script(f"axon.dev/project={project},axon.dev/operation=build", build)
    destination = f"{REGISTRY}/{project}:{{{{ event.sha }}}}"
    doc = {
        "name": "train",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}},
        "report": {},
        "operation": {
            "version": 1.1,
            "kind": "operation",
            "name": "train",
            "build": {
                "hubRef": "kaniko",
                "params": {"destination": {"value": destination}, **(extra.get("params") or {})},
            },
            "component": {
                "version": 1.1,
                "kind": "component",
                "name": "trainer",
                "run": {
                    "kind": "job",
                    # Replaced by the image the build pushed.
                    "container": {"image": "python:3.11", "command": ["python", "train.py"]},
                },
            },
        },
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def push(axon: Axon, source: str) -> None:
    assert send(axon, source, *push_delivery(PUSHED)).status_code == 202


def pipeline_of(axon: Axon, project: str) -> dict[str, Any]:
    """The push's run: the project's one run without a parent (its ops are runs of the project
    too, and may be newer)."""

    def top() -> dict[str, Any] | None:
        runs = axon.api("GET", "/api/v1/runs", params={"project": project}).json()
        return next((run for run in runs if run["parent"] is None), None)

    return waiting.wait_for(top, 60, 0.05, lambda: f"a run of {project}\n{axon.logs()}")


def children(axon: Axon, pipeline: str) -> dict[str, dict[str, Any]]:
    runs = axon.api("GET", "/api/v1/runs", params={"parent": pipeline}).json()
    return {run["op_name"]: axon.api("GET", f"/api/v1/runs/{run['uuid']}").json() for run in runs}


def created_job(k8s: KubernetesDouble, run_uuid: str) -> dict[str, Any]:
    [job] = [
        c.body
        for c in k8s.requests
        if c.verb == "create"
        and c.resource == "jobs"
        and c.body["metadata"]["labels"].get("axon.dev/run-uuid") == run_uuid
    ]
    return job


def test_a_push_builds_its_commit_and_the_operation_runs_on_the_image_it_pushed(axon, k8s):
    project, source = subscribe_building(axon, k8s, PodScript(termination_message=DIGEST))

    push(axon, source)

    pipeline = wait_for(axon, pipeline_of(axon, project)["uuid"], S_DONE)
    assert pipeline["status"] == "succeeded", axon.logs()
    ops = children(axon, pipeline["uuid"])
    image = f"{REGISTRY}/{project}:{SHA}@{DIGEST}"
    assert ops["build"]["outputs"] == {"image": image}
    kaniko = created_job(k8s, ops["build"]["uuid"])["spec"]["template"]["spec"]["containers"][0]
    assert kaniko["image"].startswith("gcr.io/kaniko-project/executor:")
    assert kaniko["args"] == [
        f"--context=git://github.com/{OWNER}/{NAME}.git#refs/heads/main#{SHA}",
        "--dockerfile=Dockerfile",
        f"--destination={REGISTRY}/{project}:{SHA}",
        "--digest-file=/dev/termination-log",
    ]
    train = created_job(k8s, ops["train"]["uuid"])["spec"]["template"]["spec"]["containers"][0]
    assert train["image"] == image
    assert train["command"] == ["python", "train.py"]
    assert ops["train"]["status"] == "succeeded"


def test_a_failed_build_leaves_the_operation_upstream_failed_and_never_started(axon, k8s):
    project, source = subscribe_building(axon, k8s, PodScript(exit_code=1, logs=["no Dockerfile"]))

    push(axon, source)

    pipeline = wait_for(axon, pipeline_of(axon, project)["uuid"], S_DONE)
    assert pipeline["status"] == "failed", axon.logs()
    ops = children(axon, pipeline["uuid"])
    assert ops["build"]["status"] == "failed"
    assert ops["train"]["status"] == "upstream_failed"
    assert history(ops["train"]) == ["created", "upstream_failed"]
    assert ops["train"]["external_id"] is None
    runs_on_cluster = {
        c.body["metadata"]["labels"].get("axon.dev/run-uuid")
        for c in k8s.requests
        if c.verb == "create" and c.resource == "jobs"
    }
    assert ops["train"]["uuid"] not in runs_on_cluster
    ended = ops["train"]["conditions"][-1]
    assert ended["reason"] == "UpstreamFailed" and "build" in ended["message"]


def test_a_private_repositorys_build_clones_with_the_git_connections_credentials(axon, k8s):
    password = f"ghp_{uuid.uuid4().hex}"
    repo = {
        "name": "repo",
        "kind": "git",
        "schema": {"url": f"https://github.com/{OWNER}/{NAME}.git"},
        "secret": {"GIT_USERNAME": "ci-bot", "GIT_PASSWORD": password},
    }
    project, source = subscribe_building(
        axon,
        k8s,
        PodScript(termination_message=DIGEST),
        connections={"repo": repo},
        params={"context": {"connection": "repo"}},
    )

    push(axon, source)

    pipeline = wait_for(axon, pipeline_of(axon, project)["uuid"], S_DONE)
    assert pipeline["status"] == "succeeded", axon.logs()
    ops = children(axon, pipeline["uuid"])
    job = created_job(k8s, ops["build"]["uuid"])
    kaniko = job["spec"]["template"]["spec"]["containers"][0]
    assert (
        kaniko["args"][0] == f"--context=git://github.com/{OWNER}/{NAME}.git#refs/heads/main#{SHA}"
    )
    env = {e["name"]: e for e in kaniko["env"]}
    # kaniko reads these for a git context; they reach the pod only as references to a Secret.
    for variable in ("GIT_USERNAME", "GIT_PASSWORD"):
        assert "value" not in env[variable]
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        [secret] = [
            c.body
            for c in k8s.requests
            if c.verb == "create"
            and c.resource == "secrets"
            and c.body["metadata"]["name"] == ref["name"]
        ]
        assert secret["stringData"][ref["key"]] == repo["secret"][variable]
    # The training op gets no git credentials; no stored spec, run view or log holds the password.
    train = created_job(k8s, ops["train"]["uuid"])["spec"]["template"]["spec"]["containers"][0]
    assert not {"GIT_USERNAME", "GIT_PASSWORD"} & {e["name"] for e in train.get("env") or ()}
    assert ops["train"]["status"] == "succeeded"
    for run in (pipeline, *ops.values()):
        assert password not in str(axon.api("GET", f"/api/v1/runs/{run['uuid']}").json())
    assert password not in str(job)
    assert password not in axon.logs()


# A dag whose `train` builds its own image: it reads what `prepare` produced and the dag's
# inputs, as any op of the dag does, and so does its build (the tag it pushes).
PREPARED = {"path": "s3://acme/data/v7", "tag": "data-v7"}


def subscribe_dag_building(
    axon: Axon, k8s: KubernetesDouble, build: PodScript, **train_fields: Any
) -> tuple[str, str]:
    """A project whose pushes run `prepare`, then `train` on an image its build pushed. Its
    `prepare` runs until the cluster's clock is moved on 1,200 seconds; `train_fields` are
    more fields of `train` (its trigger, conditions...)."""
    project = f"d{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    k8s.script(f"axon.dev/project={project}", PodScript(duration=0.5, logs=["trained"]))
    k8s.script(f"axon.dev/project={project},axon.dev/operation=prepare", PodScript(duration=1200))
    k8s.script(f"axon.dev/project={project},axon.dev/operation=build", build)
    job = {
        "kind": "job",
        "container": {"image": "python:3.11", "command": ["python", "prepare.py"]},
    }
    train = {
        "name": "train",
        "build": {
            "hubRef": "kaniko",
            "params": {
                "destination": {"value": f"{REGISTRY}/{project}:{{{{ ops.prepare.outputs.tag }}}}"}
            },
        },
        "params": {
            "data": {"ref": "ops.prepare", "value": "outputs.path"},
            "epochs": {"value": "{{ dag.inputs.epochs }}"},
            "note": {"value": "{{ ops.prepare.outputs.tag }} at {{ event.sha[:7] }}"},
        },
        "component": {
            "name": "trainer",
            "inputs": [
                {"name": "data", "type": "str"},
                {"name": "epochs", "type": "int"},
                {"name": "note", "type": "str"},
            ],
            "run": {
                "kind": "job",
                "container": {
                    "image": "python:3.11",  # replaced by the image the build pushed
                    "command": ["python", "train.py", "{{ data }}", "{{ epochs }}", "{{ note }}"],
                },
            },
        },
        **train_fields,
    }
    doc = {
        "name": "pipeline",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}},
        "report": {},
        "operation": {
            "version": 1.1,
            "kind": "operation",
            "name": "pipeline",
            "params": {"epochs": {"value": 3}},
            "component": {
                "version": 1.1,
                "kind": "component",
                "name": "pipeline",
                "inputs": [{"name": "epochs", "type": "int"}],
                "run": {
                    "kind": "dag",
                    "operations": [{"name": "prepare", "component": {"run": job}}, train],
                },
            },
        },
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def prepare_reports_its_outputs(
    axon: Axon, k8s: KubernetesDouble, pipeline: dict[str, Any]
) -> None:
    """What `prepare`'s code does: report its outputs with its run's own token, then end."""

    def running() -> dict[str, Any] | None:
        found = children(axon, pipeline["uuid"]).get("prepare")
        return found if found and found["status"] == "running" else None

    prepare = waiting.wait_for(running, 60, 0.05, lambda: f"prepare running\n{axon.logs()}")
    [secret] = [
        c.body
        for c in k8s.requests
        if c.verb == "create"
        and c.resource == "secrets"
        and c.body["metadata"]["labels"].get("axon.dev/run-uuid") == prepare["uuid"]
    ]
    token = secret["stringData"]["AXON_RUN_TOKEN"]
    reported = axon.api(
        "POST",
        f"/api/v1/runs/{prepare['uuid']}/outputs",
        json={"outputs": PREPARED},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reported.status_code == 200, reported.text
    k8s.advance(1200)


def test_a_build_op_inside_a_dag_reads_its_siblings_outputs_and_runs_on_its_own_image(axon, k8s):
    project, source = subscribe_dag_building(
        axon,
        k8s,
        PodScript(termination_message=DIGEST),
        dependencies=["prepare"],
        trigger="all_succeeded",
        skipOnUpstreamSkip=True,
        conditions="{{ ops.prepare.outputs.tag.startswith('data-') }}",
    )

    push(axon, source)

    pipeline = pipeline_of(axon, project)
    prepare_reports_its_outputs(axon, k8s, pipeline)
    pipeline = wait_for(axon, pipeline["uuid"], S_DONE)
    assert pipeline["status"] == "succeeded", axon.logs()
    outer = children(axon, pipeline["uuid"])
    assert {name: run["status"] for name, run in outer.items()} == {
        "prepare": "succeeded",
        "train": "succeeded",
    }
    inner = children(axon, outer["train"]["uuid"])
    image = f"{REGISTRY}/{project}:data-v7@{DIGEST}"
    assert inner["build"]["outputs"] == {"image": image}
    kaniko = created_job(k8s, inner["build"]["uuid"])["spec"]["template"]["spec"]["containers"][0]
    assert f"--destination={REGISTRY}/{project}:data-v7" in kaniko["args"]
    train = created_job(k8s, inner["train"]["uuid"])["spec"]["template"]["spec"]["containers"][0]
    assert train["image"] == image
    assert train["command"] == ["python", "train.py", PREPARED["path"], "3", "data-v7 at bbbbbbb"]
    assert inner["train"]["status"] == "succeeded"


def test_a_failed_build_inside_a_dag_leaves_its_operation_upstream_failed_and_the_dag_failed(
    axon, k8s
):
    build = PodScript(exit_code=1, logs=["no Dockerfile"])
    project, source = subscribe_dag_building(axon, k8s, build)

    push(axon, source)

    pipeline = pipeline_of(axon, project)
    prepare_reports_its_outputs(axon, k8s, pipeline)
    pipeline = wait_for(axon, pipeline["uuid"], S_DONE)
    assert pipeline["status"] == "failed", axon.logs()
    outer = children(axon, pipeline["uuid"])
    assert (outer["prepare"]["status"], outer["train"]["status"]) == ("succeeded", "failed")
    inner = children(axon, outer["train"]["uuid"])
    assert inner["build"]["status"] == "failed"
    assert history(inner["train"]) == ["created", "upstream_failed"]
    assert inner["train"]["external_id"] is None


def test_a_build_op_inside_a_dag_whose_conditions_render_false_is_skipped_without_building(
    axon, k8s
):
    project, source = subscribe_dag_building(
        axon,
        k8s,
        PodScript(termination_message=DIGEST),
        conditions="{{ ops.prepare.outputs.tag == 'release' }}",
    )

    push(axon, source)

    pipeline = pipeline_of(axon, project)
    prepare_reports_its_outputs(axon, k8s, pipeline)
    pipeline = wait_for(axon, pipeline["uuid"], S_DONE)
    outer = children(axon, pipeline["uuid"])
    assert outer["train"]["status"] == "skipped", axon.logs()
    assert outer["train"]["conditions"][-1]["reason"] == "ConditionFalse"
    assert children(axon, outer["train"]["uuid"]) == {}
    assert pipeline["status"] == "succeeded"
