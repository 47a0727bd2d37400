"""A builder's pushed image comes back from its pod's termination message as the run's output
`image` (`<destination>@<digest>`), read by the Kubernetes runner against the API double."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.built_images import built_image
from schemas.status import RunStatus
from tests.contracts.runner import run_to_end
from tests.fakes.kubernetes import KubernetesDouble, PodScript, fixtures

k8s = fixtures.k8s
DIGEST = "sha256:" + "4f" * 32
DESTINATION = "registry.example.com/acme/vision:abc"
KANIKO_ARGS = [
    "--context=git://github.com/acme/vision.git#refs/heads/main#abc",
    "--dockerfile=Dockerfile",
    f"--destination={DESTINATION}",
    "--digest-file=/dev/termination-log",
]


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


def builder_spec(k8s: KubernetesDouble, script: PodScript, args: list[str]) -> RunSpec:
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", script)
    component = {
        "kind": "component",
        "run": {"kind": "job", "container": {"image": "gcr.io/kaniko-project/executor:v1.23.2"}},
    }
    component["run"]["container"]["args"] = args
    return RunSpec(uuid=run_uuid, name="build", project="vision", command=args, component=component)


def test_a_builder_that_pushed_reports_the_image_with_its_digest(runner, k8s):
    spec = builder_spec(k8s, PodScript(termination_message=DIGEST), KANIKO_ARGS)

    external_id = runner.submit(spec)
    seen = run_to_end(runner, external_id)

    assert seen[-1].status == RunStatus.SUCCEEDED
    assert seen[-1].outputs == {"image": f"{DESTINATION}@{DIGEST}"}
    [job] = [c.body for c in k8s.requests if c.verb == "create" and c.body]
    kubernetes_validate.validate(job, k8s.version, strict=True)
    main = job["spec"]["template"]["spec"]["containers"][0]
    assert main["args"] == KANIKO_ARGS and "command" not in main


def test_a_builder_that_failed_reports_no_image(runner, k8s):
    spec = builder_spec(k8s, PodScript(exit_code=1, termination_message=DIGEST), KANIKO_ARGS)

    seen = run_to_end(runner, runner.submit(spec))

    assert seen[-1].status == RunStatus.FAILED
    assert all(o.outputs is None for o in seen)


def test_a_job_that_is_no_builder_reports_no_outputs_whatever_its_message(runner, k8s):
    spec = builder_spec(k8s, PodScript(termination_message=DIGEST), ["--epochs=3"])

    seen = run_to_end(runner, runner.submit(spec))

    assert seen[-1].status == RunStatus.SUCCEEDED
    assert seen[-1].outputs is None


def pod(args: list[str], message: str, code: int = 0) -> dict[str, Any]:
    ended = {"exitCode": code, "message": message}
    return {
        "spec": {"containers": [{"name": "main", "args": args}]},
        "status": {"containerStatuses": [{"name": "main", "state": {"terminated": ended}}]},
    }


@pytest.mark.parametrize(
    ("message", "code"),
    [("not a digest", 0), ("sha256:abc", 0), (DIGEST, 2), ("", 0)],
)
def test_only_a_digest_written_by_a_builder_that_succeeded_counts(message, code):
    assert built_image([pod(KANIKO_ARGS, message, code)]) is None


def test_the_digest_is_read_with_surrounding_whitespace_trimmed():
    assert built_image([pod(KANIKO_ARGS, f"{DIGEST}\n")]) == {"image": f"{DESTINATION}@{DIGEST}"}
