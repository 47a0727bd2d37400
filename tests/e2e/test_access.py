"""Production as deployed: the API needs its token, and a job cannot read the worker's secrets."""

from __future__ import annotations

import sys
import uuid

import pytest
import requests

from tests.e2e import conftest
from tests.e2e.scenario import NAME, OWNER, push_delivery, send

PRODUCTION = pytest.mark.parametrize("axon", [conftest.PRODUCTION], indirect=True)

# What a hostile job would try: its parent's environment (the supervisor's) and its own.
SNOOP = """\
import os
print("parent:", open(f"/proc/{os.getppid()}/environ").read().replace("\\0", " "))
print("own:", " ".join(f"{k}={v}" for k, v in os.environ.items()))
"""


def snooping_subscription(axon) -> tuple[str, str]:
    project = f"snoop{uuid.uuid4().hex[:6]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    doc = {
        "name": "snoop",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}},
        "checkout": False,
        "report": {"github": {"context": "axon/snoop"}},
        "operation": {
            "version": 1.1,
            "kind": "operation",
            "name": "snoop",
            "component": {
                "version": 1.1,
                "kind": "component",
                "run": {
                    "kind": "job",
                    "container": {"image": "python:3.11", "command": [sys.executable, "-c", SNOOP]},
                },
            },
        },
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


@PRODUCTION
def test_a_job_cannot_read_the_workers_secrets(axon, repo, github):
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=None)
    project, source = snooping_subscription(axon)

    assert send(axon, source, *push_delivery(repo)).status_code == 202
    run = axon.wait_for_run(project)

    assert run["status"] == "succeeded", axon.logs()
    logs = axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs").text
    assert "parent: " in logs and "PATH=" in logs and f"AXON_RUN_UUID={run['uuid']}" in logs
    for name in (
        "AXON_SECRET_KEY",
        "AXON_DATABASE_URL",
        "AXON_BROKER_URL",
        "AXON_GITHUB_TOKEN",
        "AXON_SLACK_WEBHOOK_URL",
        "AXON_API_TOKEN",
    ):
        assert axon.env[name] not in logs, f"the job read {name}"


@PRODUCTION
def test_in_production_nothing_but_webhooks_and_health_answers_without_the_token(axon):
    def anonymous(path: str, **kwargs) -> requests.Response:
        return requests.get(axon.url + path, timeout=10, allow_redirects=False, **kwargs)

    assert anonymous("/api/v1/projects").status_code == 401
    assert anonymous("/api/v1/runs").status_code == 401
    assert anonymous("/").status_code == 302
    assert anonymous("/runs/0123").headers["Location"].startswith("/login?next=")
    assert anonymous("/healthz").status_code == 200
    bearer = {"Authorization": f"Bearer {axon.env['AXON_API_TOKEN']}"}
    assert anonymous("/", headers=bearer).status_code == 200


def test_the_production_api_refuses_to_start_without_a_token(production_axon):
    server = production_axon(AXON_API_TOKEN="")

    with pytest.raises(RuntimeError, match="AXON_API_TOKEN is not set: gunicorn wsgi:app"):
        server.start(skip=("worker", "agent"))
