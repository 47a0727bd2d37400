"""A service run opens through Axon: `/runs/<uuid>/service/…` reaches its pods through the
Kubernetes API server's service proxy (the double's, which forwards to a loopback HTTP server
standing for the pods), for whoever may read the run's project and nobody else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from ci import runtime
from ci.identity.roles import Role
from ci.runs import launch
from ci.store.models import Project, Run
from runners.base import RunSpec
from runners.kubernetes.manifests import object_name
from runners.kubernetes.runner import KubernetesRunner
from tests.ci.identity_world import grant, make_user
from tests.conftest import API_TOKEN
from tests.fakes.kubernetes.double import KubernetesDouble
from tests.fakes.kubernetes.fixtures import k8s  # noqa: F401  (a fixture)

PORT = 6006
BIG = 3 * 1024 * 1024 + 17  # more than one chunk each way


class Pod(BaseHTTPRequestHandler):
    """The service's pods: answers what it was asked, as JSON; `/big` streams BIG bytes;
    `/moved` redirects to its own root and sets a cookie named like Axon's session."""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/big") or self.path.endswith("/big"):
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            for start in range(0, BIG, 65536):
                self.wfile.write(bytes([start // 65536 % 251]) * min(65536, BIG - start))
            return
        if self.path.endswith("/private"):  # the service's own refusal, not the API server's
            data = b'{"kind":"Status","message":"the board says no"}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if self.path.endswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/login")
            self.send_header("Set-Cookie", "axon_session=stolen; Path=/")
            self.send_header("Set-Cookie", "_xsrf=theirs; Path=/")
            self.end_headers()
            return
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_length": len(body),
            "body_head": body[:64].decode("latin-1"),
        }
        data = json.dumps(seen).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


@pytest.fixture
def pod() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pod)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def runner(k8s: KubernetesDouble, rt: runtime.Runtime) -> Iterator[KubernetesRunner]:  # noqa: F811
    made = KubernetesRunner(configuration=k8s.configuration(), collect_outputs=False)
    rt._runners["kubernetes"] = made
    runtime.get()._runners["kubernetes"] = made
    yield made
    made.close()


@pytest.fixture
def serve(app: Any, client: Any, k8s: KubernetesDouble, runner: KubernetesRunner, pod: int):  # noqa: F811
    """A service run of project `own` submitted to the double, its pods served by `pod`."""
    assert client.post("/api/v1/projects", json={"name": "own"}).status_code == 201

    def make(status: str = "running", rewrite: bool = True, project: str = "own") -> str:
        component = {
            "kind": "component",
            "run": {
                "kind": "service",
                "ports": [PORT],
                "rewritePath": rewrite,
                "container": {"image": "tensorflow/tensorflow:2.15.0"},
            },
        }
        with runtime.get().db.session() as session:
            owner = session.scalar(select(Project).where(Project.name == project))
            assert owner is not None
            run = Run(project_id=owner.id, name="board", kind="service", status=status)
            run.runner, run.compiled = "kubernetes", {"component": component}
            session.add(run)
            session.flush()
            spec = RunSpec(run.uuid, "board", project, ["tensorboard"], component=component)
            run.external_id = runner.submit(spec)
            uuid = run.uuid
        k8s.serve_service(object_name(uuid), PORT, pod)
        return uuid

    return make


def test_a_get_with_a_query_reaches_the_service_with_the_prefix_stripped(client, serve):
    uuid = serve(rewrite=True)

    answer = client.get(f"/runs/{uuid}/service/data/plugin/scalars?run=train&tag=loss")

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["method"] == "GET"
    assert answer.json["path"] == "/data/plugin/scalars?run=train&tag=loss"


def test_without_rewrite_path_the_service_gets_the_full_path(client, serve):
    uuid = serve(rewrite=False)

    answer = client.get(f"/runs/{uuid}/service/lab/tree?x=1")

    assert answer.json["path"] == f"/runs/{uuid}/service/lab/tree?x=1"
    root = client.get(f"/runs/{uuid}/service/")
    assert root.json["path"] == f"/runs/{uuid}/service/"
    bare = client.get(f"/runs/{uuid}/service")
    assert bare.status_code == 308 and bare.location.endswith(f"/runs/{uuid}/service/")


def test_a_post_body_streams_to_the_service_and_a_large_answer_streams_back(client, serve):
    uuid = serve()
    sent = b"x" * BIG

    posted = client.post(f"/runs/{uuid}/service/api/contents", data=sent)
    big = client.get(f"/runs/{uuid}/service/big")

    assert posted.status_code == 201
    assert (posted.json["body_length"], posted.json["body_head"]) == (BIG, "x" * 64)
    body = big.get_data()
    assert len(body) == BIG and body[65536 * 3] == 3


def test_axons_credentials_never_reach_the_service(client, serve):
    uuid = serve()
    client.set_cookie("axon_session", "abc")
    client.set_cookie("_xsrf", "theirs")

    answer = client.get(f"/runs/{uuid}/service/")

    seen = answer.json["headers"]
    assert "authorization" not in seen
    assert seen["cookie"] == "_xsrf=theirs"
    assert API_TOKEN not in json.dumps(seen)


def test_a_redirect_stays_under_the_prefix_and_axons_cookie_is_not_set(client, serve):
    uuid = serve(rewrite=True)

    answer = client.get(f"/runs/{uuid}/service/moved")

    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/runs/{uuid}/service/login"
    assert answer.headers.getlist("Set-Cookie") == ["_xsrf=theirs; Path=/"]


def test_a_finished_run_answers_404_and_one_not_running_yet_409(client, serve):
    ended, waiting = serve(status="succeeded"), serve(status="scheduled")

    gone = client.get(f"/runs/{ended}/service/")
    early = client.get(f"/runs/{waiting}/service/")

    assert gone.status_code == 404 and "has ended (succeeded)" in gone.json["detail"]
    assert gone.headers["Content-Type"] == "application/problem+json"
    assert early.status_code == 409 and "not running yet" in early.json["detail"]


def test_a_job_serves_nothing(client, serve):
    with runtime.get().db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "own"))
        serve()  # the project exists
        compiled = {"kind": "operation", "component": {"run": {"kind": "job"}}}
        job = Run(project_id=project.id, name="train", status="running", compiled=compiled)
        session.add(job)
        session.flush()
        uuid = job.uuid

    answer = client.get(f"/runs/{uuid}/service/")

    assert answer.status_code == 404 and "is not a service" in answer.json["detail"]


