"""Reach a service run's pods through the API server's service proxy.

`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}`, with the runner's own client
configuration (its host, TLS and credentials), so Axon reaches a ClusterIP Service from outside
the cluster as well as from inside. The identity needs `get` and `create` (and the other verbs
the service is sent) on `services/proxy`. Bodies stream both ways: nothing is read whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import urllib3
from kubernetes import client

from runners.base import RunnerUnavailable
from runners.kubernetes.api import REQUEST_TIMEOUT
from runners.kubernetes.manifests import Workload
from runners.services import ServiceRequest, ServiceResponse, ServiceUnreachable

CHUNK = 64 * 1024
# The API server answers these itself (a Status) when the Service or its pods are missing.
UNREACHABLE = {404: "the run's Service does not exist", 503: "the run's service has no ready pod"}
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, never to the next.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
) | {"upgrade", "host", "content-length"}


def proxy_path(workload: Workload, port: int | None, path: str) -> str:
    """The API server's proxy path for `path` on the Service's `port` (None: its first)."""
    name = f"{workload.name}:{port}" if port else workload.name
    where = quote(path.lstrip("/"), safe="/%:@!$&'()*+,;=-._~")
    return f"/api/v1/namespaces/{workload.namespace}/services/{name}/proxy/{where}"


def open_service(
    api_client: client.ApiClient, workload: Workload, request: ServiceRequest
) -> ServiceResponse:
    """The service's answer to `request`, its body still unread."""
    if workload.kind != "service":
        raise ServiceUnreachable(f"a {workload.kind} serves no HTTP service; only a service does")
    path = proxy_path(workload, request.port, request.path)
    headers = {k: v for k, v in request.headers if k.lower() not in HOP_BY_HOP}
    length = next((v for k, v in request.headers if k.lower() == "content-length"), None)
    if length is not None:
        headers["Content-Length"] = length
    api_client.update_params_for_auth(headers, [], ["BearerToken"], path, request.method, None)
    url = api_client.configuration.host.rstrip("/") + path
    if request.query:
        url += "?" + request.query
    try:
        answer = api_client.rest_client.pool_manager.urlopen(
            request.method,
            url,
            body=request.body if request.body is not None else None,
            headers=headers,
            chunked=request.body is not None and length is None,
            preload_content=False,
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(connect=REQUEST_TIMEOUT[0], read=None),
        )
    except urllib3.exceptions.HTTPError as exc:
        raise RunnerUnavailable(f"the Kubernetes API server cannot be reached: {exc}") from exc
    first = b""
    if answer.status in UNREACHABLE:
        first = answer.read(CHUNK, decode_content=False)
        if _is_api_status(answer, first):
            answer.release_conn()
            raise ServiceUnreachable(UNREACHABLE[answer.status])
    kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
    return ServiceResponse(answer.status, kept, _chunks(answer, first), answer.release_conn)


def _is_api_status(answer: urllib3.BaseHTTPResponse, first: bytes) -> bool:
    """Whether the API server answered itself (a `Status`), not the service through it."""
    if not answer.headers.get("Content-Type", "").startswith("application/json"):
        return False
    return b'"kind":"Status"' in first.replace(b" ", b"")


def _chunks(answer: urllib3.BaseHTTPResponse, first: bytes) -> Iterator[bytes]:
    try:
        if first:
            yield first
        yield from answer.stream(CHUNK, decode_content=False)
    finally:
        answer.release_conn()
