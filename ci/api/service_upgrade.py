"""WebSockets through the service proxy: a notebook's kernels, a live dashboard's feed.

The handshake goes to the service through its runner like any request; once the service
switches protocols, this request's thread writes the 101 to the browser itself and relays the
raw bytes both ways until either side closes or both stay quiet for IDLE_SECONDS. That needs
the client connection, which gunicorn's workers hand over (`gunicorn.socket`): Axon serves
under gunicorn's `gthread` worker in production and embedded, where each open WebSocket holds
one of the worker's threads. Under a server that does not hand it over (werkzeug's, another
WSGI server) a handshake is answered 501 and the plain HTTP path still works.
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Iterable
from typing import Any

from flask import Request, Response, current_app

from ci.api.errors import ApiError
from runners.services import ServiceResponse

CHUNK = 64 * 1024
IDLE_SECONDS = 900.0  # a notebook's server pings its kernels' sockets far more often than this
# What a WebSocket handshake carries that the 101 gives back (RFC 6455 4.2.2); the rest of the
# service's headers pass as on the HTTP path.
SWITCHING = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def requested(request: Request) -> bool:
    """Whether the request asks to switch to WebSocket (RFC 6455 4.1: a GET with
    `Upgrade: websocket` and `Connection: upgrade`)."""
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    upgrade = request.headers.get("Upgrade", "").strip().lower()
    return request.method == "GET" and upgrade == "websocket" and "upgrade" in connection


def client_socket(environ: dict[str, Any]) -> socket.socket:
    """The browser's connection, or 501 when the server does not hand it over."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        server = environ.get("SERVER_SOFTWARE") or "this WSGI server"
        raise ApiError(
            501,
            f"WebSockets to a service need the API served by gunicorn (its gthread worker, as "
            f"`axon serve`, the image and the chart run it); {server} does not hand the connection "
            "over, so only plain HTTP reaches the service here",
        )
    return sock  # type: ignore[no-any-return]


def switch(
    client: socket.socket, answer: ServiceResponse, headers: Iterable[tuple[str, str]]
) -> Response:
    """Write the service's 101 to the browser, relay until the WebSocket ends, and return what
    tells the server the connection was taken over."""
    upgraded = answer.upgraded
    assert upgraded is not None, "only a 101 switches"
    head = SWITCHING + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    try:
        client.sendall(head.encode("latin-1"))
        ended = relay(client, upgraded.sock, IDLE_SECONDS, upgraded.early)
        current_app.logger.info("service WebSocket ended: %s", ended)
    except OSError as exc:
        current_app.logger.info("service WebSocket ended: %s", exc)
    finally:
        answer.close()
    return TakenOver()


def relay(client: socket.socket, service: socket.socket, idle: float, early: bytes = b"") -> str:
    """Copy bytes both ways until one side closes (the other is then closed by the caller), a
    connection fails, or nothing moves for `idle` seconds; says which."""
    peers = {client: service, service: client}
    for sock in peers:
        sock.settimeout(idle)  # bounds a write to a peer that stopped reading, too
    if early:
        client.sendall(early)
    with selectors.DefaultSelector() as selector:
        for sock in peers:
            selector.register(sock, selectors.EVENT_READ)
        while True:
            ready = selector.select(idle)
            if not ready:
                return f"idle for {idle:g}s"
            for key, _ in ready:
                source = client if key.fileobj is client else service
                try:
                    ended = _move(source, peers[source])
                except OSError as exc:
                    return f"connection failed: {exc}"
                if ended:
                    return "the client closed" if source is client else "the service closed"


def _move(source: socket.socket, target: socket.socket) -> bool:
    """Move what `source` has to `target`; True once `source` has closed."""
    while True:
        data = source.recv(CHUNK)
        if not data:
            return True
        target.sendall(data)
        # TLS may hold decrypted bytes the selector cannot see: take them now.
        pending = getattr(source, "pending", None)
        if pending is None or not pending():
            return False


class TakenOver(Response):
    """The response once the connection was taken over: nothing more is written to it.
    gunicorn closes a connection whose application raises StopIteration (flask-sock ends
    the same way)."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        raise StopIteration()
