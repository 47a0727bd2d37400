"""A WebSocket to a service goes through the HTTP proxy the Kubernetes client configuration
names (a kubeconfig's `proxy-url`), as its HTTP requests do: a CONNECT tunnel to the API server
(the double's), with the configuration's proxy credentials, then the handshake through it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client

from runners.base import RunnerUnavailable, RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.manifests import Workload, object_name
from runners.kubernetes.service_proxy import open_service
from runners.services import ServiceRequest, ServiceResponse
from tests.fakes.connect_proxy import ConnectProxy
from tests.fakes.kubernetes import KubernetesDouble, fixtures
from tests.fakes.websocket_echo import WebSocketEcho

k8s = fixtures.k8s
PORT = 8888
HANDSHAKE = (
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
)


@pytest.fixture
def echo() -> Iterator[WebSocketEcho]:
    with WebSocketEcho() as pods:
        yield pods


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy(credentials="axon:s3cret") as made:
        yield made


def proxied(k8s: KubernetesDouble, proxy: ConnectProxy, **fields: str) -> client.Configuration:
    """The double's configuration with `proxy` as its kubeconfig's proxy-url, and its
    credentials as the client sends them."""
    configuration = k8s.configuration()
    configuration.proxy = proxy.url
    configuration.proxy_headers = urllib3.make_headers(proxy_basic_auth="axon:s3cret")
    for name, value in fields.items():
        setattr(configuration, name, value)
    return configuration


def notebook(k8s: KubernetesDouble, runner: KubernetesRunner, echo: WebSocketEcho) -> str:
    """A service run submitted through `runner`, its pods the echo; its external id."""
    run_uuid = uuid.uuid4().hex
    component = {
        "kind": "component",
        "run": {"kind": "service", "ports": [PORT], "container": {"image": "jupyter/base"}},
    }
    external_id = runner.submit(
        RunSpec(run_uuid, "notebook", "vision", ["jupyter", "lab"], component=component)
    )
    k8s.serve_service(object_name(run_uuid), PORT, echo.port)
    return external_id


def frame(text: str) -> bytes:
    """A client's masked text frame (RFC 6455 5.2), short enough for a 7-bit length."""
    mask, payload = os.urandom(4), text.encode()
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def echoed(answer: ServiceResponse, text: str) -> bytes:
    """Send `text` as a frame on the upgraded connection and read the frame back whole."""
    assert answer.upgraded is not None, answer.status
    sock = answer.upgraded.sock
    sock.sendall(frame(text))
    data = answer.upgraded.early
    while len(data) < 2 + len(text):
        chunk = sock.recv(100)
        assert chunk, "the connection closed before the echo came back"
        data += chunk
    return data


def test_the_upgrade_goes_through_the_configurations_proxy_and_echoes_end_to_end(k8s, proxy, echo):
    with KubernetesRunner(configuration=proxied(k8s, proxy), collect_outputs=False) as runner:
        external_id = notebook(k8s, runner, echo)
        request = ServiceRequest("GET", "/api/kernels/k1/channels", "s=1", HANDSHAKE, upgrade=True)

        answer = runner.open_service(external_id, request)
        try:
            back = echoed(answer, "execute_request")
        finally:
            answer.close()

    api_server = k8s.url.removeprefix("http://")
    assert proxy.connects() == [api_server]
    [tunnel] = [asked for asked in proxy.asked if asked.method == "CONNECT"]
    assert tunnel.headers["proxy-authorization"] == "Basic " + "YXhvbjpzM2NyZXQ="
    assert answer.status == 101
    assert back == bytes([0x81, len("execute_request")]) + b"execute_request"
    assert echo.seen[-1].target == "/api/kernels/k1/channels?s=1"


def test_a_proxy_that_refuses_the_tunnel_leaves_the_api_server_unreachable_saying_why(
    k8s, proxy, echo
):
    with KubernetesRunner(configuration=proxied(k8s, proxy), collect_outputs=False) as runner:
        external_id = notebook(k8s, runner, echo)
    wrong = proxied(k8s, proxy)
    wrong.proxy_headers = urllib3.make_headers(proxy_basic_auth="axon:wrong")
    request = ServiceRequest("GET", "/ws", upgrade=True)

    with pytest.raises(RunnerUnavailable) as raised:
        open_service(client.ApiClient(wrong), Workload.parse(external_id), request)

    assert "407 Proxy Authentication Required" in str(raised.value)
    assert echo.seen == []


def test_an_api_server_no_proxy_names_is_reached_directly(k8s, proxy, echo):
    configuration = proxied(k8s, proxy, no_proxy="127.0.0.1")
    with KubernetesRunner(configuration=configuration, collect_outputs=False) as runner:
        external_id = notebook(k8s, runner, echo)
        answer = runner.open_service(
            external_id, ServiceRequest("GET", "/ws", headers=HANDSHAKE, upgrade=True)
        )
        try:
            back = echoed(answer, "hi")
        finally:
            answer.close()

    assert back == b"\x81\x02hi"
    assert proxy.asked == []


def test_a_proxy_that_cannot_open_a_tunnel_is_refused_naming_it(k8s):
    configuration = k8s.configuration()
    configuration.proxy = "socks5://127.0.0.1:1080"
    request = ServiceRequest("GET", "/ws", upgrade=True)

    with pytest.raises(RunnerUnavailable) as raised:
        open_service(
            client.ApiClient(configuration), Workload("default", "deployments", "x"), request
        )

    assert str(raised.value) == (
        "the client configuration's proxy socks5://127.0.0.1 cannot carry a WebSocket to a "
        "service: only an http:// proxy (HTTP CONNECT) can"
    )
