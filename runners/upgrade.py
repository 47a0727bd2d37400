"""A WebSocket handshake (an HTTP/1.1 `Upgrade: websocket`, RFC 6455 4.1) sent on a connection
a runner opened, and the answer read back; and the tunnel an HTTP proxy opens for that
connection when the runner reaches its cluster through one (CONNECT).

A 101 leaves the connection to the caller with whatever the service sent right behind it; any
other answer (a refusal, a login page, a 404) is read as an ordinary HTTP answer whose body
streams like the HTTP path's. urllib3 cannot do this: it neither hands a connection over after a
101 nor gives back the bytes it read past the headers.
"""

from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Iterable, Iterator, Mapping

from runners.services import ServiceResponse, Upgraded

CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024  # an answer's status line and headers; more is not an HTTP server
# Hop-by-hop headers (RFC 9110 7.6.1): this connection's own, never the next one's.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
) | {"upgrade", "host", "content-length"}


class BadAnswer(OSError):
    """The other end did not answer in HTTP/1.1."""


class TunnelRefused(OSError):
    """The HTTP proxy did not open the tunnel it was asked for."""


def request_head(target: str, host: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The handshake's request head: `headers` minus hop-by-hop ones, which this connection
    sets for itself. A field with a line break in it is dropped, never sent as two."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: Upgrade", "Upgrade: websocket"]
    for key, value in headers:
        if key.lower() in HOP_BY_HOP or any(c in key + value for c in "\r\n\0"):
            continue
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def tunnel(
    sock: socket.socket, host: str, port: int, headers: Mapping[str, str], wait: float
) -> None:
    """Ask the HTTP proxy `sock` is connected to for a tunnel to `host:port` (CONNECT, RFC 9110
    9.3.6), with `headers` (its Proxy-Authorization); once it says 2xx, what goes on `sock`
    reaches `host:port` as if connected to it. The connection is closed if anything fails."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if not any(c in k + v for c in "\r\n\0")]
    try:
        sock.settimeout(wait)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head, early = read_head(sock)
        status, _ = parse_head(head)
        if not 200 <= status < 300:
            reason = head.partition(b"\r\n")[0].decode("latin-1")
            raise TunnelRefused(f"the proxy refused a tunnel to {authority}: {reason}")
        if early:  # the API server speaks only when spoken to: nothing can follow yet
            raise BadAnswer(f"the proxy sent {len(early)} bytes past its answer to CONNECT")
    except BaseException:
        sock.close()
        raise


def handshake(
    sock: socket.socket, target: str, host: str, headers: Iterable[tuple[str, str]], wait: float
) -> ServiceResponse:
    """Send the handshake on `sock` and read the answer, waiting at most `wait` seconds for
    each read of its head. The connection is closed if anything fails."""
    try:
        sock.settimeout(wait)
        sock.sendall(request_head(target, host, headers))
        head, early = read_head(sock)
        status, fields = parse_head(head)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    kept = [(k, v) for k, v in fields if k.lower() not in HOP_BY_HOP]
    if status == 101:
        return ServiceResponse(101, kept, iter(()), sock.close, Upgraded(sock, early))
    # The answer read again from the top, so http.client frames its body (length, chunks).
    answer = http.client.HTTPResponse(_Replayed(head + early, sock), method="GET")  # type: ignore[arg-type]
    answer.begin()
    return ServiceResponse(answer.status, kept, _body(answer, sock), sock.close)


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The answer's head up to its blank line, and the bytes read past it."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > HEAD_LIMIT:
            raise BadAnswer(f"no end of the answer's headers in {HEAD_LIMIT} bytes")
        chunk = sock.recv(CHUNK)
        if not chunk:
            raise BadAnswer("the connection closed before the answer's headers ended")
        data += chunk
    return data[: end + 4], data[end + 4 :]


def parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    """The status code and the header fields of an answer's head."""
    status_line, _, rest = head.partition(b"\r\n")
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
    fields = http.client.parse_headers(io.BytesIO(rest))
    return int(parts[1]), list(fields.items())


def _body(answer: http.client.HTTPResponse, sock: socket.socket) -> Iterator[bytes]:
    try:
        while chunk := answer.read1(CHUNK):
            yield chunk
    finally:
        sock.close()


class _Replayed:
    """What http.client reads an answer from: the bytes already read, then the socket."""

    def __init__(self, first: bytes, sock: socket.socket) -> None:
        self.first, self.sock = first, sock

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_ReplayedIO(self.first, self.sock))


class _ReplayedIO(io.RawIOBase):
    def __init__(self, first: bytes, sock: socket.socket) -> None:
        self.first, self.sock = first, sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.first:
            count = min(len(buffer), len(self.first))
            buffer[:count] = self.first[:count]
            self.first = self.first[count:]
            return count
        return self.sock.recv_into(buffer)
