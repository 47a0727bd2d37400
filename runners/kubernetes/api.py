"""The API client: where its configuration comes from, and which of its errors are worth a retry.

Configuration, in order: a `kubernetes.client.Configuration` given in code; in-cluster (the
pod's service account) when asked, or when `KUBERNETES_SERVICE_HOST` is set and no kubeconfig
is named; else a kubeconfig file (`kubeconfig`, else `$KUBECONFIG` or `~/.kube/config`) and
its `context`. Connection errors, 429 and 5xx become `RunnerUnavailable`, which callers retry;
a request the server refuses becomes `Refused`, worded from the server's Status (its message and
field causes), not the client's dump of HTTP headers. Answers are read as JSON, never through the
client's models: a 1.20 server answers a Service's DELETE with a `Status` that the models of
client 37 cannot parse.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from runners.base import RunnerUnavailable
from runners.kubernetes.manifests import KUBEFLOW_GROUP as GROUP
from runners.kubernetes.manifests import KUBEFLOW_VERSION as VERSION
from runners.kubernetes.operators_kinds import BY_PLURAL

T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})
REQUEST_TIMEOUT = (10.0, 30.0)  # seconds to connect, and to wait for a read, in one call


def load_configuration(
    kubeconfig: str = "", context: str = "", in_cluster: bool | None = None
) -> client.Configuration:
    """A client configuration from the service account or a kubeconfig file."""
    configuration = client.Configuration()
    if in_cluster is None:
        in_cluster = not kubeconfig and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(
            config_file=kubeconfig or None,
            context=context or None,
            client_configuration=configuration,
            persist_config=False,
        )
    return configuration


def is_transient(exc: BaseException) -> bool:
    """Whether the same call may succeed later: the server or the network, not the request."""
    if isinstance(exc, ApiException):
        return exc.status in TRANSIENT_STATUSES
    transient = (RunnerUnavailable, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)
    return isinstance(exc, transient)


def status_reason(exc: ApiException) -> str:
    """The `reason` of the Status body (AlreadyExists, NotFound, Expired…), else ''."""
    try:
        return str(json.loads(exc.body or "{}").get("reason") or "")
    except (TypeError, ValueError):
        return ""


class Refused(Exception):
    """The API server refused a request for good (4xx): the text is its Status, in words."""

    def __init__(self, text: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.reason = reason


def refusal(what: str, exc: ApiException) -> Refused:
    """`exc` as the server said it: `<what>: <message> (<code> <reason>)`, with the field
    causes the message does not already name."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or exc.reason or "refused")
    causes = ((body.get("details") or {}).get("causes")) or ()
    extra = []
    for cause in causes:
        field, said = str(cause.get("field") or ""), str(cause.get("message") or "")
        text = f"{field}: {said}" if field else said
        if text and text not in message and said not in message:
            extra.append(text)
    reason = str(body.get("reason") or "")
    code = " ".join(filter(None, (str(exc.status or ""), reason)))
    detail = "; ".join([message, *extra])
    return Refused(f"{what}: {detail} ({code})", exc.status, reason)


def status_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason or "")
    except (TypeError, ValueError):
        return str(exc.reason or "")


