"""Reach a service run's pods through the API server's service proxy.

`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}`, with the runner's own client
configuration (its host, TLS and credentials), so Axon reaches a ClusterIP Service from outside
the cluster as well as from inside. The identity needs `get` and `create` (and the other verbs
the service is sent) on `services/proxy`. Bodies stream both ways: nothing is read whole.

A WebSocket handshake goes on a connection of its own, opened with the same host, TLS settings
and token: the API server forwards the upgrade and, once the pod answers 101, relays the raw
stream. When the configuration names an HTTP proxy (a kubeconfig's `proxy-url`, unless its
`no_proxy` names the API server), that connection is a tunnel the proxy opens (CONNECT), with
the configuration's `proxy_headers` (its Proxy-Authorization); TLS to the API server then runs
inside the tunnel. Only an `http://` proxy can open one here: any other is refused, naming it.

The API server's own 403 (its RBAC refuses the identity the verb on `services/proxy`) becomes
`ServiceForbidden`, naming the verb, the namespace and the chart's value that grants it, with
the server's message; a 403 the service itself sends passes through as it is.
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import certifi
import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException, should_bypass_proxies

from runners import upgrade
from runners.base import RunnerUnavailable
from runners.kubernetes.api import REQUEST_TIMEOUT
from runners.kubernetes.manifests import Workload
from runners.services import (
    ServiceForbidden,
    ServiceRequest,
    ServiceResponse,
    ServiceUnreachable,
)
from runners.upgrade import HOP_BY_HOP

CHUNK = 64 * 1024
# The API server answers these itself (a Status) when the Service or its pods are missing.
UNREACHABLE = {404: "the run's Service does not exist", 503: "the run's service has no ready pod"}
# The verb the API server authorizes a proxied request's method as (its RequestInfo's mapping).
METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update"}
METHOD_VERBS |= {"PATCH": "patch", "DELETE": "delete"}


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
    if request.upgrade:
        return _open_upgrade(api_client, workload, path, request, headers)
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
    if answer.status in UNREACHABLE or answer.status == 403:
        first = answer.read(CHUNK, decode_content=False)
        content_type = answer.headers.get("Content-Type", "")
        refused = _is_api_status(content_type, first) and _refused(
            api_client, workload, request.method, answer.status, first
        )
        if refused:
            answer.release_conn()
            raise refused
    kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
    return ServiceResponse(answer.status, kept, _chunks(answer, first), answer.release_conn)


def _open_upgrade(
    api_client: client.ApiClient,
    workload: Workload,
    path: str,
    request: ServiceRequest,
    headers: dict[str, str],
) -> ServiceResponse:
    """The service's answer to a WebSocket handshake: a 101 with the connection, or its
    refusal, mapped like the HTTP path's answers."""
    configuration = api_client.configuration
    where = urlsplit(configuration.host)
    tls = where.scheme == "https"
    port = where.port or (443 if tls else 80)
    target = path + (f"?{request.query}" if request.query else "")
    sent = [(k, v) for k, v in headers.items() if k.lower() != "content-length"]
    try:
        sock = _connection(configuration, where.hostname or "", port)
        if tls:
            name = configuration.tls_server_name or where.hostname
            sock = tls_context(configuration).wrap_socket(sock, server_hostname=name)
        answer = upgrade.handshake(sock, target, where.netloc, sent, REQUEST_TIMEOUT[1])
    except OSError as exc:  # ssl.SSLError and a malformed answer included
        raise RunnerUnavailable(f"the Kubernetes API server cannot be reached: {exc}") from exc
    if answer.status in UNREACHABLE or answer.status == 403:
        first = next(answer.body, b"")
        content_type = next((v for k, v in answer.headers if k.lower() == "content-type"), "")
        refused = _is_api_status(content_type, first) and _refused(
            api_client, workload, request.method, answer.status, first
        )
        if refused:
            answer.close()
            raise refused
        answer.body = itertools.chain([first], answer.body)
    return answer


def _connection(configuration: client.Configuration, host: str, port: int) -> socket.socket:
    """A connection to the API server: straight, or through the configuration's HTTP proxy as
    its HTTP path goes (`proxy`, unless `no_proxy` names the API server)."""
    proxy = configuration.proxy
    if not proxy or should_bypass_proxies(configuration.host, configuration.no_proxy or ""):
        return socket.create_connection((host, port), timeout=REQUEST_TIMEOUT[0])
    where = urlsplit(proxy)
    if where.scheme != "http" or not where.hostname:
        raise RunnerUnavailable(
            f"the client configuration's proxy {where.scheme}://{where.hostname or ''} cannot "
            "carry a WebSocket to a service: only an http:// proxy (HTTP CONNECT) can"
        )
    sock = socket.create_connection((where.hostname, where.port or 80), timeout=REQUEST_TIMEOUT[0])
    upgrade.tunnel(sock, host, port, configuration.proxy_headers or {}, REQUEST_TIMEOUT[1])
    return sock


def tls_context(configuration: client.Configuration) -> ssl.SSLContext:
    """TLS as the client configuration says, as the kubernetes client's own WebSocket
    connections (`kubernetes.stream`) read it: its CA (else certifi's), its client
    certificate, `verify_ssl` and `assert_hostname`."""
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or certifi.where())
        if configuration.assert_hostname is False:
            context.check_hostname = False
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


def _unreachable_status(api_client: client.ApiClient, workload: Workload, status: int) -> int:
    """The API server's own 404 or 503 for the proxy, corrected: a real one (seen on 1.20) also
    says `services "x" not found` for a Service that exists but has no Endpoints object yet,
    whose pods are not ready to be listed."""
    if status == 404 and _service_exists(api_client, workload):
        return 503
    return status


def _service_exists(api_client: client.ApiClient, workload: Workload) -> bool:
    try:
        client.CoreV1Api(api_client).read_namespaced_service(
            workload.name, workload.namespace, _request_timeout=REQUEST_TIMEOUT
        )
    except (ApiException, urllib3.exceptions.HTTPError, ValueError):
        return False  # gone, or not to be told: the proxy's own answer stands
    return True


def _refused(
    api_client: client.ApiClient, workload: Workload, method: str, status: int, first: bytes
) -> Exception | None:
    """What the API server's own Status `first` means for the caller: the service cannot be
    reached (404, 503), or Axon's account may not reach it (403 Forbidden, in words that say
    what to grant); None for any other answer, which goes back as the service's."""
    if status in UNREACHABLE:
        return ServiceUnreachable(UNREACHABLE[_unreachable_status(api_client, workload, status)])
    try:
        said = json.loads(first)
    except ValueError:
        return None
    if status != 403 or not isinstance(said, dict) or said.get("reason") != "Forbidden":
        return None
    verb = METHOD_VERBS.get(method.upper(), method.lower())
    return ServiceForbidden(
        f"the Kubernetes API server does not allow Axon's account to {verb} services/proxy "
        f"in namespace {workload.namespace} ({said.get('message') or 'Forbidden'}); grant it "
        "with a Role bound to that account: the Helm chart's runner Role does "
        "(rbac.create: true)"
    )


def _is_api_status(content_type: str, first: bytes) -> bool:
    """Whether the API server answered itself (a `Status`), not the service through it."""
    if not content_type.startswith("application/json"):
        return False
    return b'"kind":"Status"' in first.replace(b" ", b"")


def _chunks(answer: urllib3.BaseHTTPResponse, first: bytes) -> Iterator[bytes]:
    try:
        if first:
            yield first
        yield from answer.stream(CHUNK, decode_content=False)
    finally:
        answer.release_conn()
