"""Two orgs with a project each, users holding every role on the first, and their tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from ci.identity.roles import Role
from ci.store.db import Database, utcnow
from ci.store.models import AccessToken, Delivery, Project, Run, Source, User

OWN, OTHER = "own-project", "other-project"
ORGS = {OWN: "acme", OTHER: "globex"}


@dataclass
class Caller:
    """A way in: its token (None: anonymous) and what it should reach on each project."""

    name: str
    token: str | None
    roles: dict[str, Role] = field(default_factory=dict)
    org_admin_of: set[str] = field(default_factory=set)
    actions: frozenset[str] = frozenset({"read", "write", "admin"})
    valid: bool = True

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class World:
    callers: dict[str, Caller]
    runs: dict[str, str]  # project -> a run's uuid
    deliveries: dict[str, int]  # project -> a delivery's id


def make_user(client: Any, name: str, **token: Any) -> str:
    """A user and a token for them, made with the API token; returns the token."""
    assert client.post("/api/v1/users", json={"name": name}).status_code == 201
    answer = client.post("/api/v1/user/tokens", json={"user": name, "name": "t", **token})
    assert answer.status_code == 201, answer.json
    return str(answer.json["token"])


def grant(client: Any, project: str, user: str, role: Role) -> None:
    body = {"user": user, "role": role.label}
    answer = client.put(f"/api/v1/projects/{project}/members", json=body)
    assert answer.status_code == 200, answer.json


def build(client: Any, db: Database) -> World:
    for project, org in ORGS.items():
        assert client.post("/api/v1/orgs", json={"name": org}).status_code == 201
        made = client.post("/api/v1/projects", json={"name": project, "org": org})
        assert made.status_code == 201, made.json
    callers = {"anonymous": Caller("anonymous", None, valid=False)}
    for role in Role:
        name = role.label
        callers[name] = Caller(name, make_user(client, name), {OWN: role})
        grant(client, OWN, name, role)
    callers["other_admin"] = Caller("other_admin", make_user(client, "other_admin"))
    callers["other_admin"].roles = {OTHER: Role.ADMIN}
    grant(client, OTHER, "other_admin", Role.ADMIN)
    callers["org_admin"] = Caller("org_admin", make_user(client, "org_admin"), {OWN: Role.ADMIN})
    callers["org_admin"].org_admin_of = {ORGS[OWN]}
    body = {"user": "org_admin", "role": "admin"}
    assert client.put(f"/api/v1/orgs/{ORGS[OWN]}/members", json=body).status_code == 200
    scoped = make_user(client, "scoped", scopes={"projects": [OWN], "actions": ["read"]})
    callers["scoped"] = Caller("scoped", scoped, {OWN: Role.OWNER}, actions=frozenset({"read"}))
    grant(client, OWN, "scoped", Role.OWNER)
    expired = make_user(client, "expired")
    grant(client, OWN, "expired", Role.OWNER)
    callers["expired"] = Caller("expired", expired, valid=False)
    revoked = make_user(client, "revoked")
    grant(client, OWN, "revoked", Role.OWNER)
    callers["revoked"] = Caller("revoked", revoked, valid=False)
    with db.session() as session:
        past = utcnow() - timedelta(seconds=1)
        for name, column in (("expired", "expires_at"), ("revoked", "revoked_at")):
            user_id = session.scalar(select(User.id).where(User.name == name))
            session.execute(
                update(AccessToken).where(AccessToken.user_id == user_id).values({column: past})
            )
        runs, deliveries = {}, {}
        for name in ORGS:
            project = session.scalar(select(Project).where(Project.name == name))
            assert project is not None
            run = Run(project_id=project.id, name="train")
            source = Source(project=project, name=f"gh-{name}", provider="github", secret="")
            delivery = Delivery(source=source, provider="github", status="processed")
            session.add_all([run, source, delivery])
            session.flush()
            runs[name], deliveries[name] = run.uuid, delivery.id
    return World(callers, runs, deliveries)
