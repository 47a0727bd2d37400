"""A notebook's kernels connect through Axon: a WebSocket to `/runs/<uuid>/service/…` goes
through the API as production serves it (gunicorn's gthread worker), the Kubernetes runner and
the API server's service proxy (the double's) to the service's pods, a WebSocket echo on
loopback, and every frame comes back; closing on either side closes the other.

Axon runs in production mode (gunicorn, worker and agent on PostgreSQL and RabbitMQ) with
`AXON_RUNNER=kubernetes` and a kubeconfig pointing at the double.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from runners.kubernetes.manifests import object_name
from tests.e2e import test_kubernetes
from tests.e2e.harness import Axon
from tests.fakes.kubernetes import KubernetesDouble, PodScript
from tests.fakes.websocket_echo import WebSocketEcho
from tests.waiting import wait_for

PORT = 8888
FOREVER = PodScript(duration=None, logs=["serving"])
PENDING = PodScript(unschedulable="0/3 nodes are available: 3 Insufficient cpu.")
KERNEL = "/api/kernels/k1/channels?session_id=s1"
JUPYTER = "v1.kernel.websocket.jupyter.org"


# The production stack on the double's cluster, as the Kubernetes end-to-end tests run it.
k8s = test_kubernetes.k8s
axon = test_kubernetes.axon


@pytest.fixture(scope="module")
def pods() -> Iterator[WebSocketEcho]:
    with WebSocketEcho() as echo:
        yield echo


def start_service(axon: Axon, k8s: KubernetesDouble, script: PodScript) -> str:
    """A notebook-like service run (rewritePath) in a project of its own; its uuid."""
    project = f"ws{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    k8s.script(f"axon.dev/project={project}", script)
    operation = {
        "version": 1.1,
        "kind": "operation",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "notebook",
            "run": {
                "kind": "service",
                "ports": [PORT],
                "rewritePath": True,
                "container": {"image": "jupyter/base-notebook", "command": ["jupyter", "lab"]},
            },
        },
    }
    created = axon.api("POST", f"/api/v1/projects/{project}/runs", json={"content": operation})
    assert created.status_code == 201, created.text
    return str(created.json()["uuid"])


@pytest.fixture(scope="module")
def notebook(axon: Axon, k8s: KubernetesDouble, pods: WebSocketEcho) -> str:
    """A running service run whose pods are the echo."""
    run = start_service(axon, k8s, FOREVER)
    axon.wait_for_status(run, "running", timeout=60)
    k8s.serve_service(object_name(run), PORT, pods.port)
    return run


def url(axon: Axon, run: str, path: str = KERNEL) -> str:
    return axon.url.replace("http://", "ws://") + f"/runs/{run}/service{path}"


def connect(axon: Axon, run: str, path: str = KERNEL, **options: Any) -> websocket.WebSocket:
    auth = [f"Authorization: Bearer {axon.token}"]
    return websocket.create_connection(url(axon, run, path), header=auth, timeout=10, **options)


def refusal(axon: Axon, run: str, **options: Any) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(url(axon, run), timeout=10, **options)
    return caught.value


def test_text_and_binary_frames_reach_the_service_and_come_back(axon, notebook, pods):
    before = len(pods.seen)
    ws = connect(axon, notebook, subprotocols=[JUPYTER])

    ws.send("execute_request")
    text = ws.recv()
    ws.send_binary(bytes(range(256)) * 300)  # larger than one read, both ways
    binary = ws.recv()
    ws.close()

    assert text == "execute_request" and binary == bytes(range(256)) * 300
    assert ws.getsubprotocol() == JUPYTER
    seen = pods.seen[before]
    assert seen.target == KERNEL  # the prefix stripped, as rewritePath asks
    assert "authorization" not in seen.headers and "origin" not in seen.headers
    assert seen.headers["x-forwarded-prefix"] == f"/runs/{notebook}/service"


def test_a_close_from_the_browser_reaches_the_service(axon, notebook, pods):
    before = len(pods.seen)
    closing, dropping = connect(axon, notebook), connect(axon, notebook)

    closing.close(status=1000)
    dropping.sock.shutdown(socket.SHUT_RDWR)  # the tab is gone: no close frame, only TCP
    dropping.sock.close()

    ended = lambda: {s.ended for s in pods.seen[before:]} == {"close frame", "eof"}  # noqa: E731
    wait_for(ended, 10, message=lambda: f"both ends seen by the service: {pods.seen[before:]}")


def test_a_close_from_the_service_reaches_the_browser(axon, notebook):
    ws = connect(axon, notebook)

    ws.send("close")
    frame = ws.recv_frame()

    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert frame.data[:2] == (1000).to_bytes(2, "big") and frame.data[2:] == b"bye"
    ws.sock.settimeout(10)
    assert ws.sock.recv(1) == b""  # and the connection itself is closed
    ws.sock.close()


def test_without_credentials_or_from_a_foreign_origin_it_is_refused_before_the_upgrade(
    axon, notebook, pods
):
    before = len(pods.seen)
    auth = [f"Authorization: Bearer {axon.token}"]

    anonymous = refusal(axon, notebook)
    foreign = refusal(axon, notebook, header=auth, origin="https://evil.example")
    wrong = refusal(axon, notebook, header=["Authorization: Bearer not-a-token"])

    assert anonymous.status_code == wrong.status_code == 401
    assert foreign.status_code == 403 and b"own pages" in (foreign.resp_body or b"")
    assert len(pods.seen) == before  # none of them reached the service


def test_a_service_not_running_yet_answers_409(axon, k8s):
    waiting = start_service(axon, k8s, PENDING)
    axon.wait_for_status(waiting, "unschedulable", timeout=60)

    answer = refusal(axon, waiting, header=[f"Authorization: Bearer {axon.token}"])

    assert answer.status_code == 409 and b"not running yet" in (answer.resp_body or b"")


def test_a_handshake_the_service_refuses_comes_back_as_its_answer(axon, notebook, pods):
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        connect(axon, notebook, path="/refuse")

    assert caught.value.status_code == 403
    assert pods.seen[-1].ended == "refused"
