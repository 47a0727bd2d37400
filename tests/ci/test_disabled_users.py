"""Disabled users: a server admin disables a user and enables it again; while disabled, its
tokens get 401 with the reason, its page sessions end on the next request and its OpenID
Connect sign-ins are refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ci.identity import oidc
from ci.store.models import User, UserLogin

ISSUER = "https://login.example.org"


def user_token(client: Any, name: str, is_admin: bool = False) -> str:
    """A new user `name` and a personal access token of its own."""
    made = client.post("/api/v1/users", json={"name": name, "is_admin": is_admin})
    assert made.status_code == 201, made.json
    answer = client.post("/api/v1/user/tokens", json={"user": name, "name": "laptop"})
    assert answer.status_code == 201, answer.json
    return str(answer.json["token"])


def as_user(anonymous_client: Any, token: str, path: str = "/api/v1/user") -> Any:
    return anonymous_client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_a_disabled_users_token_gets_401_naming_the_reason_until_it_is_enabled_again(
    client, anonymous_client
):
    token = user_token(client, "ada")
    assert as_user(anonymous_client, token).status_code == 200

    disabled = client.post("/api/v1/users/ada/disable")
    refused = as_user(anonymous_client, token)
    enabled = client.post("/api/v1/users/ada/enable")

    assert disabled.status_code == 200 and disabled.json["disabled_at"] is not None
    assert refused.status_code == 401
    message = refused.json["error"]["message"]
    assert message.startswith("this token is refused: user 'ada' is disabled since ")
    assert message.endswith(": an admin may enable it again")
    assert enabled.status_code == 200 and enabled.json["disabled_at"] is None
    assert as_user(anonymous_client, token).json["user"]["name"] == "ada"


def test_the_users_list_shows_who_is_disabled(client):
    user_token(client, "ada")
    user_token(client, "bob")
    client.post("/api/v1/users/bob/disable")

    listed = {row["name"]: row["disabled_at"] for row in client.get("/api/v1/users").json}

    assert listed["ada"] is None and listed["bob"] is not None


def test_disabling_and_enabling_a_user_are_in_the_audit_log(client):
    user_token(client, "ada")
    client.post("/api/v1/users/ada/disable")
    client.post("/api/v1/users/ada/enable")

    entries = client.get("/api/v1/audit").json

    changes = [(e["action"], e["target"]) for e in entries if e["target"] == "user_name=ada"]
    assert changes == [
        ("identity_api.enable_user", "user_name=ada"),
        ("identity_api.disable_user", "user_name=ada"),
    ]


def test_disabling_twice_keeps_the_first_time(client):
    user_token(client, "ada")
    first = client.post("/api/v1/users/ada/disable").json["disabled_at"]
    again = client.post("/api/v1/users/ada/disable").json["disabled_at"]

    assert again == first


def test_an_admin_may_not_disable_itself(client, anonymous_client):
    token = user_token(client, "root", is_admin=True)

    answer = anonymous_client.post(
        "/api/v1/users/root/disable", headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.status_code == 409
    assert answer.json["error"]["message"] == (
        "user: you may not disable yourself; another admin may"
    )
    assert as_user(anonymous_client, token).status_code == 200


def test_only_a_server_admin_may_disable_a_user(client, anonymous_client):
    token = user_token(client, "ada")
    user_token(client, "bob")

    answer = anonymous_client.post(
        "/api/v1/users/bob/disable", headers={"Authorization": f"Bearer {token}"}
    )

    assert answer.status_code == 403
    listed = {row["name"]: row["disabled_at"] for row in client.get("/api/v1/users").json}
    assert listed["bob"] is None


def test_disabling_a_user_that_does_not_exist_answers_404_naming_it(client):
    answer = client.post("/api/v1/users/nobody/disable")

    assert answer.status_code == 404
    assert answer.json["error"]["message"] == "user_name: no user named 'nobody'"


def test_a_page_session_made_with_a_token_ends_on_the_next_request_saying_why(
    client, anonymous_client
):
    token = user_token(client, "ada")
    logged_in = anonymous_client.post("/login", data={"token": token, "next": "/"})
    assert logged_in.status_code == 302
    assert anonymous_client.get("/").status_code == 200

    client.post("/api/v1/users/ada/disable")
    page = anonymous_client.get("/")
    login = anonymous_client.get(page.location)
    client.post("/api/v1/users/ada/enable")
    again = anonymous_client.get("/")

    assert (page.status_code, page.location) == (302, "/login?next=/")
    assert "user &#39;ada&#39; is disabled since " in login.get_data(as_text=True)
    assert again.status_code == 302  # ended for good: enabling the user does not revive it


def test_an_openid_connect_page_session_ends_on_the_next_request(client, anonymous_client, db):
    user_token(client, "ada")
    with db.session() as session:
        ada = session.scalar(select(User).where(User.name == "ada"))
        ada_id = ada.id
    with anonymous_client.session_transaction() as kept:
        kept["user_id"] = ada_id  # what the OpenID Connect callback keeps
    assert anonymous_client.get("/").status_code == 200

    client.post("/api/v1/users/ada/disable")

    assert anonymous_client.get("/").status_code == 302
    with anonymous_client.session_transaction() as kept:
        assert "user_id" not in kept


def test_the_login_form_refuses_a_disabled_users_token_saying_why(client, anonymous_client):
    token = user_token(client, "ada")
    client.post("/api/v1/users/ada/disable")

    answer = anonymous_client.post("/login", data={"token": token, "next": "/"})

    assert answer.status_code == 401
    assert "user &#39;ada&#39; is disabled since " in answer.get_data(as_text=True)
    assert anonymous_client.get("/").status_code == 302


def test_an_openid_connect_sign_in_of_a_disabled_user_is_refused_with_the_reason(rt, db):
    identity = oidc.Identity(ISSUER, "ada-1", "ada@example.org", True, "ada")
    with db.session() as session:
        user, made = oidc.user_for(session, identity, match_email=False)
        assert made and user.name == "ada"
        user.disabled_at = user.created_at

    with db.session() as session, pytest.raises(oidc.LoginRefused) as refused:
        oidc.user_for(session, identity, match_email=False)

    assert str(refused.value).startswith("user 'ada' is disabled since ")
    with db.session() as session:
        assert session.scalar(select(UserLogin.user_id).where(UserLogin.subject == "ada-1"))


def test_a_disabled_user_matched_by_email_is_refused_too(rt, db):
    with db.session() as session:
        session.add(User(name="grace", email="grace@example.org", disabled_at=None))
    with db.session() as session:
        grace = session.scalar(select(User).where(User.name == "grace"))
        grace.disabled_at = grace.created_at
    identity = oidc.Identity(ISSUER, "grace-1", "grace@example.org", True, "grace")

    with db.session() as session, pytest.raises(oidc.LoginRefused) as refused:
        oidc.user_for(session, identity, match_email=True)

    assert "user 'grace' is disabled" in str(refused.value)