def test_a_run_not_compiled_yet_answers_409_not_that_it_serves_nothing(client, serve):
    with runtime.get().db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "own"))
        serve()  # the project exists
        fresh = Run(project_id=project.id, name="board", status="created")
        session.add(fresh)
        session.flush()
        uuid = fresh.uuid

    answer = client.get(f"/runs/{uuid}/service/")

    assert answer.status_code == 409 and "not compiled yet" in answer.json["detail"]


def test_a_service_without_pods_answers_503_with_the_reason(client, serve, k8s):  # noqa: F811
    uuid = serve()
    k8s.api.service_backends.ports.clear()

    answer = client.get(f"/runs/{uuid}/service/")

    assert answer.status_code == 503 and "no ready pod" in answer.json["detail"]


def test_without_rbac_for_services_proxy_it_answers_502_naming_the_missing_permission(
    client,
    serve,
    k8s,  # noqa: F811
):
    uuid = serve()
    k8s.forbid("create", "services/proxy", "default")
    service = f"{object_name(uuid)}:{PORT}"

    posted = client.post(f"/runs/{uuid}/service/data", data=b"x")
    fetched = client.get(f"/runs/{uuid}/service/data")

    assert posted.status_code == 502, posted.get_data(as_text=True)
    assert posted.json["detail"] == (
        f"run {uuid}'s service cannot be opened: the Kubernetes API server does not allow "
        "Axon's account to create services/proxy in namespace default "
        f'(services "{service}" is forbidden: User "system:serviceaccount:axon:axon-agent" '
        'cannot create resource "services/proxy" in API group "" in the namespace "default"); '
        "grant it with a Role bound to that account: the Helm chart's runner Role does "
        "(rbac.create: true)"
    )
    # Only the verb the Role lacks is refused.
    assert (fetched.status_code, fetched.json["method"]) == (200, "GET")


