"""Shared fixtures: PostgreSQL with a rolled-back transaction per test, the app, fixtures.

A test that reaches a service does so through the fixture named for it (`postgres`,
`rabbitmq`), directly or through another fixture, and is marked with that name, so
`pytest -m "not postgres and not rabbitmq"` runs on a machine without them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ci import runtime, wiring
from ci.config import Settings
from ci.runs import lifecycle
from ci.store import migrate
from ci.store.db import Database

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_URL = os.environ.get("AXON_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
BROKER_URL = os.environ.get("AXON_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
SERVICES = ("postgres", "rabbitmq")
API_TOKEN = "test-api-token"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the services its fixtures reach, however indirectly."""
    for item in items:
        for service in SERVICES:
            if service in getattr(item, "fixturenames", ()):
                item.add_marker(service)


@pytest.fixture(scope="session")
def postgres() -> str:
    """The PostgreSQL server's admin URL (`fresh_database` makes a database on it)."""
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    """The RabbitMQ broker's URL."""
    return BROKER_URL


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(
    event: str, body: bytes, secret: str | None, delivery: str | None = None
) -> dict[str, str]:
    """Headers as GitHub sends them (see tests/fixtures/README.md)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/87e258b",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers


@pytest.fixture
def github_delivery() -> Callable[..., tuple[dict[str, str], bytes]]:
    """(headers, body) of a recorded GitHub delivery, e.g. github_delivery("push_tag_created")."""

    def make(
        name: str, secret: str | None = "topsecret", event: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        body = fixture_bytes(f"webhooks/github/{name}.json")
        return github_headers(event or name.split("_")[0], body, secret), body

    return make


def fresh_database(prefix: str) -> str:
    """A new, migrated PostgreSQL database; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(postgres: str) -> Iterator[str]:
    url = fresh_database("axon_test")
    yield url
    drop_database(url)


@pytest.fixture
def settings(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=str(tmp_path),
        database_url=pg_url,
        broker_url="memory://",
        embedded=False,
        runs_dir=str(tmp_path / "runs"),
        public_url="http://axon.test",
        secret_key="test-secret-key",
        api_token=API_TOKEN,
        github_api_url="http://github.invalid",
        github_token="ghp_test",
    )


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    """A database whose every commit is undone when the test ends."""
    base = Database(pg_url)
    connection = base.engine.connect()
    outer = connection.begin()
    yield Database(pg_url, engine=base.engine, bind=connection)
    outer.rollback()
    connection.close()
    base.dispose()


def relayed(enqueued: list[tuple[str, tuple[Any, ...]]]) -> list[int]:
    """The deliveries the outbox relay published, in order: each of its messages names several."""
    return [i for name, args in enqueued if name == "axon.process_deliveries" for i in args[0]]


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Tasks published during the test, as (name, args), instead of sending them; the
    reactions that publish them are registered as in every process."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    for react in wiring.REACTIONS:
        if react not in lifecycle.reactions:
            monkeypatch.setattr(lifecycle, "reactions", [*lifecycle.reactions, react])
    monkeypatch.setattr(runtime, "enqueue", lambda name, *args, **_: sent.append((name, args)))
    return sent


@pytest.fixture
def rt(settings: Settings, db: Database, enqueued: list[Any]) -> Iterator[runtime.Runtime]:
    current = wiring.wire(runtime.init(settings))
    current.db.dispose()
    current.db = db
    yield current


@pytest.fixture
def app(rt: runtime.Runtime, settings: Settings) -> Any:
    from ci.app import create_app

    application = create_app(settings)
    runtime.get().db.dispose()
    runtime.get().db = rt.db
    return application


@pytest.fixture
def client(app: Any) -> Any:
    """A caller with the API token; a header of the request's own (a run token) replaces it."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_TOKEN}"
    return test_client


@pytest.fixture
def anonymous_client(app: Any) -> Any:
    """A caller with no credentials at all."""
    return app.test_client()


def load_json(relative: str) -> Any:
    return json.loads(fixture_bytes(relative))
