"""The double's service proxy answers the official client as a real API server does: it
forwards to the Service's pods (a loopback server here), and says 404 or 503 when it cannot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import websocket
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes.double import KubernetesDouble
from tests.fakes.kubernetes.fixtures import NS, api, core, k8s, status_of  # noqa: F401
from tests.fakes.websocket_echo import WebSocketEcho
from tests.waiting import wait_for


class Echo(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = f"{self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def pods() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def service(core: client.CoreV1Api, name: str) -> None:  # noqa: F811
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 6006, "targetPort": 6006}]},
    }
    core.create_namespaced_service(NS, body)


def test_the_service_proxy_forwards_the_path_to_the_pods(k8s, core, pods):  # noqa: F811
    service(core, "board")
    k8s.serve_service("board", 6006, pods)

    answer = core.connect_get_namespaced_service_proxy_with_path("board:6006", NS, "data/runs")

    assert answer == "GET /data/runs"


def test_a_missing_service_is_a_404_status(core):  # noqa: F811
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("nothing:80", NS, "x")

    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'services "nothing" not found'


def test_a_service_whose_pods_nobody_serves_is_a_503(k8s: KubernetesDouble, core):  # noqa: F811
    service(core, "idle")

    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("idle:6006", NS, "x")

    assert caught.value.status == 503
    assert "no endpoints available" in status_of(caught.value)["message"]


def test_an_upgrade_reaches_the_pods_and_the_stream_is_relayed_both_ways(k8s, core):  # noqa: F811
    service(core, "notebook")
    with WebSocketEcho() as pods:
        k8s.serve_service("notebook", 6006, pods.port)
        url = k8s.url.replace("http", "ws") + f"/api/v1/namespaces/{NS}/services"
        ws = websocket.create_connection(f"{url}/notebook:6006/proxy/kernels?x=1", timeout=5)

        ws.send("hello")
        echoed = ws.recv()
        ws.send_binary(b"\x00\xff")
        binary = ws.recv()
        ws.close()

        assert (echoed, binary) == ("hello", b"\x00\xff")
        assert pods.seen[0].target == "/kernels?x=1"
        wait_for(lambda: pods.seen[0].ended == "close frame", 5, message="the close frame")


def test_a_refused_upgrade_comes_back_as_the_pods_answer(k8s, core):  # noqa: F811
    service(core, "refusing")
    with WebSocketEcho() as pods:
        k8s.serve_service("refusing", 6006, pods.port)
        url = k8s.url.replace("http", "ws") + f"/api/v1/namespaces/{NS}/services"

        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            websocket.create_connection(f"{url}/refusing:6006/proxy/refuse", timeout=5)

    assert caught.value.status_code == 403