def test_a_403_from_the_service_itself_passes_through_as_it_is(client, serve):
    uuid = serve()

    answer = client.get(f"/runs/{uuid}/service/private")

    assert answer.status_code == 403
    assert answer.json == {"kind": "Status", "message": "the board says no"}


def test_anonymous_callers_get_401_and_a_browser_the_login(anonymous_client, serve):
    uuid = serve()

    script = anonymous_client.get(f"/runs/{uuid}/service/")
    page = anonymous_client.get(f"/runs/{uuid}/service/", headers={"Sec-Fetch-Mode": "navigate"})
    posted = anonymous_client.post(f"/runs/{uuid}/service/api", data=b"{}")

    assert script.status_code == 401 and posted.status_code == 401
    assert page.status_code == 302 and page.location.startswith("/login?next=")


def test_a_viewer_opens_it_and_a_member_of_another_project_is_refused(
    client, anonymous_client, serve
):
    uuid = serve()
    assert client.post("/api/v1/projects", json={"name": "other"}).status_code == 201
    viewer, stranger = make_user(client, "viewer"), make_user(client, "stranger")
    grant(client, "own", "viewer", Role.VIEWER)
    grant(client, "other", "stranger", Role.ADMIN)

    seen = anonymous_client.get(
        f"/runs/{uuid}/service/", headers={"Authorization": f"Bearer {viewer}"}
    )
    refused = anonymous_client.get(
        f"/runs/{uuid}/service/", headers={"Authorization": f"Bearer {stranger}"}
    )
    nowhere = anonymous_client.get(
        f"/runs/{'0' * 32}/service/", headers={"Authorization": f"Bearer {stranger}"}
    )

    assert seen.status_code == 200
    assert refused.status_code == nowhere.status_code == 403
    assert refused.json["detail"] == nowhere.json["detail"]


def test_the_page_session_posts_without_a_form_token_but_not_from_another_origin(
    anonymous_client, serve
):
    uuid = serve()
    login = anonymous_client.post("/login", data={"token": API_TOKEN, "next": "/"})
    assert login.status_code == 302

    posted = anonymous_client.post(f"/runs/{uuid}/service/api/sessions", data=b'{"a": 1}')
    public = anonymous_client.post(
        f"/runs/{uuid}/service/api/sessions", data=b"{}", headers={"Origin": "http://axon.test"}
    )
    foreign = anonymous_client.post(
        f"/runs/{uuid}/service/api/sessions",
        data=b"{}",
        headers={"Origin": "https://evil.example"},
    )

    assert posted.status_code == 201, posted.get_data(as_text=True)
    assert "cookie" not in posted.json["headers"]  # Axon's session was the only cookie
    assert public.status_code == 201  # the origin AXON_PUBLIC_URL names, behind a proxy
    assert foreign.status_code == 403


def test_the_run_page_and_the_api_show_the_open_link_while_it_runs(client, serve):
    running, ended, waiting = serve(), serve(status="succeeded"), serve(status="starting")

    page = client.get(f"/runs/{running}").get_data(as_text=True)
    ended_page = client.get(f"/runs/{ended}").get_data(as_text=True)
    view = client.get(f"/api/v1/runs/{running}").json
    ended_view = client.get(f"/api/v1/runs/{ended}").json

    assert f'href="/runs/{running}/service/" id="service-open"' in page
    assert "service-open" not in ended_page
    waiting_page = client.get(f"/runs/{waiting}").get_data(as_text=True)
    assert "service-open" not in waiting_page and "opens here once it runs" in waiting_page
    assert view["service_url"] == f"http://axon.test/runs/{running}/service/"
    assert ended_view["service_url"] is None


def test_a_service_is_told_the_base_path_it_is_served_under(client, serve, runner):
    uuid = serve(rewrite=False)

    with runtime.get().db.session() as session:
        run = session.scalar(select(Run).where(Run.uuid == uuid))
        env = launch._run_spec(runtime.get(), session, run).env
        job = Run(project_id=run.project_id, name="train", status="running")
        session.add(job)
        session.flush()
        job_env = launch._run_spec(runtime.get(), session, job).env

    assert env["AXON_SERVICE_BASE_URL"] == f"/runs/{uuid}/service"
    assert "AXON_SERVICE_BASE_URL" not in job_env
