"""The double refuses what a test's RBAC denials cover with the real server's 403 `Forbidden`
Status: the message names the user, the verb, the resource with its subresource, the API group
and the namespace (or the cluster scope), and the Status's details the resource without it."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes.fixtures import NS, api, batch, core, k8s  # noqa: F401  (fixtures)
from tests.fakes.kubernetes.rbac import AGENT_USER

USER = f'User "{AGENT_USER}"'


def refusal(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as refused:
        call(*args, **kwargs)
    return refused.value.status, json.loads(refused.value.body or "{}")


@dataclass
class Answer:
    status: int
    data: bytes


def answer(double: Any, method: str, path: str, body: bytes | None = None) -> Answer:
    """The double's answer to one plain HTTP request, on a connection closed after it."""
    connection = http.client.HTTPConnection("127.0.0.1", int(double.url.rsplit(":", 1)[1]))
    try:
        connection.request(method, path, body=body)
        got = connection.getresponse()
        return Answer(got.status, got.read())
    finally:
        connection.close()


def test_a_denied_list_is_a_403_naming_the_verb_resource_group_and_namespace(k8s, batch):  # noqa: F811
    k8s.forbid("list", "jobs", NS)

    code, status = refusal(batch.list_namespaced_job, NS)

    assert code == 403
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'jobs.batch is forbidden: {USER} cannot list resource "jobs" in API group '
        f'"batch" in the namespace "{NS}"',
        "reason": "Forbidden",
        "details": {"group": "batch", "kind": "jobs"},
        "code": 403,
    }
    assert k8s.calls[("list", "jobs")] == 1


def test_a_watch_is_its_own_verb_and_a_list_across_namespaces_is_at_the_cluster_scope(
    k8s,  # noqa: F811
    core,  # noqa: F811
):
    k8s.forbid("watch", "pods")
    k8s.forbid("list", "pods")

    _, watched = refusal(core.list_namespaced_pod, NS, watch=True)
    _, listed = refusal(core.list_pod_for_all_namespaces)

    assert watched["message"] == (
        f'pods is forbidden: {USER} cannot watch resource "pods" in API group "" in the '
        f'namespace "{NS}"'
    )
    assert listed["message"] == (
        f'pods is forbidden: {USER} cannot list resource "pods" in API group "" at the cluster '
        "scope"
    )


def test_a_denial_covers_only_its_verb_and_namespace_and_lifts_when_permitted(k8s, core):  # noqa: F811
    denial = k8s.forbid("create", "secrets", NS)
    secret = {"metadata": {"name": "token"}, "stringData": {"t": "x"}}

    code, status = refusal(core.create_namespaced_secret, NS, secret)
    core.create_namespaced_secret("other", secret)
    core.list_namespaced_secret(NS)
    k8s.permit(denial)
    core.create_namespaced_secret(NS, secret)

    assert (code, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        f'secrets is forbidden: {USER} cannot create resource "secrets" in API group "" in the '
        f'namespace "{NS}"'
    )
    assert k8s.get("secrets", "token") is not None


def test_the_service_proxy_is_authorized_per_method_on_services_proxy_naming_the_service(k8s):  # noqa: F811
    k8s.forbid("create", "services/proxy", NS)
    path = f"/api/v1/namespaces/{NS}/services/board:6006/proxy/data"

    posted = answer(k8s, "POST", path, b"{}")
    fetched = answer(k8s, "GET", path)

    assert posted.status == 403
    assert json.loads(posted.data)["message"] == (
        f'services "board:6006" is forbidden: {USER} cannot create resource "services/proxy" '
        f'in API group "" in the namespace "{NS}"'
    )
    assert json.loads(posted.data)["details"] == {"name": "board:6006", "kind": "services"}
    # Allowed, it goes on to the Service, which does not exist here.
    assert (fetched.status, json.loads(fetched.data)["reason"]) == (404, "NotFound")
