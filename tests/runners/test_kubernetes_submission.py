"""Submitting to Kubernetes as a real server answers: refusals in the server's words, a run of
several objects created whole or not at all, and pods shaped by the server's version (native
sidecars from 1.29). Against the API-server double through the official client; the same
behaviours are checked on a real 1.20 server in tests/kube_real/test_submission.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from sqlalchemy import update

from ci.runs import launch
from ci.store.models import Run
from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.api import Refused, refusal
from runners.kubernetes.manifests import ManifestError, object_name
from tests.ci.conftest import Axon
from tests.fakes.kubernetes import KubernetesDouble, PodScript

FOREVER = PodScript(duration=None)


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(speed=10, watch_timeout=20, bookmark_interval=2) as double:
        yield double


def runner_for(k8s: KubernetesDouble) -> KubernetesRunner:
    return KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60)


def spec(k8s: KubernetesDouble, run: dict[str, Any], script: PodScript = FOREVER) -> RunSpec:
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", script)
    return RunSpec(
        uuid=run_uuid, name="board", project="mnist", command=["serve"], image="python:3.11",
        component={"run": run},
    )  # fmt: skip


SIDECAR_JOB = {
    "kind": "job",
    "container": {"image": "python:3.11"},
    "sidecars": [{"name": "metrics", "image": "acme/metrics:1"}],
}


def test_a_refusal_reads_as_the_servers_status_message_not_the_http_exchange(k8s):
    k8s.fail_next("create", "jobs", 422, message='Job.batch "x" is invalid: spec.template: bad')
    made = spec(k8s, {"kind": "job", "container": {"image": "python:3.11"}})

    with runner_for(k8s) as runner, pytest.raises(Refused) as refused:
        runner.submit(made)

    name = object_name(made.uuid)
    assert str(refused.value) == (
        f'kubernetes refused the Job {name}: Job.batch "x" is invalid: spec.template: bad '
        "(422 Invalid)"
    )
    assert not isinstance(refused.value, runner.transient_errors)


def test_a_service_whose_service_object_is_refused_leaves_no_deployment_behind(k8s):
    # Ports the spec check refuses; a component written by hand can still carry them.
    made = spec(k8s, {"kind": "service", "ports": [6006, 6006], "container": {"image": "tb:1"}})
    name = object_name(made.uuid)

    with runner_for(k8s) as runner, pytest.raises(Refused) as refused:
        runner.submit(made)

    assert str(refused.value).startswith(f"kubernetes refused the Service {name}: ")
    assert 'spec.ports[1].name: Duplicate value: "port-6006"' in str(refused.value)
    assert k8s.calls[("create", "deployments")] == 1
    k8s.wait_for(lambda: k8s.get("deployments", name) is None and not k8s.pods_of(name))
    assert k8s.get("services", name) is None


def test_a_job_with_sidecars_is_refused_before_1_29_naming_the_servers_version():
    with KubernetesDouble(speed=10, version="1.28.0") as k8s, runner_for(k8s) as runner:
        with pytest.raises(ManifestError) as refused:
            runner.submit(spec(k8s, SIDECAR_JOB))

        assert "this cluster runs Kubernetes 1.28" in str(refused.value)
        assert k8s.calls[("create", "jobs")] == 0


def test_from_1_29_a_jobs_sidecars_are_native_and_the_version_is_asked_once():
    with KubernetesDouble(speed=10, version="1.29.0") as k8s, runner_for(k8s) as runner:
        first = runner.submit(spec(k8s, SIDECAR_JOB))
        runner.submit(spec(k8s, SIDECAR_JOB))

        job = k8s.get("jobs", first.rsplit("/", 1)[-1])
        assert job is not None
        [sidecar] = job["spec"]["template"]["spec"]["initContainers"]
        assert (sidecar["name"], sidecar["restartPolicy"]) == ("metrics", "Always")
        assert k8s.calls[("get", "/version")] == 1
        assert runner.server_version() == "v1.29.0"


def test_a_refused_run_fails_with_the_servers_words_in_its_history(client, db, rt, k8s):
    axon = Axon(client, db)
    axon.create_project()
    axon.subscribe()
    [run_id] = axon.push()
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(runner="kubernetes"))
        name = object_name(session.get(Run, run_id).uuid)
    k8s.fail_next("create", "jobs", 422, message=f'Job.batch "{name}" is invalid: bad')

    with runner_for(k8s) as runner, db.session() as session:
        rt._runners["kubernetes"] = runner
        launch.start_run(rt, session, run_id)

    run = axon.run(run_id)
    failed = run["conditions"][-1]
    assert (run["status"], failed["reason"]) == ("failed", "SubmitFailed")
    assert failed["message"] == (
        f'Refused: kubernetes refused the Job {name}: Job.batch "{name}" is invalid: bad '
        "(422 Invalid)"
    )


def test_a_refusal_adds_the_field_causes_its_message_does_not_already_name():
    status = {
        "kind": "Status",
        "status": "Failure",
        "message": 'Job.batch "axon-x" is invalid: spec.template.spec.containers[0].image: '
        "Required value",
        "reason": "Invalid",
        "details": {
            "causes": [
                {"field": "spec.template.spec.containers[0].image", "message": "Required value"},
                {"field": "metadata.labels", "message": 'Invalid value: "-x"'},
            ]
        },
        "code": 422,
    }
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps(status)

    refused = refusal("kubernetes refused the Job axon-x", exc)

    assert str(refused) == (
        'kubernetes refused the Job axon-x: Job.batch "axon-x" is invalid: '
        "spec.template.spec.containers[0].image: Required value; "
        'metadata.labels: Invalid value: "-x" (422 Invalid)'
    )
    assert (refused.status, refused.reason) == (422, "Invalid")
