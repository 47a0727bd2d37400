"""The double behaves as a server of the version it is given: 1.20 (the real test bed's) against
the newest kubernetes-validate knows. tests/kube_real/test_double_agrees.py runs the 1.20 side
against a real 1.20 server as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import kubernetes_validate
import pytest
import requests
from kubernetes import client

from tests import waiting
from tests.fakes.kubernetes import KubernetesDouble, PodScript
from tests.fakes.kubernetes.fixtures import NS, job_manifest

OLD, NEW = "1.20", kubernetes_validate.latest_version()
PREFIXED = ("batch.kubernetes.io/job-name", "batch.kubernetes.io/controller-uid")


@pytest.fixture(params=[OLD, NEW])
def k8s(request: pytest.FixtureRequest) -> Iterator[KubernetesDouble]:
    with KubernetesDouble(speed=10, version=request.param, watch_timeout=20) as double:
        yield double
        assert double.schema_problems() == []


@pytest.fixture
def batch(k8s: KubernetesDouble) -> Iterator[client.BatchV1Api]:
    with client.ApiClient(k8s.configuration()) as api:
        yield client.BatchV1Api(api)


def old(k8s: KubernetesDouble) -> bool:
    return k8s.version == OLD


def test_fields_newer_than_the_server_are_dropped_silently_before_field_validation(k8s):
    manifest = job_manifest("train", podFailurePolicy={"rules": []}, suspend=False)
    init = {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always"}
    manifest["spec"]["template"]["spec"]["initContainers"] = [init]
    url = f"{k8s.url}/apis/batch/v1/namespaces/{NS}/jobs"

    answer = requests.post(url, params={"fieldValidation": "Strict"}, json=manifest, timeout=5)

    if old(k8s):  # 1.20: 201, no warning, the fields gone, Strict or not
        assert answer.status_code == 201 and "Warning" not in answer.headers
        spec = answer.json()["spec"]
        assert "podFailurePolicy" not in spec and "suspend" not in spec
        assert "restartPolicy" not in spec["template"]["spec"]["initContainers"][0]
    else:
        assert answer.status_code == 201
        assert answer.json()["spec"]["template"]["spec"]["initContainers"][0]["restartPolicy"]


def test_the_job_controller_labels_pods_as_its_version_did(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train"))
    pod = k8s.wait_for(lambda: next(iter(k8s.pods_of("train")), None))
    job = k8s.get("jobs", "train")

    labels, selector = pod["metadata"]["labels"], job["spec"]["selector"]["matchLabels"]
    assert labels["job-name"] == "train" and labels["controller-uid"] == job["metadata"]["uid"]
    if old(k8s):
        assert not set(PREFIXED) & set(labels)
        assert list(selector) == ["controller-uid"]
        assert "finalizers" not in pod["metadata"]
    else:
        assert set(PREFIXED) <= set(labels)
        assert list(selector) == ["batch.kubernetes.io/controller-uid"]
        assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]


def test_job_status_and_conditions_are_those_of_the_version(k8s, batch):
    k8s.script("ok", PodScript(duration=0.5))
    k8s.script("bad", PodScript(exit_code=3, duration=0.5))
    batch.create_namespaced_job(NS, job_manifest("ok"))
    batch.create_namespaced_job(NS, job_manifest("bad", backoffLimit=0))
    k8s.wait_for(lambda: k8s.job_finished("ok") and k8s.job_finished("bad"), timeout=10)

    ok, bad = k8s.get("jobs", "ok")["status"], k8s.get("jobs", "bad")["status"]
    kinds = {name: [c["type"] for c in s["conditions"]] for name, s in (("ok", ok), ("bad", bad))}
    if old(k8s):
        assert kinds == {"ok": ["Complete"], "bad": ["Failed"]}
        assert not {"ready", "terminating", "uncountedTerminatedPods"} & set(ok)
    else:
        assert kinds == {
            "ok": ["SuccessCriteriaMet", "Complete"],
            "bad": ["FailureTarget", "Failed"],
        }
        assert {"ready", "terminating", "uncountedTerminatedPods"} <= set(ok)
    assert [c["reason"] for c in bad["conditions"]][-1] == "BackoffLimitExceeded"


def test_a_pod_deleted_by_someone_counts_as_failed_only_with_tracking_finalizers(k8s, batch):
    k8s.script("train", PodScript(duration=None), PodScript(duration=0.5))
    batch.create_namespaced_job(NS, job_manifest("train", backoffLimit=0))
    first = k8s.wait_for(
        lambda: next(
            (p for p in k8s.pods_of("train") if p["status"].get("phase") == "Running"), None
        )
    )

    client.CoreV1Api(batch.api_client).delete_namespaced_pod(first["metadata"]["name"], NS)

    k8s.wait_for(lambda: k8s.job_finished("train"), timeout=10)
    if old(k8s):  # replaced, not counted: the second pod's success completes the Job
        assert k8s.condition("jobs", "train", "Complete") == "True"
        assert "failed" not in k8s.get("jobs", "train")["status"]
    else:
        assert k8s.condition("jobs", "train", "Failed") == "True"


def test_a_malformed_quantity_is_refused_as_undecodable_before_any_validation(k8s, batch):
    manifest = job_manifest("train")
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}

    with pytest.raises(client.ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)

    assert raised.value.status == 400
    status = json.loads(raised.value.body)
    assert status["reason"] == "BadRequest"
    assert "quantities must match the regular expression" in status["message"]


def test_bookmarks_are_sent_from_1_21_and_none_before(k8s):
    pods = f"{k8s.url}/api/v1/namespaces/{NS}/pods"
    version = requests.get(pods, timeout=5).json()["metadata"]["resourceVersion"]
    query = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "3"}

    answer = requests.get(pods, params={**query, "resourceVersion": version}, timeout=10)

    kinds = [json.loads(line)["type"] for line in answer.text.splitlines() if line.strip()]
    if old(k8s):  # seen on a real 1.20.2: not one bookmark in a 130 s watch, nor at its end
        assert kinds == []  # for pods, none of which has come or gone since the server started
    else:
        assert kinds and set(kinds) == {"BOOKMARK"}


def test_a_1_20_server_bookmarks_a_resource_once_it_has_changed_since_it_started(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train"))
    pods = f"{k8s.url}/api/v1/namespaces/{NS}/pods"
    waiting.wait_for(lambda: requests.get(pods, timeout=5).json()["items"])
    version = requests.get(pods, timeout=5).json()["metadata"]["resourceVersion"]
    query = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "3"}

    answer = requests.get(pods, params={**query, "resourceVersion": version}, timeout=10)

    # As a real 1.20.2 once pods had come and gone (two in a 15 s watch); from 1.21 always.
    kinds = [json.loads(line)["type"] for line in answer.text.splitlines() if line.strip()]
    assert "BOOKMARK" in kinds
