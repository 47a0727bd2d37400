"""An HTTP proxy on loopback, standing for a kubeconfig's `proxy-url`: a CONNECT opens a tunnel
to the host and port it names (RFC 9110 9.3.6); any other request goes to the host its absolute
URI names, as a forward proxy sends it. It records what it was asked and, given `credentials`
(`user:password`), wants them as Basic Proxy-Authorization, answering 407 otherwise."""

from __future__ import annotations

import base64
import http.client
import io
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Asked:
    """One request the proxy was sent: `CONNECT host:port`, or a forwarded one; its header
    names in lower case."""

    method: str
    target: str
    headers: dict[str, str]


class ConnectProxy:
    def __init__(self, credentials: str | None = None) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.credentials = credentials
        self.asked: list[Asked] = []
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []

    def __enter__(self) -> ConnectProxy:
        threading.Thread(target=self._accept, daemon=True, name="ConnectProxy").start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.close()
        with self._lock:
            for sock in self._open:
                sock.close()

    def connects(self) -> list[str]:
        """The `host:port` of every tunnel asked for."""
        return [asked.target for asked in self.asked if asked.method == "CONNECT"]

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        self._keep(conn)
        head, rest = _read_head(conn)
        if not head:
            conn.close()
            return
        request_line, _, fields = head.partition(b"\r\n")
        method, target, _ = request_line.decode("latin-1").split(" ", 2)
        parsed = http.client.parse_headers(io.BytesIO(fields))
        headers = {name.lower(): value for name, value in parsed.items()}
        with self._lock:
            self.asked.append(Asked(method, target, headers))
        if self.credentials is not None and headers.get("proxy-authorization") != _basic(
            self.credentials
        ):
            conn.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="cluster"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )
            conn.close()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = rest
        else:
            where = urlsplit(target)
            upstream = socket.create_connection((where.hostname, where.port or 80))
            first = head + rest
        self._keep(upstream)
        if first:
            upstream.sendall(first)
        back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        back.start()
        _pipe(conn, upstream)
        back.join()
        conn.close()
        upstream.close()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request's head and what came after it; nothing when it never ends."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk or len(data) > HEAD_LIMIT:
            return b"", b""
        data += chunk
    return data[: end + 4], data[end + 4 :]


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy until `source` ends, then end `target`'s writing side."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # either side gone: the other is closed by the caller
