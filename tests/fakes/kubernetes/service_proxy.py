"""The API server's service proxy: `/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}`.

A real server forwards to a ready pod behind the Service; here a test says which loopback HTTP
server stands for the Service's pods (`KubernetesDouble.serve_service`). As on a real server, a
Service that does not exist is a 404 Status, a port the Service does not declare is a 503
("no endpoints available"), and so is a Service whose pods nobody serves yet. An upgrade (a
WebSocket handshake) goes to the pods on a connection of its own and what comes back, a 101 and
the stream behind it or a refusal, is copied to the client raw until either side closes, as the
real server's UpgradeAwareHandler does.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.kubernetes.status import ApiError
from tests.fakes.kubernetes.store import Store

PROXY_PATH = re.compile(
    r"/api/v1/namespaces/(?P<namespace>[^/]+)/services/(?P<service>[^/]+)/proxy(?P<path>/.*)?"
)
# Hop-by-hop headers (RFC 9110 7.6.1) stay on their own connection.
HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)
HOP |= {"upgrade", "host", "content-length"}


class ServiceBackends:
    """Which loopback port stands for the pods behind `(namespace, service, port)`."""

    def __init__(self) -> None:
        self.ports: dict[tuple[str, str, int], int] = {}

    def proxy(self, request: Request, store: Store) -> Callable[..., Any] | None:
        """The forwarded answer, or None for a path that is not the service proxy's."""
        match = PROXY_PATH.fullmatch(request.path)
        if match is None:
            return None
        namespace, named = match["namespace"], match["service"]
        name, _, port_text = named.partition(":")
        service = store.get("services", namespace, name)
        if service is None:
            raise ApiError(404, "NotFound", f'services "{name}" not found')
        declared = [int(p["port"]) for p in service["spec"].get("ports") or ()]
        port = int(port_text) if port_text.isdigit() else (declared[0] if declared else 0)
        local = self.ports.get((namespace, name, port))
        if port not in declared or local is None:
            why = f'no endpoints available for service "{name}"'
            raise ApiError(503, "ServiceUnavailable", why)
        if _is_upgrade(request):
            return _Upgrade(request, local, match["path"] or "/")
        return _forward(request, local, match["path"] or "/")


def _forward(request: Request, local: int, path: str) -> Response:
    query = request.query_string.decode()
    target = path + (f"?{query}" if query else "")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    body = request.get_data() if request.method not in ("GET", "HEAD") else None
    connection = http.client.HTTPConnection("127.0.0.1", local, timeout=30)
    try:
        connection.request(request.method, target, body=body, headers=headers)
        answer = connection.getresponse()
    except OSError as exc:
        connection.close()
        raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: {exc}") from exc
    # The double's own server writes these, as the API server's does.
    kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP | {"server", "date"}]
    return Response(_chunks(answer, connection), answer.status, headers=kept)


def _chunks(answer: http.client.HTTPResponse, connection: Any) -> Iterator[bytes]:
    try:
        while chunk := answer.read1(64 * 1024):
            yield chunk
    finally:
        connection.close()


def _is_upgrade(request: Request) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return "upgrade" in tokens and bool(request.headers.get("Upgrade"))


class _Upgrade:
    """The WSGI application for one upgrade: it takes the client's connection from the server
    (`werkzeug.socket`) and hands it back closed."""

    def __init__(self, request: Request, local: int, path: str) -> None:
        self.request, self.local, self.path = request, local, path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            pod = socket.create_connection(("127.0.0.1", self.local), timeout=30)
        except OSError as exc:
            error = ApiError(503, "ServiceUnavailable", f"error trying to reach service: {exc}")
            return Response(json.dumps(error.body()), 503, content_type="application/json")(
                environ, start_response
            )
        query = self.request.query_string.decode()
        lines = [f"{self.request.method} {self.path}{'?' + query if query else ''} HTTP/1.1"]
        lines.append(f"Host: 127.0.0.1:{self.local}")
        # The API server consumes its own credentials; the upgrade's own fields go on.
        for key, value in self.request.headers.items():
            if key.lower() not in {"host", "authorization"}:
                lines.append(f"{key}: {value}")
        pod.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        pod.settimeout(None)
        _pipe(environ["werkzeug.socket"], pod)
        # werkzeug drops a connection whose application raises this, writing nothing more.
        raise ConnectionError("the upgraded connection ended")


def _pipe(client: socket.socket, pod: socket.socket) -> None:
    """Copy both ways until one side closes, then close both."""

    def copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(64 * 1024):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, pod):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    back = threading.Thread(target=copy, args=(pod, client), daemon=True)
    back.start()
    copy(client, pod)
    back.join()
    pod.close()
