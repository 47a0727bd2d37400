"""Users, teams, roles and personal access tokens as their holders meet them."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from ci import runtime
from ci.cli.commands import main
from ci.identity import tokens
from ci.store.db import utcnow
from ci.store.models import AccessToken, User
from tests.ci.identity_world import OTHER, OWN, World, build, make_user

SECRET = "a-source-secret-that-must-not-leak"


@pytest.fixture
def world(client: Any, db: Any, enqueued: Any) -> World:
    return build(client, db)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored(db: Any, token: str) -> AccessToken:
    with db.session() as session:
        row = session.scalar(
            select(AccessToken).where(AccessToken.token_hash == tokens.digest(token))
        )
        assert row is not None
        session.expunge(row)
        return row


def test_a_new_token_is_answered_once_and_listed_only_by_prefix_scopes_and_times(
    client, anonymous_client
):
    token = make_user(client, "ada")

    listed = anonymous_client.get("/api/v1/user/tokens", headers=bearer(token))

    [row] = listed.json
    assert token.startswith(row["prefix"]) and len(row["prefix"]) < len(token)
    assert set(row) == {
        "id", "name", "prefix", "scopes", "expires_at", "revoked_at", "last_used_at",
        "created_at",
    }  # fmt: skip
    assert token not in listed.text and tokens.digest(token) not in listed.text
    assert row["scopes"] == {"projects": None, "actions": ["read", "write", "admin"]}


def test_an_expired_token_is_refused(client, anonymous_client, db):
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    token = make_user(client, "bea", expires_at=soon)
    assert anonymous_client.get("/api/v1/user", headers=bearer(token)).status_code == 200

    with db.session() as session:
        session.execute(update(AccessToken).values(expires_at=utcnow() - timedelta(seconds=1)))

    assert anonymous_client.get("/api/v1/user", headers=bearer(token)).status_code == 401


def test_a_token_already_past_its_expiry_is_not_made(client):
    client.post("/api/v1/users", json={"name": "cid"})
    past = (utcnow() - timedelta(days=1)).isoformat()

    answer = client.post("/api/v1/user/tokens", json={"user": "cid", "expires_at": past})

    assert answer.status_code == 422
    assert answer.json["error"]["message"] == "expires_at: already past"


def test_a_revoked_token_is_refused_from_the_next_request_on(client, anonymous_client, db):
    token = make_user(client, "dee")
    token_id = stored(db, token).id

    revoke = anonymous_client.delete(f"/api/v1/user/tokens/{token_id}", headers=bearer(token))

    assert revoke.status_code == 200 and revoke.json["revoked_at"]
    assert anonymous_client.get("/api/v1/user", headers=bearer(token)).status_code == 401


def test_a_user_cannot_revoke_another_users_token(client, anonymous_client, db):
    mine, theirs = make_user(client, "eve"), make_user(client, "fay")

    answer = anonymous_client.delete(
        f"/api/v1/user/tokens/{stored(db, theirs).id}", headers=bearer(mine)
    )

    assert answer.status_code == 404
    assert stored(db, theirs).revoked_at is None


def test_last_used_is_noted_on_use_and_written_at_most_once_a_minute(client, anonymous_client, db):
    token = make_user(client, "gus")
    assert stored(db, token).last_used_at is None

    anonymous_client.get("/api/v1/user", headers=bearer(token))
    first = stored(db, token).last_used_at
    anonymous_client.get("/api/v1/user", headers=bearer(token))
    second = stored(db, token).last_used_at

    assert first is not None and second == first
    with db.session() as session:
        earlier = utcnow() - tokens.TOUCH_EVERY - timedelta(seconds=1)
        session.execute(update(AccessToken).values(last_used_at=earlier))
    anonymous_client.get("/api/v1/user", headers=bearer(token))
    assert stored(db, token).last_used_at > earlier  # type: ignore[operator]


def test_no_token_or_its_hash_appears_in_any_answer_or_log(client, anonymous_client, caplog, world):
    caplog.set_level(logging.DEBUG)
    made = client.post("/api/v1/user/tokens", json={"user": "member", "name": "ci"})
    token = made.json["token"]
    hashed = tokens.digest(token)
    answers = [
        anonymous_client.get(path, headers=bearer(token)).get_data(as_text=True)
        for path in ("/api/v1/user", "/api/v1/user/tokens", "/api/v1/projects", "/api/v1/audit")
    ]
    answers.append(client.get("/api/v1/audit").get_data(as_text=True))
    answers.append(anonymous_client.get("/api/v1/nowhere", headers=bearer(token)).text)

    captured = "\n".join([*answers, caplog.text])
    assert token not in captured and hashed not in captured
    assert token not in made.text.replace(f'"token":"{token}"', "")


def test_the_login_page_takes_an_access_token_and_revoking_it_ends_the_session(
    client, anonymous_client, db, world
):
    token = world.callers["viewer"].token
    assert token is not None

    login = anonymous_client.post("/login", data={"token": token, "next": "/"})
    page = anonymous_client.get("/")

    assert login.status_code == 302 and page.status_code == 200
    assert OWN in page.text and OTHER not in page.text
    with db.session() as session:
        session.execute(update(AccessToken).values(revoked_at=utcnow()))
    assert anonymous_client.get("/").status_code == 302


def test_a_page_of_a_project_the_user_cannot_see_answers_as_one_that_does_not_exist(
    anonymous_client, world
):
    viewer = bearer(world.callers["viewer"].token or "")

    theirs = anonymous_client.get(f"/projects/{OTHER}/runs", headers=viewer)
    nowhere = anonymous_client.get("/projects/no-such-project/runs", headers=viewer)
    mine = anonymous_client.get(f"/projects/{OWN}/runs", headers=viewer)

    assert (theirs.status_code, nowhere.status_code, mine.status_code) == (403, 403, 200)
    assert theirs.json["error"]["message"] == nowhere.json["error"]["message"]


def test_lists_show_only_what_the_caller_may_read(client, anonymous_client, world):
    member = bearer(world.callers["member"].token or "")

    projects = anonymous_client.get("/api/v1/projects", headers=member).json
    runs = anonymous_client.get("/api/v1/runs", headers=member).json
    deliveries = anonymous_client.get("/api/v1/deliveries", headers=member).json
    everything = client.get("/api/v1/projects").json

    assert [p["name"] for p in projects] == [OWN]
    assert {r["uuid"] for r in runs} == {world.runs[OWN]}
    assert [d["id"] for d in deliveries] == [world.deliveries[OWN]]
    assert {p["name"] for p in everything} >= {OWN, OTHER}


def test_a_team_gives_its_role_to_each_of_its_members(client, anonymous_client, world):
    token = make_user(client, "hal")
    assert client.post("/api/v1/orgs/globex/teams", json={"name": "ml"}).status_code == 201
    joined = client.put("/api/v1/orgs/globex/teams/ml/members", json={"user": "hal"})
    assert joined.status_code == 200
    before = anonymous_client.get(f"/api/v1/projects/{OTHER}", headers=bearer(token))

    body = {"team": "ml", "role": "viewer"}
    assert client.put(f"/api/v1/projects/{OTHER}/members", json=body).status_code == 200
    after = anonymous_client.get(f"/api/v1/projects/{OTHER}", headers=bearer(token))
    write = anonymous_client.post(
        f"/api/v1/projects/{OTHER}/subscriptions", json={}, headers=bearer(token)
    )

    assert (before.status_code, after.status_code, write.status_code) == (403, 200, 403)


def test_a_project_admin_grants_roles_up_to_their_own_and_no_higher(
    client, anonymous_client, world
):
    admin = bearer(world.callers["admin"].token or "")
    client.post("/api/v1/users", json={"name": "ivy"})

    member = anonymous_client.put(
        f"/api/v1/projects/{OWN}/members", json={"user": "ivy", "role": "member"}, headers=admin
    )
    owner = anonymous_client.put(
        f"/api/v1/projects/{OWN}/members", json={"user": "ivy", "role": "owner"}, headers=admin
    )

    assert member.status_code == 200
    assert owner.status_code == 403
    assert "owner" in owner.json["error"]["message"]


def test_a_read_scoped_token_of_an_owner_reads_but_cannot_change(anonymous_client, world):
    scoped = bearer(world.callers["scoped"].token or "")

    read = anonymous_client.get(f"/api/v1/projects/{OWN}/sources", headers=scoped)
    write = anonymous_client.post(f"/api/v1/projects/{OWN}/subscriptions", json={}, headers=scoped)

    assert (read.status_code, write.status_code) == (200, 403)


@pytest.mark.parametrize(
    "scopes, message",
    [
        ({"actions": ["delete"]}, "scopes.actions: expected a list of read, write, admin"),
        ({"projects": "all"}, "scopes.projects: expected a list of project names, or null"),
        ({"projects": ["no-such"]}, "scopes.projects: no project named 'no-such'"),
        ({"orgs": []}, "scopes.orgs: unknown; known: projects, actions"),
    ],
)
def test_a_bad_scope_is_refused_naming_the_field(client, scopes, message):
    client.post("/api/v1/users", json={"name": "jon"})

    answer = client.post("/api/v1/user/tokens", json={"user": "jon", "scopes": scopes})

    assert (answer.status_code, answer.json["error"]["message"]) == (422, message)


def test_the_audit_log_says_who_changed_what_and_holds_no_secret(client, anonymous_client, world):
    admin = bearer(world.callers["admin"].token or "")
    source = {"name": "gl", "provider": "gitlab", "secret": SECRET}
    made = anonymous_client.post(f"/api/v1/projects/{OWN}/sources", json=source, headers=admin)
    assert made.status_code == 201

    org_admin = bearer(world.callers["org_admin"].token or "")
    seen = anonymous_client.get("/api/v1/audit", headers=org_admin)
    refused = anonymous_client.get("/api/v1/audit", headers=admin)

    entry = next(e for e in seen.json if e["action"] == "resources.create_source")
    assert entry["actor"].startswith("user admin (token axp_")
    assert entry["project"] == OWN and entry["status"] == 201
    assert SECRET not in client.get("/api/v1/audit").text
    assert refused.status_code == 403


def test_an_org_admin_sees_only_the_audit_of_their_own_org(client, anonymous_client, world):
    body = {"name": "x", "provider": "gitlab", "secret": SECRET}
    assert client.post(f"/api/v1/projects/{OTHER}/sources", json=body).status_code == 201

    org_admin = bearer(world.callers["org_admin"].token or "")
    seen = anonymous_client.get("/api/v1/audit", headers=org_admin).json

    assert all(e["project"] != OTHER for e in seen)
    assert any(e["project"] == OTHER for e in client.get("/api/v1/audit").json)


def test_only_an_org_admin_makes_projects_in_that_org(client, anonymous_client, world):
    org_admin = bearer(world.callers["org_admin"].token or "")

    in_theirs = anonymous_client.post(
        "/api/v1/projects", json={"name": "new-one", "org": "acme"}, headers=org_admin
    )
    elsewhere = anonymous_client.post(
        "/api/v1/projects", json={"name": "new-two", "org": "globex"}, headers=org_admin
    )
    members = client.get("/api/v1/projects/new-one/members").json

    assert (in_theirs.status_code, elsewhere.status_code) == (201, 403)
    assert members == [{"user": "org_admin", "team": None, "role": "owner"}]


def test_a_run_token_reaches_its_runs_tracking_and_nothing_else(rt, anonymous_client, world):
    token = bearer(rt.run_token(world.runs[OWN]))

    report = anonymous_client.post(
        f"/api/v1/runs/{world.runs[OWN]}/tags", json={"tags": ["a"]}, headers=token
    )
    read = anonymous_client.get(f"/api/v1/runs/{world.runs[OWN]}", headers=token)

    assert report.status_code == 200, report.json
    assert read.status_code == 401


def test_a_member_token_reports_to_a_run_of_its_project(anonymous_client, world):
    member = bearer(world.callers["member"].token or "")
    viewer = bearer(world.callers["viewer"].token or "")
    path = f"/api/v1/runs/{world.runs[OWN]}/tags"

    as_member = anonymous_client.post(path, json={"tags": ["b"]}, headers=member)
    as_viewer = anonymous_client.post(path, json={"tags": ["c"]}, headers=viewer)

    assert (as_member.status_code, as_viewer.status_code) == (200, 403)


# -- the embedded default's first start -----------------------------------------------------------


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`axon serve` of the embedded default on loopback; the server is recorded, not run, and
    `result.app` is the app it would have served."""
    from ci.embedded import Server

    servers: list[Server] = []
    monkeypatch.setattr(Server, "run", lambda self: servers.append(self))
    monkeypatch.setattr(runtime, "protect_process", lambda: None)
    env = {
        "AXON_HOME": str(tmp_path),
        "AXON_DATABASE_URL": f"sqlite:///{tmp_path / 'axon.db'}",
        "AXON_API_TOKEN": None,
        "AXON_EMBEDDED": None,
    }

    def start(**more: str) -> Any:
        result = CliRunner().invoke(main, ["serve"], env={**env, **more})
        assert result.exit_code == 0, result.output
        result.app = servers[-1].load()
        return result

    yield start
    runtime.get().close()


