"""What the runner does when the API server's RBAC refuses Axon's account: a run whose Job or
whose token's Secret may not be created fails `SubmitFailed` in the server's words, once, with
nothing left behind; a WebSocket to a service the account may not proxy says which permission
is missing. Against the API-server double, whose refusals are worded as a real server's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from ci.runs import launch
from ci.store.models import Run
from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.api import Refused
from runners.kubernetes.manifests import object_name
from runners.services import ServiceForbidden, ServiceRequest
from tests.ci.conftest import Axon
from tests.fakes.kubernetes import KubernetesDouble, PodScript
from tests.fakes.kubernetes.rbac import AGENT_USER

USER = f'User "{AGENT_USER}"'


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(speed=10, watch_timeout=20, bookmark_interval=2) as double:
        yield double


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


def pushed(client: Any, db: Any, rt: Any, runner: KubernetesRunner) -> tuple[int, str]:
    """A pushed run placed on `runner`, not started yet: its id and its objects' name."""
    axon = Axon(client, db)
    project = f"p{uuid.uuid4().hex[:8]}"
    axon.create_project(project)
    axon.subscribe(project)
    [run_id] = axon.push()
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(runner="kubernetes"))
        name = object_name(session.get(Run, run_id).uuid)
    rt._runners["kubernetes"] = runner
    return run_id, name


def start(rt: Any, db: Any, run_id: int) -> None:
    with db.session() as session:
        launch.start_run(rt, session, run_id)


def submit_refusal(client: Any, db: Any, run_id: int) -> str:
    """The message of the run's last condition, once it is known to have failed to submit."""
    run = Axon(client, db).run(run_id)
    failed = run["conditions"][-1]
    assert (run["status"], failed["reason"]) == ("failed", "SubmitFailed")
    return str(failed["message"])


def test_a_run_whose_job_the_role_may_not_create_fails_once_in_the_servers_words(
    client, db, rt, runner, k8s
):
    k8s.forbid("create", "jobs", "default")
    run_id, name = pushed(client, db, rt, runner)

    start(rt, db, run_id)
    start(rt, db, run_id)  # a start delivered again finds it failed: nothing is tried again

    message = submit_refusal(client, db, run_id)
    assert message == (
        f"Refused: kubernetes refused the Job {name}: jobs.batch is forbidden: {USER} cannot "
        'create resource "jobs" in API group "batch" in the namespace "default" (403 Forbidden)'
    )
    assert k8s.calls[("create", "jobs")] == 1
    # The token's Secret, made first so no pod starts without it, goes with the refusal.
    assert k8s.calls[("delete", "secrets")] == 1 and k8s.objects("secrets") == []


def test_a_run_whose_token_secret_the_role_may_not_create_fails_before_any_job_exists(
    client, db, rt, runner, k8s
):
    k8s.forbid("create", "secrets")
    run_id, name = pushed(client, db, rt, runner)

    start(rt, db, run_id)

    message = submit_refusal(client, db, run_id)
    assert message == (
        f"Refused: kubernetes refused the Secret {name}-env: secrets is forbidden: {USER} "
        'cannot create resource "secrets" in API group "" in the namespace "default" '
        "(403 Forbidden)"
    )
    assert "HTTP response headers" not in message
    assert k8s.calls[("create", "secrets")] == 1 and k8s.calls[("create", "jobs")] == 0


def test_a_secret_the_role_may_not_hand_to_its_job_takes_the_job_and_the_secret_away(
    client, db, rt, runner, k8s
):
    k8s.forbid("patch", "secrets")
    run_id, name = pushed(client, db, rt, runner)

    start(rt, db, run_id)

    message = submit_refusal(client, db, run_id)
    assert message.startswith(
        f"Refused: kubernetes refused to hand the Secret {name}-env to its run: secrets "
        f'"{name}-env" is forbidden: {USER} cannot patch resource "secrets"'
    )
    k8s.wait_for(lambda: k8s.get("jobs", name) is None and not k8s.pods_of(name))
    assert k8s.objects("secrets") == []


def test_a_websocket_to_a_service_the_role_may_not_proxy_names_the_missing_permission(runner, k8s):
    component = {"run": {"kind": "service", "ports": [6006], "container": {"image": "tb:1"}}}
    k8s.script("axon.dev/project=mnist", PodScript(duration=None))
    external_id = runner.submit(
        RunSpec(uuid.uuid4().hex, "board", "mnist", ["serve"], component=component)
    )
    k8s.forbid("get", "services/proxy", "default")
    handshake = ServiceRequest(
        "GET",
        "/ws",
        headers=(
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ),
        port=6006,
        upgrade=True,
    )

    with pytest.raises(ServiceForbidden) as refused:
        runner.open_service(external_id, handshake)

    name = external_id.rsplit("/", 1)[-1]
    assert str(refused.value) == (
        "the Kubernetes API server does not allow Axon's account to get services/proxy in "
        f'namespace default (services "{name}:6006" is forbidden: {USER} cannot get resource '
        '"services/proxy" in API group "" in the namespace "default"); grant it with a Role '
        "bound to that account: the Helm chart's runner Role does (rbac.create: true)"
    )


def test_a_refusal_is_not_among_the_errors_a_start_is_retried_for(runner):
    assert not issubclass(Refused, runner.transient_errors)
