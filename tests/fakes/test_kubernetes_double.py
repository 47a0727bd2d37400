"""KubernetesDouble speaks the API: the official client, unchanged, creates, reads and writes.

Defaulting, Status bodies (404, 409, 422 from the strict schema and the server's rules),
pagination, patches, injected faults, call counts and the kubeconfig. Watches are specified in
test_kubernetes_watch.py, the simulated cluster in test_kubernetes_jobs.py and
test_kubernetes_workloads.py.
"""

from __future__ import annotations

import pytest
import requests
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes import PodScript, fixtures
from tests.fakes.kubernetes.fixtures import NS, job_manifest, pods_of, status_of

# The shared fixtures, by name, for pytest to find.
k8s = fixtures.k8s
api = fixtures.api
batch = fixtures.batch
core = fixtures.core


def test_a_created_job_comes_back_defaulted_and_is_read_and_listed(k8s, batch):
    created = batch.create_namespaced_job(NS, job_manifest("train"))

    uid = created.metadata.uid
    assert created.spec.backoff_limit == 6
    assert (created.spec.completions, created.spec.parallelism) == (1, 1)
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert created.spec.template.metadata.labels["batch.kubernetes.io/job-name"] == "train"
    assert created.spec.template.metadata.labels["job-name"] == "train"
    assert created.metadata.resource_version.isdigit()
    read = batch.read_namespaced_job("train", NS)
    assert read.metadata.uid == uid
    listed = batch.list_namespaced_job(NS, label_selector="app=axon")
    assert [job.metadata.name for job in listed.items] == ["train"]
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)


def test_list_items_carry_no_kind_as_on_a_real_server(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train"))

    raw = requests.get(f"{k8s.url}/apis/batch/v1/namespaces/{NS}/jobs", timeout=5).json()

    assert (raw["kind"], raw["apiVersion"]) == ("JobList", "batch/v1")
    assert "kind" not in raw["items"][0]
    assert isinstance(raw["metadata"]["resourceVersion"], str)


def test_creating_a_job_twice_is_409_already_exists(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train"))

    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, job_manifest("train"))

    assert raised.value.status == 409
    body = status_of(raised.value)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "AlreadyExists", 409)
    assert body["message"] == 'jobs.batch "train" already exists'


def test_a_missing_job_is_404_with_a_status_body(k8s, batch):
    with pytest.raises(ApiException) as raised:
        batch.read_namespaced_job("nope", NS)

    assert raised.value.status == 404
    assert status_of(raised.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'jobs.batch "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "batch", "kind": "jobs"},
        "code": 404,
    }


def test_generate_name_gets_a_random_suffix(k8s, batch):
    manifest = job_manifest("")
    manifest["metadata"] = {"generateName": "sweep-"}

    first = batch.create_namespaced_job(NS, manifest)
    second = batch.create_namespaced_job(NS, manifest)

    assert first.metadata.name.startswith("sweep-") and len(first.metadata.name) == 11
    assert first.metadata.name != second.metadata.name


def test_an_invalid_job_is_422_naming_each_field(k8s, batch):
    manifest = job_manifest("train", labels={"project": "my project"})
    del manifest["spec"]["template"]["spec"]["restartPolicy"]
    del manifest["spec"]["template"]["spec"]["containers"][0]["image"]

    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)

    assert raised.value.status == 422
    body = status_of(raised.value)
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('Job.batch "train" is invalid: [metadata.labels: Invalid')
    fields = [cause["field"] for cause in body["details"]["causes"]]
    assert fields == [
        "metadata.labels",
        "spec.template.spec.restartPolicy",
        "spec.template.spec.containers[0].image",
    ]
    assert k8s.objects("jobs") == []


def test_restart_policy_always_is_refused_for_a_job(k8s, batch):
    manifest = job_manifest("train")
    manifest["spec"]["template"]["spec"]["restartPolicy"] = "Always"

    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)

    assert status_of(raised.value)["details"]["causes"][0] == {
        "reason": "FieldValueNotSupported",
        "message": 'Unsupported value: "Always": supported values: "OnFailure", "Never"',
        "field": "spec.template.spec.restartPolicy",
    }


def test_an_unknown_field_is_dropped_with_a_warning_and_refused_only_when_strict(k8s):
    manifest = job_manifest("train")
    manifest["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    url = f"{k8s.url}/apis/batch/v1/namespaces/{NS}/jobs"

    strict = requests.post(url, params={"fieldValidation": "Strict"}, json=manifest, timeout=5)
    warned = requests.post(url, json=manifest, timeout=5)

    assert strict.status_code == 422
    [cause] = strict.json()["details"]["causes"]
    assert cause["field"] == "spec.template.spec.containers[0].bogus"
    assert cause["message"] == 'unknown field "bogus"'
    assert warned.status_code == 201
    assert warned.headers["Warning"] == (
        '299 - "unknown field \\"spec.template.spec.containers[0].bogus\\""'
    )
    assert "bogus" not in warned.json()["spec"]["template"]["spec"]["containers"][0]


def test_requests_above_limits_and_a_gpu_without_a_limit_are_refused(k8s, batch):
    manifest = job_manifest("train")
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {
        "requests": {"cpu": "2", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "1"},
    }

    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)

    messages = [cause["message"] for cause in status_of(raised.value)["details"]["causes"]]
    assert "Required value: Limit must be set for non overcommitable resources" in messages
    assert 'Invalid value: "2": must be less than or equal to cpu limit of 1' in messages