def printed_token(output: str) -> str:
    [line] = [ln for ln in output.splitlines() if "export AXON_API_TOKEN=" in ln]
    return line.split("=", 1)[1]


def test_the_first_embedded_start_makes_an_admin_and_prints_its_token_once(serve):
    first = serve()
    second = serve()

    token = printed_token(first.output)
    assert token.startswith(tokens.PREFIX)
    assert "AXON_API_TOKEN" not in second.output and tokens.PREFIX not in second.output
    with runtime.get().db.session() as session:
        [admin] = session.scalars(select(User)).all()
        assert (admin.name, admin.is_admin) == ("admin", True)
        assert tokens.find(session, token) is not None


def test_after_its_first_start_the_embedded_default_answers_a_caller_without_a_token_401(serve):
    for result in (serve(), serve()):
        anonymous = result.app.test_client()

        assert anonymous.get("/api/v1/projects").status_code == 401
        assert anonymous.post("/api/v1/projects", json={"name": "x"}).status_code == 401
        page = anonymous.get("/")
        assert (page.status_code, page.location) == (302, "/login?next=/")
        assert anonymous.get("/login").status_code == 200  # the form, not a way around it


def test_the_printed_token_opens_the_api_and_the_page_login(serve):
    result = serve()
    token = printed_token(result.output)
    api, browser = result.app.test_client(), result.app.test_client()

    made = api.post("/api/v1/projects", json={"name": "vision"}, headers=bearer(token))
    listed = api.get("/api/v1/projects", headers=bearer(token))
    login = browser.post("/login", data={"token": token, "next": "/"})
    page = browser.get("/")

    assert (made.status_code, listed.status_code) == (201, 200)
    assert [p["name"] for p in listed.json] == ["vision"]
    assert (login.status_code, login.location) == (302, "/")
    assert page.status_code == 200 and "vision" in page.text
    assert api.get("/api/v1/user", headers=bearer(token)).json["user"]["name"] == "admin"


