"""Who may use the server: the API token, the login for pages, run tokens, and start-up refusal."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ci import runtime
from ci.api.access import FORWARDED
from ci.cli.commands import main
from ci.store.models import Delivery, User
from tests.conftest import API_TOKEN

ROOT = Path(__file__).resolve().parents[2]
# Open without the API token, each for its own reason (see ci/api/access.py).
PUBLIC = {
    "health",
    "access.login",
    "access.logout",
    "oidc_login.start",
    "oidc_login.callback",
    "tracking.log_outputs",
    "webhooks.receive",
    "assets.static",
}


def set_api_token(value: str) -> None:
    current = runtime.get()
    current.settings = current.settings.model_copy(update={"api_token": value})


def every_route(app: Any) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of each route the app serves, placeholders filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, path))
    return routes


# -- the API token -------------------------------------------------------------------------------


def assert_every_route_needs_credentials(app: Any, anonymous_client: Any) -> None:
    """Each API route answers 401 and each page sends to the login, for a caller with none."""
    checked = 0
    for endpoint, method, path in every_route(app):
        if endpoint in PUBLIC:
            continue
        response = anonymous_client.open(path, method=method)
        checked += 1
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert "Authorization: Bearer" in response.json["error"]["message"]
        elif method == "GET" and endpoint not in FORWARDED:
            assert response.status_code == 302, (method, path)
            assert response.location.startswith("/login?next=")
        else:
            assert response.status_code == 401, (method, path)
    assert checked > 20  # the API's routes and both pages


def test_without_credentials_every_api_route_gets_401_and_every_page_the_login(
    app, anonymous_client
):
    assert_every_route_needs_credentials(app, anonymous_client)


def test_a_wrong_token_gets_401_and_the_right_one_is_answered(axon, anonymous_client):
    axon.create_project()

    wrong = anonymous_client.get(
        "/api/v1/projects", headers={"Authorization": "Bearer not-the-token"}
    )
    right = anonymous_client.get(
        "/api/v1/projects", headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    create = anonymous_client.post("/api/v1/projects", json={"name": "audio"})

    assert (wrong.status_code, right.status_code, create.status_code) == (401, 200, 401)
    assert [p["name"] for p in right.json] == ["vision"]


def test_the_pages_accept_the_token_as_a_bearer_header(axon, created_run, anonymous_client):
    run = axon.run(created_run)
    bearer = {"Authorization": f"Bearer {API_TOKEN}"}

    index = anonymous_client.get("/", headers=bearer)
    page = anonymous_client.get(f"/runs/{run['uuid']}", headers=bearer)

    assert (index.status_code, page.status_code) == (200, 200)
    assert run["project"] in index.text and run["uuid"] in page.text


def test_health_is_open_to_probes(anonymous_client):
    assert anonymous_client.get("/healthz").json == {"status": "ok"}


def test_webhooks_are_accepted_without_the_api_token(axon, db):
    axon.create_project()
    axon.subscribe()
    axon.client.environ_base.pop("HTTP_AUTHORIZATION")

    delivery_id = axon.deliver_push()

    with db.session() as session:
        assert session.get(Delivery, delivery_id).status == "received"


def test_without_a_token_set_the_server_is_open_only_until_its_first_user_exists(
    axon, created_run, anonymous_client
):
    set_api_token("")

    assert anonymous_client.get("/api/v1/projects").status_code == 200
    assert anonymous_client.get("/").status_code == 200
    login = anonymous_client.get("/login?next=/runs/x")
    assert (login.status_code, login.location) == (302, "/runs/x")

    assert anonymous_client.post("/api/v1/users", json={"name": "first"}).status_code == 201

    assert anonymous_client.get("/api/v1/projects").status_code == 401
    page = anonymous_client.get("/")
    assert (page.status_code, page.location) == (302, "/login?next=/")
    assert anonymous_client.get("/login?next=/runs/x").status_code == 200


@pytest.mark.parametrize("embedded", [True, False])
def test_once_a_user_exists_a_server_without_a_token_checks_every_route(
    app, anonymous_client, embedded
):
    current = runtime.get()
    current.settings = current.settings.model_copy(update={"api_token": "", "embedded": embedded})
    with current.db.session() as session:
        session.add(User(name="someone"))

    assert_every_route_needs_credentials(app, anonymous_client)


# -- the login for pages -------------------------------------------------------------------------


def log_in(client: Any, token: str, next_page: str = "/") -> Any:
    return client.post("/login", data={"token": token, "next": next_page})


def test_the_login_form_asks_for_the_token(anonymous_client):
    page = anonymous_client.get("/login?next=/runs/abc")

    assert page.status_code == 200
    assert 'name="token"' in page.text and 'value="/runs/abc"' in page.text


def test_logging_in_sets_a_strict_httponly_session_and_opens_the_pages(
    axon, created_run, anonymous_client
):
    uuid = axon.run(created_run)["uuid"]

    answer = log_in(anonymous_client, API_TOKEN, f"/runs/{uuid}")

    assert (answer.status_code, answer.location) == (302, f"/runs/{uuid}")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("axon_session=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert anonymous_client.get(f"/runs/{uuid}").status_code == 200
    assert anonymous_client.get("/").status_code == 200


def test_a_wrong_token_at_the_login_gets_401_and_no_session(anonymous_client):
    answer = log_in(anonymous_client, "guess")

    assert answer.status_code == 401
    assert "not the API token" in answer.text
    assert "Set-Cookie" not in answer.headers
    assert anonymous_client.get("/").status_code == 302


def test_a_session_cookie_whose_signature_was_altered_opens_nothing(anonymous_client):
    log_in(anonymous_client, API_TOKEN)
    assert anonymous_client.get("/").status_code == 200
    cookie = anonymous_client.get_cookie("axon_session")
    payload, _, signature = cookie.value.rpartition(".")

    anonymous_client.set_cookie("axon_session", f"{payload}.{signature[::-1]}")

    assert anonymous_client.get("/").status_code == 302


def test_the_page_session_does_not_open_the_api(anonymous_client):
    log_in(anonymous_client, API_TOKEN)

    assert anonymous_client.get("/").status_code == 200
    assert anonymous_client.get("/api/v1/projects").status_code == 401
    assert anonymous_client.post("/api/v1/projects", json={"name": "x"}).status_code == 401


def test_a_new_api_token_ends_the_sessions_made_with_the_old_one(anonymous_client):
    log_in(anonymous_client, API_TOKEN)
    set_api_token("a-rotated-token")

    assert anonymous_client.get("/").status_code == 302


def form_token(client) -> str:
    """The csrf_token a page's forms carry, as the page the user sees rendered it."""
    assert client.get("/").status_code == 200
    with client.session_transaction() as kept:
        return kept["csrf"]


