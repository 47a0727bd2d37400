"""Watches against KubernetesDouble, as `kubernetes.watch.Watch` depends on them.

Chunked JSON lines, ADDED/MODIFIED/DELETED, resuming from a resourceVersion, 410 Expired after
compaction, bookmarks, server-side timeouts and reconnects, selectors that filter events.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes import KubernetesDouble, PodScript, fixtures
from tests.fakes.kubernetes.fixtures import NS, job_manifest, status_of

# The shared fixtures, by name, for pytest to find.
k8s = fixtures.k8s
api = fixtures.api
batch = fixtures.batch
core = fixtures.core


def test_a_job_watch_sees_it_added_then_modified_through_complete(k8s, batch, core):
    k8s.script("train", PodScript(duration=0.2, logs=["epoch 1"]))
    seen: list[tuple[str, Any]] = []
    pods: list[str] = []
    listed = batch.list_namespaced_job(NS)

    def watch_pods() -> None:
        for event in watch.Watch().stream(
            core.list_namespaced_pod,
            NS,
            label_selector="job-name=train",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=2,
        ):
            pods.append(event["object"].status.phase)
            if event["object"].status.phase == "Succeeded":
                return

    pod_watcher = threading.Thread(target=watch_pods)
    pod_watcher.start()
    batch.create_namespaced_job(NS, job_manifest("train"))
    stream = watch.Watch()
    for event in stream.stream(
        batch.list_namespaced_job,
        NS,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ):
        job = event["object"]
        seen.append((event["type"], job.status))
        if any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or []):
            stream.stop()
    pod_watcher.join()

    assert [kind for kind, _ in seen][0] == "ADDED"
    assert {kind for kind, _ in seen[1:]} == {"MODIFIED"}
    assert any(s.active == 1 for _, s in seen)
    final = seen[-1][1]
    assert [(c.type, c.status) for c in final.conditions] == [
        ("SuccessCriteriaMet", "True"),
        ("Complete", "True"),
    ]
    assert (final.succeeded, final.active, final.completion_time is not None) == (1, None, True)
    assert pods[0] == "Pending" and "Running" in pods and pods[-1] == "Succeeded"


def test_a_watch_from_a_resource_version_replays_only_later_changes(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("first", suspend=True))
    after_first = batch.list_namespaced_job(NS).metadata.resource_version
    batch.create_namespaced_job(NS, job_manifest("second", suspend=True))

    events = list(
        watch.Watch().stream(
            batch.list_namespaced_job, NS, resource_version=after_first, timeout_seconds=1
        )
    )

    names = {(e["type"], e["object"].metadata.name) for e in events}
    assert ("ADDED", "second") in names
    assert all(name != "first" or kind != "ADDED" for kind, name in names)
    assert all(int(e["object"].metadata.resource_version) > int(after_first) for e in events)


def test_a_watch_without_a_resource_version_starts_with_what_exists(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("first", suspend=True))
    batch.create_namespaced_job(NS, job_manifest("second", suspend=True))
    k8s.wait_for(lambda: k8s.condition("jobs", "second", "Suspended") == "True")

    stream = watch.Watch()
    events = []
    for event in stream.stream(batch.list_namespaced_job, NS, timeout_seconds=1):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 2:
            stream.stop()

    assert events == [("ADDED", "first"), ("ADDED", "second")]


def test_after_compaction_an_old_version_is_410_and_a_relist_recovers(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))
    old = batch.list_namespaced_job(NS).metadata.resource_version
    k8s.compact()

    # No timeout_seconds: the client retries a 410 once, then raises it.
    with pytest.raises(ApiException) as raised:
        for _ in watch.Watch().stream(batch.list_namespaced_job, NS, resource_version=old):
            pass
    assert raised.value.status == 410
    assert "Expired: too old resource version" in raised.value.reason
    assert k8s.calls[("watch", "jobs")] == 2

    fresh = batch.list_namespaced_job(NS).metadata.resource_version
    batch.patch_namespaced_job("train", NS, {"spec": {"suspend": False}})
    stream = watch.Watch()
    for event in stream.stream(
        batch.list_namespaced_job, NS, resource_version=fresh, timeout_seconds=2
    ):
        assert event["type"] == "MODIFIED"
        stream.stop()


def test_the_raw_410_is_an_error_event_on_an_http_200(k8s):
    k8s.compact()

    answer = requests.get(
        f"{k8s.url}/apis/batch/v1/namespaces/{NS}/jobs",
        params={"watch": "true", "resourceVersion": "1"},
        timeout=5,
    )

    assert answer.status_code == 200
    assert answer.headers["Transfer-Encoding"] == "chunked"
    [line] = answer.text.splitlines()
    event = json.loads(line)
    assert event["type"] == "ERROR"
    assert {k: event["object"][k] for k in ("kind", "status", "reason", "code")} == {
        "kind": "Status",
        "status": "Failure",
        "reason": "Expired",
        "code": 410,
    }
    assert event["object"]["message"].startswith("too old resource version: 1 (")


def test_a_list_at_an_expired_version_with_a_limit_is_an_http_410(k8s, batch):
    old = batch.list_namespaced_job(NS).metadata.resource_version
    k8s.compact()

    with pytest.raises(ApiException) as raised:
        batch.list_namespaced_job(NS, resource_version=old, limit=10)

    assert (raised.value.status, status_of(raised.value)["reason"]) == (410, "Expired")


def test_bookmarks_arrive_when_asked_for_and_carry_only_a_version(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))
    rv = batch.list_namespaced_job(NS).metadata.resource_version

    stream = watch.Watch()
    bookmarks = []
    for event in stream.stream(
        batch.list_namespaced_job,
        NS,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    ):
        if event["type"] == "BOOKMARK":
            bookmarks.append(event["object"])
            stream.stop()

    [bookmark] = bookmarks
    assert bookmark["kind"] == "Job" and bookmark["apiVersion"] == "batch/v1"
    assert set(bookmark["metadata"]) == {"resourceVersion"}
    assert int(bookmark["metadata"]["resourceVersion"]) >= int(rv)
    assert stream.resource_version == bookmark["metadata"]["resourceVersion"]


def test_no_bookmark_without_asking(k8s, batch):
    events = list(watch.Watch().stream(batch.list_namespaced_job, NS, timeout_seconds=1))

    assert events == []


def test_timeout_seconds_ends_the_stream_cleanly(k8s, batch):
    stream = watch.Watch().stream(batch.list_namespaced_job, NS, timeout_seconds=1)

    assert list(stream) == []
    assert k8s.calls[("watch", "jobs")] == 1


def test_without_timeout_seconds_the_client_reconnects_from_the_last_version():
    with (
        KubernetesDouble(speed=10, watch_timeout=3) as k8s,
        client.ApiClient(k8s.configuration()) as api,
    ):
        jobs = client.BatchV1Api(api)
        jobs.create_namespaced_job(NS, job_manifest("first", suspend=True))
        rv = jobs.list_namespaced_job(NS).metadata.resource_version
        stream = watch.Watch()
        later = threading.Timer(
            0.5, lambda: jobs.create_namespaced_job(NS, job_manifest("second", suspend=True))
        )
        later.start()
        for event in stream.stream(jobs.list_namespaced_job, NS, resource_version=rv):
            if event["object"].metadata.name == "second":
                stream.stop()
        later.join()

        first, *again = [r for r in k8s.requests if r.verb == "watch"]
        assert first.query["resourceVersion"] == rv and again
        assert all(int(r.query["resourceVersion"]) >= int(rv) for r in again)


def test_a_cluster_wide_watch_sees_every_namespace(k8s, batch):
    rv = batch.list_job_for_all_namespaces().metadata.resource_version
    batch.create_namespaced_job("team-a", job_manifest("train", suspend=True))
    batch.create_namespaced_job("team-b", job_manifest("train", suspend=True))

    seen = set()
    stream = watch.Watch()
    for event in stream.stream(
        batch.list_job_for_all_namespaces, resource_version=rv, timeout_seconds=2
    ):
        seen.add(event["object"].metadata.namespace)
        if seen == {"team-a", "team-b"}:
            stream.stop()

    assert seen == {"team-a", "team-b"}
    assert [j.metadata.name for j in batch.list_namespaced_job("team-a").items] == ["train"]


def test_send_initial_events_ends_the_burst_with_a_marked_bookmark(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))
    params = {
        "watch": "1",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "1",
    }

    answer = requests.get(f"{k8s.url}/apis/batch/v1/namespaces/{NS}/jobs", params=params, timeout=5)

    events = [json.loads(line) for line in answer.text.splitlines()]
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    annotations = events[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_booleans_arrive_as_true_or_True(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))
    url = f"{k8s.url}/apis/batch/v1/namespaces/{NS}/jobs"

    for value in ("true", "True", "1"):
        answer = requests.get(url, params={"watch": value, "timeoutSeconds": "1"}, timeout=5)
        assert json.loads(answer.text.splitlines()[0])["type"] == "ADDED"
    plain = requests.get(url, params={"watch": "false"}, timeout=5).json()
    assert plain["kind"] == "JobList"
    bad = requests.get(url, params={"watch": "yes"}, timeout=5)
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest")


def test_a_dropped_connection_ends_a_watch_mid_stream(k8s, batch):
    failures: list[BaseException] = []

    def follow() -> None:
        try:
            for _ in watch.Watch().stream(batch.list_namespaced_job, NS, _request_timeout=5):
                pass
        except Exception as error:
            failures.append(error)

    watcher = threading.Thread(target=follow)
    watcher.start()
    k8s.wait_for(lambda: k8s.calls[("watch", "jobs")] == 1)
    assert k8s.kill_connections() >= 1
    watcher.join(timeout=5)

    assert not watcher.is_alive()
    assert failures, "the client should see the connection break"


# -- selectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("team=vision", ["a", "b"]),
        ("team==vision,tier!=gpu", ["a"]),
        ("team in (vision, nlp)", ["a", "b", "c"]),
        ("team notin (vision)", ["c", "d"]),
        ("tier", ["b"]),
        ("!tier", ["a", "c", "d"]),
    ],
)
def test_label_selectors_filter_a_list(k8s, batch, selector, expected):
    for name, labels in {
        "a": {"team": "vision"},
        "b": {"team": "vision", "tier": "gpu"},
        "c": {"team": "nlp"},
        "d": {},
    }.items():
        batch.create_namespaced_job(NS, job_manifest(name, labels=labels, suspend=True))

    listed = batch.list_namespaced_job(NS, label_selector=selector)

    assert [job.metadata.name for job in listed.items] == expected


def test_an_unparsable_selector_is_400(k8s, batch):
    with pytest.raises(ApiException) as raised:
        batch.list_namespaced_job(NS, label_selector="team in vision")

    assert raised.value.status == 400


def test_a_job_that_stops_matching_a_watch_is_deleted_for_it(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", labels={"queue": "gpu"}, suspend=True))
    rv = batch.list_namespaced_job(NS).metadata.resource_version
    batch.patch_namespaced_job("train", NS, {"metadata": {"labels": {"queue": "cpu"}}})
    batch.patch_namespaced_job("train", NS, {"metadata": {"labels": {"queue": "gpu"}}})

    events = [
        event["type"]
        for event in watch.Watch().stream(
            batch.list_namespaced_job,
            NS,
            resource_version=rv,
            label_selector="queue in (gpu)",
            timeout_seconds=1,
        )
    ]

    assert events == ["DELETED", "ADDED"]


def test_events_are_selected_by_involved_object(k8s, batch, core):
    k8s.script("train", PodScript(duration=0.05))
    batch.create_namespaced_job(NS, job_manifest("train"))
    k8s.wait_for(lambda: k8s.job_finished("train"))

    events = core.list_namespaced_event(
        NS, field_selector="involvedObject.name=train,involvedObject.kind=Job"
    )

    assert sorted(e.reason for e in events.items) == ["Completed", "SuccessfulCreate"]
    assert all(e.involved_object.name == "train" for e in events.items)


def test_an_unsupported_field_selector_is_400(k8s, core):
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod(NS, field_selector="spec.image=x")

    assert status_of(raised.value)["message"] == "field label not supported: spec.image"