def test_a_server_admin_user_may_do_what_the_api_token_does(client, anonymous_client, db):
    token = make_user(client, "root")
    with db.session() as session:
        session.execute(update(User).where(User.name == "root").values(is_admin=True))

    answer = anonymous_client.post("/api/v1/orgs", headers=bearer(token), json={"name": "initech"})

    assert answer.status_code == 201


def test_a_lost_admin_token_is_replaced_by_one_start_with_a_server_token(serve):
    serve()
    rescue = serve(AXON_API_TOKEN="a-server-token-for-one-start").app.test_client()
    made = rescue.post(
        "/api/v1/user/tokens",
        json={"user": "admin", "name": "replacement"},
        headers=bearer("a-server-token-for-one-start"),
    )
    again = serve()
    api = again.app.test_client()

    assert made.status_code == 201 and "AXON_API_TOKEN" not in again.output
    assert api.get("/api/v1/projects", headers=bearer(made.json["token"])).status_code == 200
    assert (
        api.get("/api/v1/projects", headers=bearer("a-server-token-for-one-start")).status_code
        == 401
    )


def test_an_embedded_server_with_users_checks_every_caller_as_production_does(
    client, anonymous_client, world
):
    current = runtime.get()
    current.settings = current.settings.model_copy(update={"api_token": "", "embedded": True})
    admin = bearer(world.callers["admin"].token or "")

    anonymous = anonymous_client.get("/api/v1/projects")
    named = anonymous_client.post(
        f"/api/v1/projects/{OWN}/sources",
        json={"name": "gl", "provider": "gitlab", "secret": SECRET},
        headers=admin,
    )
    refused = anonymous_client.get(f"/api/v1/projects/{OTHER}", headers=admin)

    assert (anonymous.status_code, named.status_code, refused.status_code) == (401, 201, 403)
    org_admin = bearer(world.callers["org_admin"].token or "")
    entries = anonymous_client.get("/api/v1/audit", headers=org_admin).json
    assert entries[0]["actor"].startswith("user admin (token axp_")


def test_comparing_a_run_of_a_project_the_user_cannot_read_answers_as_a_missing_run(
    anonymous_client, world
):
    member = bearer(world.callers["member"].token or "")

    theirs = anonymous_client.get(f"/compare/metrics.json?runs={world.runs[OTHER]}", headers=member)
    nowhere = anonymous_client.get(f"/compare/metrics.json?runs={'0' * 32}", headers=member)
    mine = anonymous_client.get(f"/compare/metrics.json?runs={world.runs[OWN]}", headers=member)

    assert (theirs.status_code, nowhere.status_code, mine.status_code) == (404, 404, 200)