def test_a_list_pages_with_limit_and_continue(k8s, batch):
    for name in ("a", "b", "c"):
        batch.create_namespaced_job(NS, job_manifest(name, suspend=True))

    first = batch.list_namespaced_job(NS, limit=2)
    rest = batch.list_namespaced_job(NS, limit=2, _continue=first.metadata._continue)

    assert [j.metadata.name for j in first.items] == ["a", "b"]
    assert first.metadata.remaining_item_count == 1
    assert [j.metadata.name for j in rest.items] == ["c"]
    assert rest.metadata._continue is None


def test_patches_merge_json_patch_and_conflict(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))

    merged = batch.patch_namespaced_job("train", NS, {"metadata": {"labels": {"x": "1"}}})
    patched = batch.patch_namespaced_job(
        "train", NS, [{"op": "replace", "path": "/spec/suspend", "value": False}]
    )
    assert merged.metadata.labels == {"app": "axon", "x": "1"}
    assert patched.spec.suspend is False
    assert int(patched.metadata.resource_version) > int(merged.metadata.resource_version)

    stale = {"metadata": {"resourceVersion": merged.metadata.resource_version}}
    with pytest.raises(ApiException) as raised:
        batch.patch_namespaced_job("train", NS, stale)
    assert (raised.value.status, status_of(raised.value)["reason"]) == (409, "Conflict")

    with pytest.raises(ApiException) as immutable:
        batch.patch_namespaced_job("train", NS, {"spec": {"completionMode": "Indexed"}})
    assert immutable.value.status == 422
    assert "field is immutable" in status_of(immutable.value)["message"]


def test_a_status_patch_changes_only_the_status(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))

    batch.patch_namespaced_job_status(
        "train", NS, {"metadata": {"labels": {"ignored": "y"}}, "status": {"failed": 3}}
    )

    job = batch.read_namespaced_job_status("train", NS)
    assert job.status.failed == 3
    assert "ignored" not in job.metadata.labels


def test_injected_faults_answer_with_a_status_and_retry_after(k8s, batch):
    k8s.fail_next("create", "jobs", 429, retry_after=2)

    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, job_manifest("train"))
    batch.create_namespaced_job(NS, job_manifest("train"))

    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "2"
    assert k8s.calls[("create", "jobs")] == 2


def test_a_slow_answer_trips_the_clients_request_timeout(k8s, batch):
    # urllib3 retries a read timeout three times on its own: be slow for all four attempts.
    k8s.slow_next("list", "jobs", 0.3, times=4)

    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        batch.list_namespaced_job(NS, _request_timeout=0.05)

    assert isinstance(raised.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert batch.list_namespaced_job(NS, _request_timeout=1).items == []


def test_replace_with_a_stale_resource_version_is_409_conflict(k8s, batch):
    created = batch.create_namespaced_job(NS, job_manifest("train", suspend=True))
    batch.patch_namespaced_job("train", NS, {"metadata": {"labels": {"x": "1"}}})

    with pytest.raises(ApiException) as raised:
        batch.replace_namespaced_job("train", NS, created)

    assert status_of(raised.value)["message"] == (
        'Operation cannot be fulfilled on jobs.batch "train": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_dry_run_admits_without_storing(k8s, batch):
    answer = batch.create_namespaced_job(NS, job_manifest("train"), dry_run="All")

    assert answer.spec.backoff_limit == 6
    assert k8s.objects("jobs") == []


def test_delete_collection_removes_what_the_selector_matches(k8s, core):
    for name, team in (("a", "vision"), ("b", "nlp")):
        pod = {
            "metadata": {"name": name, "labels": {"team": team}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        }
        core.create_namespaced_pod(NS, pod)

    core.delete_collection_namespaced_pod(NS, label_selector="team=vision", grace_period_seconds=0)

    k8s.wait_for(lambda: [p["metadata"]["name"] for p in k8s.objects("pods")] == ["b"])


def test_api_calls_are_counted_by_verb_and_resource(k8s, batch, core):
    k8s.script("train", PodScript(duration=0.1))
    batch.create_namespaced_job(NS, job_manifest("train"))
    k8s.wait_for(lambda: k8s.job_finished("train"))
    core.read_namespaced_pod_log(pods_of(core, "train")[0].metadata.name, NS)

    assert k8s.calls == {
        ("create", "jobs"): 1,
        ("list", "pods"): 1,
        ("get", "pods/log"): 1,
    }


def test_the_version_endpoint_and_a_kubeconfig_work_unchanged(k8s, tmp_path):
    path = k8s.kubeconfig(tmp_path / "config")
    loaded = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=loaded)

    with client.ApiClient(loaded) as api:
        info = client.VersionApi(api).get_code()

    assert info.git_version == f"v{k8s.version}"
    assert loaded.host == k8s.url


def test_discovery_answers_for_groups_resources_and_namespaces(k8s, api, core):
    resources = client.BatchV1Api(api).get_api_resources()
    groups = client.ApisApi(api).get_api_versions()

    assert [r.name for r in resources.resources] == ["jobs", "jobs/status"]
    assert {"batch", "apps", "kubeflow.org"} <= {g.name for g in groups.groups}
    assert core.read_namespace("team-a").status.phase == "Active"
