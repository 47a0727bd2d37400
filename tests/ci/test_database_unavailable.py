"""While the database cannot be reached, requests get 503 with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from ci import runtime
from ci.app import create_app
from ci.store.models import Delivery
from tests.conftest import API_TOKEN, drop_database, fresh_database, github_headers
from tests.e2e.proxy import TcpProxy

SECRET = "topsecret"


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A way to PostgreSQL that the test can cut, as an outage would."""
    tcp = TcpProxy(("127.0.0.1", 5432)).up()
    yield tcp
    tcp.down()


@pytest.fixture
def client(settings: Any, proxy: TcpProxy, enqueued: Any) -> Iterator[Any]:
    """An app on a database of its own, reached through the proxy; with a GitHub source."""
    url = fresh_database("axon_outage")
    through_proxy = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    app = create_app(settings.model_copy(update={"database_url": through_proxy}))
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_TOKEN}"
    assert test_client.post("/api/v1/projects", json={"name": "vision"}).status_code == 201
    source = {"name": "gh", "provider": "github", "secret": SECRET}
    assert test_client.post("/api/v1/projects/vision/sources", json=source).status_code == 201
    yield test_client
    runtime.get().db.dispose()
    drop_database(url)


def stored(client: Any) -> int:
    with runtime.get().db.session() as session:
        return session.scalar(select(func.count()).select_from(Delivery))


def test_a_webhook_during_an_outage_gets_503_with_retry_after_and_its_retry_is_accepted(
    client, proxy, github_delivery
):
    first_headers, first_body = github_delivery("push_branch_commits", secret=SECRET)
    # The source is known and cached: only storing the delivery meets the outage.
    assert (
        client.post("/webhooks/github/gh", data=first_body, headers=first_headers).status_code
        == 202
    )
    headers, body = github_delivery("push_branch_commits", secret=SECRET)
    proxy.down()
    response = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json["status"] == "unavailable"
    proxy.up()
    retried = client.post("/webhooks/github/gh", data=body, headers=headers)
    assert retried.status_code == 202  # nothing was stored, so the retry is not a duplicate
    assert stored(client) == 2


def test_a_webhook_whose_source_is_not_cached_gets_503_during_an_outage(client, proxy):
    body = b"{}"
    proxy.down()
    response = client.post(
        "/webhooks/github/elsewhere", data=body, headers=github_headers("push", body, SECRET)
    )
    assert response.status_code == 503
    assert "Retry-After" in response.headers


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/api/v1/projects"), ("POST", "/api/v1/projects"), ("GET", "/api/v1/deliveries")],
)
def test_the_api_during_an_outage_answers_503_with_retry_after(client, proxy, method, url):
    proxy.down()
    response = client.open(url, method=method, json={"name": "other"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "database cannot be reached" in response.json["error"]["message"]


def test_a_webhook_after_the_database_dropped_every_pooled_connection_is_accepted(
    client, proxy, github_delivery
):
    first_headers, first_body = github_delivery("push_branch_commits", secret=SECRET)
    assert (
        client.post("/webhooks/github/gh", data=first_body, headers=first_headers).status_code
        == 202
    )
    # A short cut over before the next webhook: the pooled connections are dead, not the database.
    proxy.down()
    proxy.up()
    headers, body = github_delivery("push_branch_commits", secret=SECRET)

    response = client.post("/webhooks/github/gh", data=body, headers=headers)

    assert response.status_code == 202
    assert stored(client) == 2
