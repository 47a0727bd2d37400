"""The identity lists (users, orgs, their members and teams, project members, tokens, the audit
log) page and filter as every other list does, and the OpenAPI document says so."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from ci.api import openapi
from ci.store.models import User
from tests.ci.identity_world import make_user

LISTS = [
    "/api/v1/users",
    "/api/v1/orgs",
    "/api/v1/orgs/acme/members",
    "/api/v1/orgs/acme/teams",
    "/api/v1/projects/vision/members",
    "/api/v1/user/tokens",
    "/api/v1/audit",
]


@pytest.fixture
def owner(client: Any, db: Any, enqueued: Any) -> dict[str, str]:
    """An org and a project of it with three of everything; the Bearer header of `ada`, a
    server admin with three tokens (the lists answer a user's own tokens)."""
    for org in ("acme", "globex", "initech"):
        assert client.post("/api/v1/orgs", json={"name": org}).status_code == 201
    made = client.post("/api/v1/projects", json={"name": "vision", "org": "acme"})
    assert made.status_code == 201, made.json
    token = make_user(client, "ada")
    for name in ("laptop", "ci"):
        answer = client.post("/api/v1/user/tokens", json={"user": "ada", "name": name})
        assert answer.status_code == 201, answer.json
    client.post("/api/v1/users", json={"name": "bob"})
    client.post("/api/v1/users", json={"name": "cy"})
    for user, role in (("ada", "owner"), ("bob", "admin"), ("cy", "member")):
        body = {"user": user, "role": role}
        assert client.put("/api/v1/orgs/acme/members", json=body).status_code == 200
    for team in ("data", "ml", "web"):
        assert client.post("/api/v1/orgs/acme/teams", json={"name": team}).status_code == 201
    for kind, name, role in (
        ("user", "bob", "viewer"),
        ("user", "cy", "admin"),
        ("team", "ml", "viewer"),
    ):
        body = {kind: name, "role": role}
        assert client.put("/api/v1/projects/vision/members", json=body).status_code == 200
    with db.session() as session:
        session.execute(update(User).where(User.name == "ada").values(is_admin=True))
    return {"Authorization": f"Bearer {token}"}


def test_every_identity_list_pages_with_limit_and_offset_without_gaps_or_repeats(client, owner):
    for path in LISTS:
        whole = client.get(path, headers=owner)
        first = client.get(path, query_string={"limit": 2}, headers=owner)
        rest = client.get(path, query_string={"limit": 500, "offset": 2}, headers=owner)

        assert (whole.status_code, first.status_code, rest.status_code) == (200, 200, 200), path
        assert len(whole.json) >= 3, path
        assert len(first.json) == 2, path
        assert first.json + rest.json == whole.json, path


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(("field", "value"), [("limit", "0"), ("offset", "-1")])
def test_an_identity_list_refuses_a_bad_page_naming_the_parameter(
    client, owner, path, field, value
):
    answer = client.get(path, query_string={field: value}, headers=owner)

    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json["detail"].startswith(f"{field}: expected a whole number")


def test_member_lists_filter_by_role(client, owner):
    org = client.get("/api/v1/orgs/acme/members?role=admin", headers=owner).json
    project = client.get("/api/v1/projects/vision/members?role=viewer", headers=owner).json

    assert org == [{"user": "bob", "role": "admin"}]
    assert project == [
        {"user": "bob", "team": None, "role": "viewer"},
        {"user": None, "team": "ml", "role": "viewer"},
    ]


@pytest.mark.parametrize("path", ["/api/v1/orgs/acme/members", "/api/v1/projects/vision/members"])
def test_a_role_filter_naming_no_role_is_refused_with_the_choices(client, owner, path):
    answer = client.get(path, query_string={"role": "boss"}, headers=owner)

    assert answer.status_code == 400
    assert answer.json["detail"] == (
        "role: expected one of viewer, member, admin, owner, not 'boss'"
    )


def test_the_audit_log_filters_by_project_and_action(client, owner):
    by_project = client.get("/api/v1/audit?project=vision", headers=owner).json
    by_action = client.get("/api/v1/audit?action=identity_api.create_team", headers=owner).json

    assert {e["action"] for e in by_project} == {"identity_api.set_member"}
    assert len(by_project) == 3
    assert [e["target"] for e in by_action] == ["org_name=acme"] * 3


def test_the_document_declares_each_identity_operation_and_every_list_pages_alike(app):
    operations = {
        op["operationId"]: op
        for path in openapi.build(app)["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and op.get("operationId", "").startswith("identity_api.")
    }
    lists = {k: v for k, v in operations.items() if k.split(".")[1].startswith("list_")}

    assert len(lists) == len(LISTS)
    for name, op in lists.items():
        answer = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["type"] == "array" and answer["items"].get("properties"), name
        assert {"limit", "offset"} <= {p["name"] for p in op["parameters"]}, name
    assert "role" in {p["name"] for p in lists["identity_api.list_members.get"]["parameters"]}
    audit = {p["name"] for p in lists["identity_api.list_audit.get"]["parameters"]}
    assert {"project", "action"} <= audit
    assert all("2XX" not in op["responses"] for op in operations.values())
