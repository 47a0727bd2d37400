"""A webhook source verified with a project connection's secret instead of one of its own."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.cli import client as cli_client
from ci.cli import commands
from ci.store import migrate
from ci.store.db import make_engine
from ci.store.models import Connection, Delivery, Project, Source
from tests.ci.cli_transport import Api
from tests.conftest import fixture_bytes, github_headers

PROJECT = "vision"
BODY = fixture_bytes("webhooks/github/push_branch_commits.json")


@pytest.fixture
def hook_secret() -> str:
    return f"hook-{secrets.token_hex(12)}"


def connection(client: Any, name: str = "hooks-secret", **fields: Any) -> Any:
    document = {"name": name, "kind": "webhook", **fields}
    return client.post(f"/api/v1/projects/{PROJECT}/connections", json=document)


def source(client: Any, name: str = "gh", **fields: Any) -> Any:
    document = {"name": name, "provider": "github", **fields}
    return client.post(f"/api/v1/projects/{PROJECT}/sources", json=document)


def deliver(client: Any, secret: str, source_name: str = "gh") -> Any:
    return client.post(
        f"/webhooks/github/{source_name}",
        data=BODY,
        headers=github_headers("push", BODY, secret),
    )


def replace_value(client: Any, value: str | None, name: str = "hooks-secret") -> None:
    changed = client.patch(
        f"/api/v1/projects/{PROJECT}/connections/{name}", json={"secret": {"secret": value}}
    )
    assert changed.status_code == 200, changed.json


def rejections(db: Any) -> list[str]:
    with db.session() as session:
        query = select(Delivery.reason).where(Delivery.status == "rejected").order_by(Delivery.id)
        return list(session.scalars(query))


@pytest.fixture
def project(client: Any, hook_secret: str) -> None:
    assert client.post("/api/v1/projects", json={"name": PROJECT}).status_code == 201
    assert connection(client, secret={"secret": hook_secret}).status_code == 201


def test_a_source_naming_a_connection_shows_its_name_and_never_its_value(
    client, db, project, hook_secret
):
    created = source(client, connection="hooks-secret")
    listed = client.get(f"/api/v1/projects/{PROJECT}/sources")
    page = client.get(f"/projects/{PROJECT}/sources")

    assert created.status_code == 201, created.json
    assert created.json["connection"] == "hooks-secret"
    assert listed.json[0]["connection"] == "hooks-secret"
    assert "secret from connection hooks-secret" in page.get_data(as_text=True)
    assert all(hook_secret not in r.get_data(as_text=True) for r in (created, listed, page))
    with db.session() as session:
        assert session.scalars(select(Source.secret)).one() == ""


def test_a_delivery_signed_with_the_connection_s_value_is_accepted_and_a_forged_one_refused(
    client, db, project, hook_secret
):
    source(client, connection="hooks-secret")

    signed = deliver(client, hook_secret)
    forged = deliver(client, "guessed")

    assert signed.status_code == 202, signed.json
    assert forged.status_code == 401
    assert len(rejections(db)) == 1


def test_replacing_the_connection_s_value_takes_effect_at_the_next_delivery(
    client, project, hook_secret
):
    source(client, connection="hooks-secret")
    assert deliver(client, hook_secret).status_code == 202

    replace_value(client, "the-new-secret")

    assert deliver(client, hook_secret).status_code == 401
    assert deliver(client, "the-new-secret").status_code == 202


def test_a_connection_without_its_secret_value_answers_503_and_keeps_why(
    client, db, project, hook_secret
):
    source(client, connection="hooks-secret")
    replace_value(client, None)

    answer = deliver(client, hook_secret)

    assert answer.status_code == 503
    assert answer.json["message"] == "the source's secret cannot be read; retry later"
    assert rejections(db) == [
        "github source 'gh': connection 'hooks-secret' has no secret value 'secret'"
    ]


def test_deleting_a_connection_a_source_uses_is_refused_naming_the_sources(client, project):
    source(client, "gh", connection="hooks-secret")
    source(client, "mirror", connection="hooks-secret")

    refused = client.delete(f"/api/v1/projects/{PROJECT}/connections/hooks-secret")
    kept = client.get(f"/api/v1/projects/{PROJECT}/connections/hooks-secret")

    assert refused.status_code == 409
    assert "github/gh, github/mirror" in refused.json["error"]["message"]
    assert kept.status_code == 200


@pytest.mark.parametrize(
    ("fields", "path", "reason"),
    [
        ({}, "secret", "required"),
        ({"secret": "s", "connection": "hooks-secret"}, "connection", "not both"),
        ({"connection": "absent"}, "connection", "no connection named 'absent'"),
        ({"connection": "store"}, "connection", "of kind s3"),
        ({"connection": "empty"}, "connection", "has no secret value 'secret'"),
        ({"connection": 7}, "connection", "expected the name"),
    ],
)
def test_a_source_takes_exactly_one_of_a_secret_or_a_fitting_connection(
    client, db, project, fields, path, reason
):
    s3 = {"schema": {"bucket": "models"}, "secret": {"AWS_SECRET_ACCESS_KEY": "x"}}
    assert connection(client, "store", **{**s3, "kind": "s3"}).status_code == 201
    assert connection(client, "empty", secret={"token": "x"}).status_code == 201

    refused = source(client, **fields)

    assert refused.status_code == 422
    assert refused.json["error"]["errors"][0]["path"] == path
    assert reason in refused.json["error"]["message"]
    with db.session() as session:
        assert session.scalars(select(Source)).all() == []


def test_the_command_creates_a_source_naming_a_connection(
    client, db, project, monkeypatch, hook_secret
):
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))
    monkeypatch.delenv("AXON_SOURCE_SECRET", raising=False)

    made = CliRunner().invoke(
        commands.main,
        [
            "sources",
            "create",
            PROJECT,
            "gh",
            "--provider",
            "github",
            "--connection",
            "hooks-secret",
        ],
    )

    assert made.exit_code == 0, made.output
    assert hook_secret not in made.output
    assert deliver(client, hook_secret).status_code == 202


def test_downgrading_past_the_source_connection_refuses_while_a_source_names_one(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'axon.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        project = Project(name="p")
        hooks = Connection(project=project, name="hooks", kind="webhook")
        session.add(Source(project=project, name="gh", provider="github", connection=hooks))

    with pytest.raises(RuntimeError) as refused:
        migrate.downgrade(engine, "0018")
    engine.dispose()

    assert "github/gh" in str(refused.value)
