"""The runner's side of a WebSocket to a service: the handshake it sends, how it reads the
answer (a 101 hands the connection over with what followed it; anything else streams as an
ordinary answer), and TLS as the Kubernetes client configuration says."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from runners import upgrade
from runners.base import RunnerUnavailable
from runners.kubernetes.manifests import Workload
from runners.kubernetes.service_proxy import open_service, tls_context
from runners.services import ServiceRequest
from tests.fakes.smtp import Certificate


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def answer_with(theirs: socket.socket, data: bytes) -> threading.Thread:
    """The other end: reads the request head, then sends `data` and closes its writing side."""

    def serve() -> None:
        upgrade.read_head(theirs)
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_handshake_sets_its_own_connection_fields_and_drops_the_callers():
    head = upgrade.request_head(
        "/api/v1/x/proxy/ws?a=1",
        "k8s.example:6443",
        [
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Connection", "keep-alive"),
            ("Host", "axon.example"),
            ("Content-Length", "0"),
            ("X-Injected", "a\r\nAuthorization: Bearer stolen"),
        ],
    ).decode()

    assert head.startswith("GET /api/v1/x/proxy/ws?a=1 HTTP/1.1\r\nHost: k8s.example:6443\r\n")
    assert "Connection: Upgrade\r\nUpgrade: websocket\r\n" in head
    assert "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" in head
    assert "keep-alive" not in head and "axon.example" not in head
    assert "Content-Length" not in head and "stolen" not in head
    assert head.endswith("\r\n\r\n")


def test_a_101_hands_over_the_connection_with_the_bytes_that_followed_it(pair):
    ours, theirs = pair
    switched = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello"
    )
    server = answer_with(theirs, switched)

    answer = upgrade.handshake(ours, "/ws", "k8s", [], wait=5)
    server.join(5)

    assert answer.status == 101 and answer.upgraded is not None
    assert answer.headers == [("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]
    assert answer.upgraded.early == b"\x81\x05hello"
    assert answer.upgraded.sock is ours


def test_a_refusal_streams_back_as_an_ordinary_answer_chunked_or_not(pair):
    ours, theirs = pair
    refused = (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n4\r\nnot \r\n7\r\nallowed\r\n0\r\n\r\n"
    )
    server = answer_with(theirs, refused)

    answer = upgrade.handshake(ours, "/ws", "k8s", [], wait=5)
    server.join(5)

    assert answer.status == 403 and answer.upgraded is None
    assert answer.headers == [("Content-Type", "text/plain")]
    assert b"".join(answer.body) == b"not allowed"


def test_an_answer_that_is_not_http_fails_and_closes_the_connection(pair):
    ours, theirs = pair
    server = answer_with(theirs, b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    with pytest.raises(upgrade.BadAnswer, match="not an HTTP/1.1 status line"):
        upgrade.handshake(ours, "/ws", "k8s", [], wait=5)
    server.join(5)

    assert ours.fileno() == -1


def test_a_connection_closed_before_the_headers_end_fails(pair):
    ours, theirs = pair
    server = answer_with(theirs, b"HTTP/1.1 101 Switching Protocols\r\nUpgr")

    with pytest.raises(upgrade.BadAnswer, match="closed before"):
        upgrade.handshake(ours, "/ws", "k8s", [], wait=5)
    server.join(5)


def test_tls_follows_the_client_configuration():
    verified = client.Configuration()
    unverified = client.Configuration()
    unverified.verify_ssl = False
    no_name_check = client.Configuration()
    no_name_check.assert_hostname = False

    assert tls_context(verified).verify_mode == ssl.CERT_REQUIRED
    assert tls_context(verified).check_hostname is True
    assert tls_context(unverified).verify_mode == ssl.CERT_NONE
    assert tls_context(no_name_check).check_hostname is False
    assert tls_context(no_name_check).verify_mode == ssl.CERT_REQUIRED


class TlsApiServer:
    """An API server on loopback TLS that wants a client certificate: it records the handshake
    it is sent and switches protocols, sending `early` right behind its 101."""

    def __init__(self, cert: Certificate, early: bytes) -> None:
        context = cert.server_context()
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cert.path)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.head = b""
        self.client_cert: Any = None
        self.failed: list[Exception] = []
        self.thread = threading.Thread(target=self._serve, args=(context, early), daemon=True)
        self.thread.start()

    def _serve(self, context: ssl.SSLContext, early: bytes) -> None:
        raw, _ = self.listener.accept()
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                self.client_cert = conn.getpeercert()
                self.head, _ = upgrade.read_head(conn)  # type: ignore[arg-type]
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + early)
                conn.sendall(conn.recv(100))  # one echo, then close
        except (OSError, ssl.SSLError) as exc:
            self.failed.append(exc)
        finally:
            self.listener.close()


def test_the_upgrade_uses_the_configurations_tls_client_certificate_and_token(tmp_path):
    cert = Certificate.make(tmp_path)
    server = TlsApiServer(cert, early=b"ready")
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{server.port}"
    configuration.ssl_ca_cert, configuration.cert_file = str(cert.path), str(cert.path)
    configuration.key_file = str(cert.key)
    configuration.api_key = {"authorization": "Bearer cluster-token"}
    api = client.ApiClient(configuration)
    sent = ServiceRequest(
        "GET", "/ws", "q=1", (("Sec-WebSocket-Key", "k=="),), None, port=8888, upgrade=True
    )

    answer = open_service(api, Workload("ns", "deployments", "axon-x"), sent)
    assert answer.upgraded is not None
    answer.upgraded.sock.sendall(b"ping")
    echoed = answer.upgraded.sock.recv(100)
    answer.close()
    server.thread.join(5)

    head = server.head.decode()
    assert not server.failed and server.client_cert is not None
    assert head.startswith("GET /api/v1/namespaces/ns/services/axon-x:8888/proxy/ws?q=1 ")
    assert "authorization: bearer cluster-token\r\n" in head.lower()
    assert "Sec-WebSocket-Key: k==\r\n" in head
    assert (answer.upgraded.early, echoed) == (b"ready", b"ping")


def test_an_api_server_whose_certificate_is_not_trusted_is_unreachable(tmp_path):
    cert = Certificate.make(tmp_path)
    server = TlsApiServer(cert, early=b"")
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{server.port}"  # no CA: certifi's do not sign it
    sent = ServiceRequest("GET", "/ws", upgrade=True)

    with pytest.raises(RunnerUnavailable, match="cannot be reached"):
        open_service(client.ApiClient(configuration), Workload("ns", "deployments", "x"), sent)
    server.thread.join(5)
