"""WebSocket handshakes to a service run: who may open one, what of the browser's request goes
on, and what a server that cannot hand over its connections answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import request

from ci.api import service_upgrade
from ci.identity.roles import Role
from tests.ci.identity_world import grant, make_user
from tests.ci.test_service_proxy import pod, runner, serve  # noqa: F401  (fixtures)
from tests.fakes.kubernetes.fixtures import k8s  # noqa: F401  (a fixture)
from tests.waiting import wait_for

HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def test_under_a_server_that_keeps_its_connections_a_handshake_answers_501(client, serve):  # noqa: F811
    uuid = serve()

    answer = client.get(f"/runs/{uuid}/service/api/kernels", headers=HANDSHAKE)

    assert answer.status_code == 501, answer.get_data(as_text=True)
    assert "gunicorn" in answer.json["detail"]


def test_a_handshake_from_another_sites_page_is_refused_before_anything_else(client, serve):  # noqa: F811
    uuid = serve()

    foreign = client.get(
        f"/runs/{uuid}/service/", headers={**HANDSHAKE, "Origin": "https://evil.example"}
    )
    public = client.get(
        f"/runs/{uuid}/service/", headers={**HANDSHAKE, "Origin": "http://axon.test"}
    )

    assert foreign.status_code == 403 and "own pages" in foreign.json["detail"]
    assert public.status_code == 501  # past the check: AXON_PUBLIC_URL's origin is ours


def test_a_handshake_needs_the_same_access_and_state_as_a_request(client, anonymous_client, serve):  # noqa: F811
    running, waiting, ended = serve(), serve(status="scheduled"), serve(status="succeeded")
    assert client.post("/api/v1/projects", json={"name": "other"}).status_code == 201
    stranger = make_user(client, "stranger")
    grant(client, "other", "stranger", Role.ADMIN)
    browser = {**HANDSHAKE, "Sec-Fetch-Mode": "websocket"}

    anonymous = anonymous_client.get(f"/runs/{running}/service/", headers=browser)
    refused = anonymous_client.get(
        f"/runs/{running}/service/", headers={**HANDSHAKE, "Authorization": f"Bearer {stranger}"}
    )
    early = client.get(f"/runs/{waiting}/service/", headers=HANDSHAKE)
    gone = client.get(f"/runs/{ended}/service/", headers=HANDSHAKE)

    assert anonymous.status_code == 401  # a script's answer, not the login page
    assert refused.status_code == 403
    assert early.status_code == 409 and gone.status_code == 404


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", {"Connection": "Upgrade", "Upgrade": "websocket"}, True),
        ("GET", {"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"}, True),
        ("GET", {"Upgrade": "websocket"}, False),  # no Connection: upgrade
        ("GET", {"Connection": "Upgrade", "Upgrade": "h2c"}, False),
        ("POST", {"Connection": "Upgrade", "Upgrade": "websocket"}, False),
    ],
)
def test_what_counts_as_a_websocket_handshake(app, method, headers, expected):
    with app.test_request_context("/", method=method, headers=headers):
        assert service_upgrade.requested(request) is expected


@pytest.fixture
def ends() -> Iterator[tuple[socket.socket, socket.socket, socket.socket, socket.socket]]:
    """(browser, our client side, our service side, service): two connections to relay."""
    browser, client_side = socket.socketpair()
    service_side, service = socket.socketpair()
    browser.settimeout(5)
    service.settimeout(5)
    yield browser, client_side, service_side, service
    for sock in (browser, client_side, service_side, service):
        sock.close()


def relaying(client_side: socket.socket, service_side: socket.socket, **kw: Any) -> list[str]:
    ended: list[str] = []

    def run() -> None:
        ended.append(service_upgrade.relay(client_side, service_side, **kw))

    threading.Thread(target=run, daemon=True).start()
    return ended


def test_the_relay_copies_both_ways_and_sends_what_came_early_first(ends):
    browser, client_side, service_side, service = ends
    ended = relaying(client_side, service_side, idle=10, early=b"first")

    service.sendall(b" then")
    browser.sendall(b"x" * 200_000)
    got = b""
    while len(got) < 200_000:
        got += service.recv(65536)
    browser.shutdown(socket.SHUT_WR)
    early = b""
    while len(early) < len(b"first then"):
        early += browser.recv(10)

    assert early == b"first then"
    assert got == b"x" * 200_000
    assert wait_for(lambda: ended, 5, message="the relay's end") == ["the client closed"]


def test_the_relay_ends_when_the_service_closes_or_nothing_moves(ends):
    browser, client_side, service_side, service = ends
    closed = relaying(client_side, service_side, idle=10)
    service.close()
    assert wait_for(lambda: closed, 5, message="the relay's end") == ["the service closed"]

    quiet_a, quiet_b = socket.socketpair()
    quiet_c, quiet_d = socket.socketpair()
    try:
        idle = relaying(quiet_b, quiet_c, idle=0.2)
        assert wait_for(lambda: idle, 5, message="the idle bound") == ["idle for 0.2s"]
    finally:
        for sock in (quiet_a, quiet_b, quiet_c, quiet_d):
            sock.close()