def test_logging_out_ends_the_session(anonymous_client):
    log_in(anonymous_client, API_TOKEN)

    answer = anonymous_client.post("/logout", data={"csrf_token": form_token(anonymous_client)})
    assert answer.status_code == 302
    assert anonymous_client.get("/").status_code == 302


def test_a_form_posted_without_the_pages_csrf_token_is_refused(anonymous_client):
    log_in(anonymous_client, API_TOKEN)
    form_token(anonymous_client)

    assert anonymous_client.post("/logout").status_code == 403
    assert anonymous_client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert anonymous_client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_the_login_never_redirects_off_the_server(anonymous_client, target):
    assert log_in(anonymous_client, API_TOKEN, target).location == "/"


# -- run tokens ----------------------------------------------------------------------------------


def test_a_job_reports_outputs_with_its_run_token_and_a_user_with_the_api_token(
    rt, axon, created_run, anonymous_client
):
    uuid = axon.run(created_run)["uuid"]
    url, body = f"/api/v1/runs/{uuid}/outputs", {"outputs": {"accuracy": 0.93}}

    with_run_token = anonymous_client.post(
        url, json=body, headers={"Authorization": f"Bearer {rt.run_token(uuid)}"}
    )
    with_api_token = anonymous_client.post(
        url, json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )

    assert with_run_token.status_code == 200, with_run_token.json
    assert with_run_token.json == {"outputs": {"accuracy": 0.93}}
    assert with_api_token.status_code == 200, with_api_token.json


