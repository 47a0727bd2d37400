"""Sources, subscriptions and deliveries as the pages meet them: made through the real API,
webhook intake and dispatch where a user's would be, or written straight for bulk."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import insert, select

from ci.runs import dispatch
from ci.store.models import Delivery, Source, Subscription
from schemas.status import DeliveryStatus
from tests.ci.factories import subscription
from tests.conftest import API_TOKEN, fixture_bytes, github_headers
from tests.dashboard import seed
from tests.dashboard.conftest import Site

SECRET = "topsecret"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# A push to master of Codertocat/Hello-World changing one file, README.md.
PUSH = "webhooks/github/push_branch_commits.json"
ON_MASTER = {"push": {"branches": ["master"]}}
DOCS_ONLY = {"push": {"branches": ["master"], "paths": ["docs/**"]}}


def api(site: Site, method: str, path: str, **kwargs: Any) -> requests.Response:
    response = requests.request(method, site.url + path, headers=AUTH, timeout=10, **kwargs)
    assert response.status_code < 300, response.text
    return response


def project_with_source(
    site: Site, project: str, source: str = "gh", secret: str = SECRET, provider: str = "github"
) -> None:
    seed.project(site.db, project)
    document = {"name": source, "provider": provider, "secret": secret}
    api(site, "POST", f"/api/v1/projects/{project}/sources", json=document)


def subscribe(site: Site, project: str, name: str, on: dict[str, Any]) -> None:
    api(site, "POST", f"/api/v1/projects/{project}/subscriptions", json=subscription(name, on=on))


def push(site: Site, source: str = "gh", secret: str = SECRET) -> tuple[int, int]:
    """GitHub's push sent to the source's webhook, signed with `secret`: (HTTP status, the
    id of the delivery stored, accepted or not)."""
    body = fixture_bytes(PUSH)
    response = requests.post(
        f"{site.url}/webhooks/github/{source}",
        data=body,
        headers=github_headers("push", body, secret),
        timeout=10,
    )
    with site.db.session() as session:
        newest = session.scalar(
            select(Delivery.id)
            .join(Source, Source.id == Delivery.source_id)
            .where(Source.name == source)
            .order_by(Delivery.id.desc())
            .limit(1)
        )
    assert newest is not None, response.text
    return response.status_code, newest


def processed_push(site: Site, source: str = "gh", secret: str = SECRET) -> int:
    """A push delivered and processed, as a worker would; returns the delivery's id."""
    status, delivery_id = push(site, source, secret)
    assert status == 202
    with site.db.session() as session:
        dispatch.process_delivery(session, delivery_id)
    return delivery_id


def delivery(site: Site, project: str, source: str = "gh", **values: Any) -> int:
    """A delivery written straight to the table for `project`'s source, processed."""
    with site.db.session() as session:
        found = session.query(Source).filter_by(name=source).one()
        assert found.project.name == project
        # Written as a worker would leave it, settled: no state machine is being tested here.
        row = Delivery(
            status=values.pop("status", DeliveryStatus.PROCESSED),
            source_id=found.id,
            provider=found.provider,
            dedupe_key=values.pop("dedupe_key", None) or uuid.uuid4().hex,
            received_at=values.pop("received_at", seed.START),
            processed_at=seed.START,
            **values,
        )
        session.add(row)
        session.commit()
        return row.id


def many_deliveries(site: Site, project: str, count: int, source: str = "gh") -> None:
    """`count` processed push deliveries of `project`'s source, a second apart; the one
    numbered `n` has event name `push-<n>`."""
    with site.db.session() as session:
        found = session.query(Source).filter_by(name=source).one()
        rows = [
            dict(
                status=DeliveryStatus.PROCESSED,
                processed_at=seed.START + timedelta(seconds=n),
                source_id=found.id,
                provider="github",
                dedupe_key=f"{project}-bulk-{n}",
                event_name=f"push-{n}",
                reason="1 event(s), 0 run(s) started",
                headers={"x-github-event": "push"},
                body=b"{}",
                received_at=seed.START + timedelta(seconds=n),
            )
            for n in range(count)
        ]
        session.execute(insert(Delivery), rows)
        session.commit()


def many_subscriptions(site: Site, project: str, count: int) -> None:
    """`count` subscriptions named `sub-0000`... listening to pushes to master."""
    project_id = seed.project(site.db, project)
    with site.db.session() as session:
        session.execute(
            insert(Subscription),
            [
                {
                    "project_id": project_id,
                    "name": f"sub-{n:04d}",
                    "spec": subscription(f"sub-{n:04d}", on=ON_MASTER),
                }
                for n in range(count)
            ],
        )
        session.commit()
