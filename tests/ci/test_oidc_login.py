"""Sign-in to the dashboard with an OpenID Connect provider: a real provider on loopback
(tests/ci/oidc_provider.py), the app served over loopback, a browser played by requests."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from ci.store.models import AuditEntry, OrgMember, ProjectMember, User, UserLogin
from tests.ci import oidc_provider
from tests.ci.oidc_provider import Provider, configure
from tests.conftest import API_TOKEN
from tests.live import Served, serve

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ERROR = re.compile(r'<p class="failed">([^<]*)</p>')
REFRESH = re.compile(r'http-equiv="refresh" content="0;url=([^"]+)"')


@pytest.fixture(scope="module")
def site(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve("axon_oidc", tmp_path_factory.mktemp("oidc")) as served:
        yield served


@pytest.fixture
def provider(site: Served) -> Iterator[Provider]:
    with oidc_provider.running() as running:
        running.client.redirect_uris = [site.url + "/login/oidc/callback"]
        configure(site, oidc_issuer=running.url)
        yield running
    configure(site)


def sign_in(site: Served, provider: Provider, username: str) -> tuple[requests.Session, str]:
    """Start at the login page's button, fill in the provider's form; the browser and the
    page the callback answered with."""
    browser = requests.Session()
    form = browser.get(site.url + "/login/oidc", params={"next": "/"}, timeout=10)
    assert form.url.startswith(provider.url + "/authorize?"), form.text
    person = provider.people[username]
    answer = browser.post(
        form.url, data={"username": username, "password": person.password}, timeout=10
    )
    assert answer.url.startswith(site.url + "/login/oidc/callback?")
    return browser, answer


def shown_error(response: requests.Response) -> str:
    found = ERROR.search(response.text)
    return html.unescape(found.group(1)) if found else ""


def page(browser: requests.Session, site: Served, path: str = "/") -> requests.Response:
    return browser.get(site.url + path, allow_redirects=False, timeout=10)


def test_the_login_page_offers_the_provider_only_when_it_is_configured(site, provider):
    offered = requests.get(site.url + "/login", timeout=10).text
    configure(site)
    plain = requests.get(site.url + "/login", timeout=10).text
    off = requests.get(site.url + "/login/oidc", allow_redirects=False, timeout=10)

    assert "Sign in with Test ID" in offered
    assert "Sign in with" not in plain
    assert off.status_code == 404
    assert "AXON_OIDC_ISSUER" in off.text


def test_a_first_sign_in_makes_a_user_with_no_roles_who_reaches_the_pages(site, provider):
    provider.add("ada", "ada@example.org", sub="ada-123")

    browser, answer = sign_in(site, provider, "ada")

    assert answer.status_code == 200
    assert REFRESH.search(answer.text).group(1) == "/"
    home = page(browser, site)
    assert home.status_code == 200 and "Log out" in home.text
    with site.db.session() as db:
        login = db.scalar(select(UserLogin).where(UserLogin.subject == "ada-123"))
        assert login is not None and login.issuer == provider.url
        user = db.get(User, login.user_id)
        assert (user.name, user.email, user.is_admin) == ("ada", "ada@example.org", False)
        assert db.scalars(select(ProjectMember).where(ProjectMember.user_id == user.id)).all() == []
        assert db.scalars(select(OrgMember).where(OrgMember.user_id == user.id)).all() == []
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.user_id == user.id).order_by(AuditEntry.id)
        ).first()
        assert entry.action == "oidc_login.callback" and entry.status == 200
        assert "sub=ada-123" in entry.target and "new_user=True" in entry.target


def test_signing_in_again_is_the_same_user(site, provider):
    provider.add("bea", "bea@example.org", sub="bea-1")

    sign_in(site, provider, "bea")
    browser, answer = sign_in(site, provider, "bea")

    assert answer.status_code == 200
    with site.db.session() as db:
        logins = db.scalars(select(UserLogin).where(UserLogin.subject == "bea-1")).all()
        assert len(logins) == 1
        assert db.scalars(select(User).where(User.name.like("bea%"))).all()[0].name == "bea"
        assert len(db.scalars(select(User).where(User.name.like("bea%"))).all()) == 1


def test_a_new_person_whose_username_is_taken_gets_a_name_of_their_own(site, provider):
    with site.db.session() as db:
        db.add(User(name="cy", email="cy@elsewhere.org"))
    provider.add("cy", "cy@example.org", sub="cy-9")

    sign_in(site, provider, "cy")

    with site.db.session() as db:
        login = db.scalar(select(UserLogin).where(UserLogin.subject == "cy-9"))
        assert db.get(User, login.user_id).name == "cy-2"


@pytest.mark.parametrize(
    ("mistake", "reason"),
    [
        ("audience", "its audience (aud) is not this server's client id"),
        ("nonce", "its nonce is not this sign-in's"),
        ("expired", "it has expired (exp)"),
        ("tampered", "its signature does not verify with the provider's keys"),
    ],
)
def test_an_id_token_that_does_not_verify_is_refused_with_the_reason(
    site, provider, mistake, reason
):
    provider.add("eve", "eve@example.org", sub=f"eve-{mistake}")
    provider.mistake = mistake

    browser, answer = sign_in(site, provider, "eve")

    assert answer.status_code == 401
    assert f"the ID token is refused: {reason}" in shown_error(answer)
    assert page(browser, site).status_code == 302  # no session: back to the login
    with site.db.session() as db:
        assert db.scalar(select(UserLogin).where(UserLogin.subject == f"eve-{mistake}")) is None
        refused = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "oidc_login.callback", AuditEntry.status == 401)
            .order_by(AuditEntry.id.desc())
        ).first()
        assert reason in refused.target


def test_an_answer_for_another_sign_in_is_refused(site, provider):
    provider.add("mal", "mal@example.org")
    browser = requests.Session()
    form = browser.get(site.url + "/login/oidc", timeout=10)
    answer = browser.post(
        form.url, data={"username": "mal", "password": "mal-pw"}, timeout=10, allow_redirects=False
    )
    callback = answer.headers["Location"]
    forged = re.sub(r"state=[^&]+", "state=someone-elses", callback)

    wrong_state = browser.get(forged, timeout=10)
    other_browser = requests.get(callback, timeout=10)

    assert wrong_state.status_code == 401
    assert "another sign-in's state" in shown_error(wrong_state)
    assert other_browser.status_code == 401
    assert "was not started here" in shown_error(other_browser)


def test_logging_out_ends_the_session(site, provider):
    provider.add("lou", "lou@example.org")
    browser, _ = sign_in(site, provider, "lou")
    token = CSRF.search(page(browser, site).text).group(1)

    out = browser.post(
        site.url + "/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10
    )

    assert out.status_code == 302
    assert page(browser, site).status_code == 302


def test_a_deleted_user_is_signed_out_on_the_next_request(site, provider):
    provider.add("del", "del@example.org", sub="del-1")
    browser, _ = sign_in(site, provider, "del")
    assert page(browser, site).status_code == 200

    with site.db.session() as db:
        login = db.scalar(select(UserLogin).where(UserLogin.subject == "del-1"))
        db.delete(db.get(User, login.user_id))

    assert page(browser, site).status_code == 302


def test_a_disabled_user_is_signed_out_on_the_next_request_and_refused_at_sign_in(site, provider):
    provider.add("dee", "dee@example.org", sub="dee-1")
    browser, _ = sign_in(site, provider, "dee")
    assert page(browser, site).status_code == 200
    admin = {"Authorization": f"Bearer {API_TOKEN}"}

    disabled = requests.post(site.url + "/api/v1/users/dee/disable", headers=admin, timeout=10)
    signed_out = page(browser, site)
    _, again = sign_in(site, provider, "dee")

    assert disabled.status_code == 200
    assert (signed_out.status_code, signed_out.headers["Location"]) == (302, "/login?next=/")
    assert again.status_code == 401
    assert "user 'dee' is disabled since " in shown_error(again)
    with site.db.session() as db:
        refused = db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "oidc_login.callback", AuditEntry.status == 401)
            .order_by(AuditEntry.id.desc())
        ).first()
        assert "user 'dee' is disabled" in refused.target


def test_by_setting_a_verified_email_joins_the_existing_user(site, provider):
    with site.db.session() as db:
        db.add(User(name="grace", email="Grace@Example.org", is_admin=True))
    configure(site, oidc_issuer=provider.url, oidc_match_email=True)
    provider.add("ghopper", "grace@example.org", sub="grace-1")
    provider.add("mallory", "grace@example.org", sub="mallory-1", verified=False)

    browser, _ = sign_in(site, provider, "ghopper")
    sign_in(site, provider, "mallory")

    with site.db.session() as db:
        grace = db.scalar(select(User).where(User.name == "grace"))
        by_sub = {
            login.subject: login.user_id
            for login in db.scalars(select(UserLogin).where(UserLogin.subject.like("%-1")))
        }
        assert by_sub["grace-1"] == grace.id
        assert by_sub["mallory-1"] != grace.id  # an unverified email joins nobody
    # The joined user's own rights apply: grace is a server admin.
    users = browser.get(site.url + "/api/v1/users", timeout=10)
    assert users.status_code == 401  # the session is for pages only, never the API
    assert page(browser, site).status_code == 200


def test_an_issuer_whose_discovery_names_another_is_refused(site, provider):
    configure(site, oidc_issuer=provider.url + "/")
    # The trailing slash is the same issuer; another host is not.
    assert (
        requests.get(site.url + "/login/oidc", allow_redirects=False, timeout=10).status_code == 302
    )
    configure(site, oidc_issuer=provider.url.replace("127.0.0.1", "localhost"))

    refused = requests.get(site.url + "/login/oidc", allow_redirects=False, timeout=10)

    assert refused.status_code == 502
    assert "names issuer" in shown_error(refused)
    assert "not AXON_OIDC_ISSUER" in shown_error(refused)


def test_a_login_with_a_token_is_in_the_audit_log_too(site):
    browser = requests.Session()

    login = browser.post(
        site.url + "/login",
        data={"token": API_TOKEN, "next": "/"},
        allow_redirects=False,
        timeout=10,
    )

    assert login.status_code == 302
    with site.db.session() as db:
        entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert (entry.action, entry.actor, entry.status) == ("access.login", "the API token", 302)


def test_a_verified_email_that_several_users_have_joins_none_of_them(site, provider):
    with site.db.session() as db:
        db.add_all(
            [
                User(name="twin-a", email="twin@example.org"),
                User(name="twin-b", email="twin@example.org"),
            ]
        )
    configure(site, oidc_issuer=provider.url, oidc_match_email=True)
    provider.add("twin", "twin@example.org", sub="twin-1")

    browser, answer = sign_in(site, provider, "twin")

    assert answer.status_code == 401
    assert "more than one user has the email twin@example.org" in shown_error(answer)
    assert page(browser, site).status_code == 302
    with site.db.session() as db:
        assert db.scalar(select(UserLogin).where(UserLogin.subject == "twin-1")) is None