def test_one_runs_token_is_refused_on_another_run(rt, axon, anonymous_client):
    axon.create_project()
    axon.subscribe()
    axon.subscribe(name="second-on-master")
    first, second = (axon.run(run_id)["uuid"] for run_id in axon.push())
    body = {"outputs": {"accuracy": 1.0}}

    answer = anonymous_client.post(
        f"/api/v1/runs/{second}/outputs",
        json=body,
        headers={"Authorization": f"Bearer {rt.run_token(first)}"},
    )

    assert answer.status_code == 401
    assert "run token" in answer.json["error"]["message"]
    assert axon.client.get(f"/api/v1/runs/{second}").json["outputs"] == {}


def test_a_run_token_with_characters_outside_ascii_is_refused_not_a_server_error(
    axon, created_run, anonymous_client
):
    uuid = axon.run(created_run)["uuid"]

    answer = anonymous_client.post(
        f"/api/v1/runs/{uuid}/outputs",
        json={"outputs": {"accuracy": 1.0}},
        headers={"Authorization": "Bearer t\u00f6ken"},
    )

    assert answer.status_code == 401


# -- the worker's own environment -----------------------------------------------------------------

NOBODY = 65534


def unprivileged_process(protected: bool) -> int:
    """A forked process of an unprivileged user that holds this environment; its pid."""
    ready, signal_ready = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            # Changing uid makes a process non-dumpable; a process started as that user is not.
            ctypes.CDLL(None).prctl(runtime.PR_SET_DUMPABLE, 1, 0, 0, 0)
            if protected:
                runtime.protect_process()
            os.write(signal_ready, b"x")
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(signal_ready)
    os.read(ready, 1)
    os.close(ready)
    return pid


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="needs Linux and root, to act as two processes of another user",
)
@pytest.mark.parametrize("protected, readable", [(False, True), (True, False)])
def test_a_protected_processs_environment_is_unreadable_to_a_job_of_the_same_user(
    protected, readable
):
    pid = unprivileged_process(protected)
    try:
        job = subprocess.run(
            ["cat", f"/proc/{pid}/environ"], user=NOBODY, group=NOBODY, capture_output=True
        )
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    assert (job.returncode == 0) == readable, job.stderr
    assert (b"PATH=" in job.stdout) == readable


# -- refusing to start without a token -----------------------------------------------------------


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`axon serve` with these variables; the server is recorded, not run."""
    from ci.embedded import Server

    started: list[tuple[str, int]] = []
    monkeypatch.setattr(Server, "run", lambda self: started.append((self.host, self.port)))
    monkeypatch.setattr(runtime, "protect_process", lambda: None)

    def invoke(*args: str, **env: str | None) -> Any:
        base = {
            "AXON_HOME": str(tmp_path),
            "AXON_DATABASE_URL": f"sqlite:///{tmp_path / 'axon.db'}",
            "AXON_API_TOKEN": None,
            "AXON_EMBEDDED": None,
        }
        result = CliRunner().invoke(main, ["serve", *args], env={**base, **env})
        result.started = list(started)
        return result

    yield invoke
    runtime.get().close()


def test_axon_serve_on_a_public_address_without_a_token_refuses_naming_the_variable(serve):
    result = serve("--host", "0.0.0.0")

    assert result.exit_code == 1
    assert "AXON_API_TOKEN is not set" in result.output
    assert result.started == []


def test_axon_serve_not_embedded_without_a_token_refuses_even_on_loopback(serve):
    result = serve("--host", "127.0.0.1", AXON_EMBEDDED="false")

    assert result.exit_code == 1
    assert "AXON_API_TOKEN is not set" in result.output
    assert result.started == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_the_embedded_default_on_loopback_starts_without_a_token(serve, host):
    result = serve("--host", host)

    assert result.exit_code == 0, result.output
    assert result.started == [(host, 8000)]


def test_axon_serve_with_a_token_starts_on_a_public_address(serve):
    result = serve("--host", "0.0.0.0", AXON_API_TOKEN="a-long-random-token")

    assert result.exit_code == 0, result.output
    assert result.started == [("0.0.0.0", 8000)]


def test_gunicorn_wsgi_app_without_a_token_refuses_naming_the_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXON_")}
    env["AXON_HOME"] = str(tmp_path)

    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "AXON_API_TOKEN is not set: gunicorn wsgi:app" in result.stderr
