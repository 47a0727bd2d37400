"""A WebSocket service on loopback, standing for a notebook's kernel socket: it echoes every
text and binary message, closes (1000, "bye") when sent the text `close`, refuses a handshake
for `/refuse` with 403, and records what it saw (handshakes' headers, how connections ended)."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


@dataclass
class Seen:
    """One connection: the handshake's target and headers, and how it ended."""

    target: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    ended: str = ""  # "close frame" (the client's), "closed" (ours), "eof" (TCP, no frame)


class WebSocketEcho:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> WebSocketEcho:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return  # closed
            seen = Seen()
            with self._lock:
                self.seen.append(seen)
            thread = threading.Thread(target=self._serve, args=(sock, seen), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, seen: Seen) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        with sock:
            while not seen.ended:
                data = sock.recv(65536)
                if not data:
                    seen.ended = seen.ended or "eof"
                    return
                ws.receive_data(data)
                for event in ws.events():
                    sock.sendall(self._answer(ws, event, seen))

    @staticmethod
    def _answer(ws: WSConnection, event: Any, seen: Seen) -> bytes:
        if isinstance(event, Request):
            seen.target = event.target
            seen.headers = {k.decode().lower(): v.decode() for k, v in event.extra_headers}
            if event.target.endswith("/refuse"):
                seen.ended = "refused"
                return ws.send(RejectConnection(status_code=403))
            chosen = event.subprotocols[0] if event.subprotocols else None
            return ws.send(AcceptConnection(subprotocol=chosen))
        if isinstance(event, TextMessage) and event.data == "close":
            seen.ended = "closed"
            return ws.send(CloseConnection(code=1000, reason="bye"))
        if isinstance(event, TextMessage):
            return ws.send(TextMessage(data=event.data, message_finished=event.message_finished))
        if isinstance(event, BytesMessage):
            return ws.send(BytesMessage(data=event.data, message_finished=event.message_finished))
        if isinstance(event, Ping):
            return ws.send(event.response())
        if isinstance(event, CloseConnection):
            seen.ended = "close frame"
            return ws.send(event.response())
        return b""