def call(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` with a transient failure raised as RunnerUnavailable."""
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        if not is_transient(exc):
            raise
        detail = f"{exc.status} {status_message(exc)}" if isinstance(exc, ApiException) else exc
        raise RunnerUnavailable(f"kubernetes: {what}: {detail}") from exc


def read_json(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The JSON body of a call, decoded without the client's models (dicts, camelCase keys)."""
    response = call(what, function, *args, _preload_content=False, **kwargs)
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()


def minor_version(git_version: str) -> tuple[int, int] | None:
    """(major, minor) of a server's gitVersion (`v1.20.2`, `v1.29.4-gke.1043002`); None when
    it cannot be read."""
    found = re.match(r"v?(\d+)\.(\d+)", git_version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def group_version(plural: str) -> tuple[str, str]:
    """The API group and version of a custom resource: an operator's, else Kubeflow's."""
    operator = BY_PLURAL.get(plural)
    return (operator.group, operator.version) if operator else (GROUP, VERSION)


class Cluster:
    """The calls Axon makes, by plural, on one ApiClient: dicts in, dicts out."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.batch = client.BatchV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.version = client.VersionApi(api_client)

    def server_version(self) -> str:
        """The server's gitVersion (`v1.20.2`); '' when it will not say (403, 404)."""
        try:
            info = read_json("read the server version", self.version.get_code)
        except ApiException as exc:
            if exc.status in (401, 403, 404):
                return ""
            raise
        return str(info.get("gitVersion") or "")

    def list_call(self, plural: str, namespace: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The list function of `plural` and its positional arguments (for lists and watches)."""
        typed: dict[str, Callable[..., Any]] = {
            "jobs": self.batch.list_namespaced_job,
            "pods": self.core.list_namespaced_pod,
            "deployments": self.apps.list_namespaced_deployment,
            "services": self.core.list_namespaced_service,
            "events": self.core.list_namespaced_event,
        }
        if plural in typed:
            return typed[plural], (namespace,)
        group, version = group_version(plural)
        return self.custom.list_namespaced_custom_object, (group, version, namespace, plural)

    def list(self, plural: str, namespace: str, **query: Any) -> dict[str, Any]:
        function, args = self.list_call(plural, namespace)
        found: dict[str, Any] = read_json(f"list {plural}", function, *args, **query)
        return found

    def read(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        typed: dict[str, Callable[..., Any]] = {
            "jobs": self.batch.read_namespaced_job,
            "deployments": self.apps.read_namespaced_deployment,
            "services": self.core.read_namespaced_service,
            "pods": self.core.read_namespaced_pod,
        }
        try:
            if plural in typed:
                found: dict[str, Any] = read_json(f"read {plural}", typed[plural], name, namespace)
            else:
                found = read_json(
                    f"read {plural}",
                    self.custom.get_namespaced_custom_object,
                    *group_version(plural),
                    namespace,
                    plural,
                    name,
                )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create the object; when it exists already (409 AlreadyExists), read it instead.
        Any other refusal raises `Refused` with the server's words."""
        typed: dict[str, Callable[..., Any]] = {
            "jobs": self.batch.create_namespaced_job,
            "deployments": self.apps.create_namespaced_deployment,
            "services": self.core.create_namespaced_service,
        }
        name = body["metadata"]["name"]
        try:
            if plural in typed:
                created: dict[str, Any] = read_json(
                    f"create {plural}", typed[plural], namespace, body
                )
            else:
                created = read_json(
                    f"create {plural}",
                    self.custom.create_namespaced_custom_object,
                    *group_version(plural),
                    namespace,
                    plural,
                    body,
                )
            return created
        except ApiException as exc:
            if exc.status != 409 or status_reason(exc) != "AlreadyExists":
                kind = str(body.get("kind") or plural)
                raise refusal(f"kubernetes refused the {kind} {name}", exc) from exc
        existing = self.read(plural, namespace, name)
        if existing is None:  # deleted between the two calls: a stop won the race
            raise RunnerUnavailable(f"kubernetes: {plural} {name} vanished while submitting")
        return existing

    def annotate(self, plural: str, namespace: str, name: str, annotations: dict[str, str]) -> bool:
        """Merge `annotations` into the object's; False when it does not exist."""
        body = {"metadata": {"annotations": annotations}}
        typed: dict[str, Callable[..., Any]] = {
            "jobs": self.batch.patch_namespaced_job,
            "deployments": self.apps.patch_namespaced_deployment,
        }
        merge = "application/merge-patch+json"
        try:
            if plural in typed:
                read_json(
                    f"patch {plural}", typed[plural], name, namespace, body, _content_type=merge
                )
            else:
                read_json(
                    f"patch {plural}",
                    self.custom.patch_namespaced_custom_object,
                    *group_version(plural),
                    namespace,
                    plural,
                    name,
                    body,
                    _content_type=merge,
                )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete in the background: the garbage collector removes the pods (a Job's default
        propagation would orphan them). An object already gone is fine."""
        options = client.V1DeleteOptions(propagation_policy="Background")
        typed: dict[str, Callable[..., Any]] = {
            "jobs": self.batch.delete_namespaced_job,
            "deployments": self.apps.delete_namespaced_deployment,
            "services": self.core.delete_namespaced_service,
        }
        try:
            if plural in typed:
                read_json(f"delete {plural}", typed[plural], name, namespace, body=options)
            else:
                read_json(
                    f"delete {plural}",
                    self.custom.delete_namespaced_custom_object,
                    *group_version(plural),
                    namespace,
                    plural,
                    name,
                    body=options,
                )
        except ApiException as exc:
            if exc.status != 404:
                raise
