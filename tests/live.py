"""The real app served over loopback from a fresh PostgreSQL database, for tests that reach it
as its users do: a browser, schemathesis, a job's tracking client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from ci import runtime
from ci.config import Settings
from ci.store.db import Database
from tests.conftest import API_TOKEN, drop_database, fresh_database


@dataclass
class Served:
    """The app serving at `url`, its database (commits are real) and the tasks it published
    (no worker runs them: rows stay as the test made them)."""

    url: str
    app: Flask
    db: Database
    settings: Settings
    enqueued: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


@contextmanager
def serve(prefix: str, home: Path) -> Iterator[Served]:
    from ci.app import create_app

    url = fresh_database(prefix)
    patch = pytest.MonkeyPatch()
    sent: list[tuple[str, tuple[Any, ...]]] = []
    patch.setattr(runtime, "enqueue", lambda name, *args, **_: sent.append((name, args)))
    settings = Settings(
        home=str(home),
        database_url=url,
        broker_url="memory://",
        embedded=False,
        runs_dir=str(home / "runs"),
        public_url="http://axon.test",
        secret_key=f"{prefix}-secret-key",
        api_token=API_TOKEN,
    )
    app = create_app(settings)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.port}", app, runtime.get().db, settings, sent)
    finally:
        server.shutdown()
        thread.join(10)
        runtime.get().db.dispose()
        patch.undo()
        drop_database(url)
