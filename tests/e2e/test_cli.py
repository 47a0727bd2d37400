"""The `axon` command drives a running Axon as the README shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
import requests

from tests.e2e.harness import BIN, Axon
from tests.e2e.scenario import NAME, OWNER, push_delivery, send

EMBEDDED = pytest.mark.parametrize("axon", ["embedded"], indirect=True)

SUBSCRIPTION = textwrap.dedent(
    f"""\
    name: train-on-main
    repo: {OWNER}/{NAME}
    on:
      push:
        branches: [main, "release/**"]
    report:
      github: {{context: axon/cli}}
      slack: {{}}
    operation:
      version: 1.1
      kind: operation
      name: train
      params:
        lr: 0.01
        sleep: {{value: "{{{{ event.branch == 'main' and 30 or 0 }}}}"}}
      component:
        version: 1.1
        kind: component
        inputs:
          - {{name: lr, type: float}}
          - {{name: sleep, type: float}}
        run:
          kind: job
          container:
            image: python:3.11
            command: [{sys.executable}, train.py]
            args: ["--lr={{{{ lr }}}}", "--sleep", "{{{{ sleep }}}}"]
    """
)


def axon_cli(server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AXON_URL": server.url, "AXON_API_TOKEN": server.token}
    result = subprocess.run(
        [str(BIN / "axon"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@EMBEDDED
def test_a_user_subscribes_follows_and_stops_a_run_from_the_cli(
    axon, repo, github, slack, tmp_path
):
    project, source = f"cli{uuid.uuid4().hex[:6]}", "gh-cli"
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=None)
    slack.expect_message(times=None)
    spec = tmp_path / "subscription.yaml"
    spec.write_text(SUBSCRIPTION)

    assert json.loads(axon_cli(axon, "projects", "create", project).stdout)["name"] == project
    created = axon_cli(
        axon,
        "sources",
        "create",
        project,
        source,
        "--provider",
        "github",
        "--secret",
        "It's a Secret",
    )
    assert f"/webhooks/github/{source}" in created.stderr
    axon_cli(axon, "subscriptions", "create", project, "-f", str(spec))
    assert "train-on-main\tactive" in axon_cli(axon, "subscriptions", "ls", project).stdout

    response = send(axon, source, *push_delivery(repo))
    run = axon.wait_for_run(project, done=False)
    axon.wait_for_status(run["uuid"], "running")

    listed = axon_cli(axon, "ops", "ls", "--project", project).stdout
    assert f"{run['uuid']}\trunning\t{project}/train" in listed
    decision = json.loads(
        axon_cli(axon, "deliveries", "get", str(response.json()["delivery"])).stdout
    )
    assert decision["decisions"][0]["matched"]
    explained = axon_cli(axon, "events", "explain", str(response.json()["delivery"])).stdout
    assert f"train-on-main: matched -> run {run['uuid']}" in explained
    assert "ok  ref: branch 'main' matches 'main'" in explained

    assert "stopping" in axon_cli(axon, "ops", "stop", run["uuid"]).stdout
    logs = axon_cli(axon, "ops", "logs", "-f", run["uuid"]).stdout
    assert "training at" in logs
    shown = json.loads(axon_cli(axon, "runs", "get", run["uuid"]).stdout)
    assert shown["status"] == "stopped"


@EMBEDDED
def test_an_invalid_subscription_file_is_refused_naming_the_field_and_line(axon, tmp_path):
    project = f"cli{uuid.uuid4().hex[:6]}"
    axon_cli(axon, "projects", "create", project)
    spec = tmp_path / "subscription.yaml"
    spec.write_text(SUBSCRIPTION.replace("command:", "comand:"))

    result = axon_cli(axon, "subscriptions", "create", project, "-f", str(spec), check=False)

    assert result.returncode != 0
    assert "operation.component.run.container.comand" in result.stderr
    assert "line" in result.stderr


def test_the_cli_says_plainly_when_axon_is_not_running(tmp_path):
    env = {**os.environ, "AXON_URL": "http://127.0.0.1:1"}
    result = subprocess.run(
        [str(BIN / "axon"), "ops", "ls"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0 and "is `axon serve` running?" in result.stderr


def test_the_embedded_default_wants_the_token_it_printed_on_its_first_start(tmp_path):
    server = Axon("embedded", tmp_path, {}).start()
    try:
        anonymous = requests.get(server.url + "/api/v1/projects", timeout=10)
        page = requests.get(server.url + "/", timeout=10, allow_redirects=False)
        without = subprocess.run(
            [str(BIN / "axon"), "projects", "ls"],
            env={**os.environ, "AXON_URL": server.url, "AXON_API_TOKEN": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        axon_cli(server, "projects", "create", "vision")
        listed = axon_cli(server, "projects", "ls").stdout
    finally:
        server.stop()
    again = Axon("embedded", tmp_path, {})
    again.token = server.token
    again.start()
    try:
        still = axon_cli(again, "projects", "ls").stdout.split()
    finally:
        again.stop()

    assert anonymous.status_code == 401
    assert (page.status_code, page.headers["Location"]) == (302, "/login?next=/")
    assert without.returncode != 0 and "AXON_API_TOKEN is not set" in without.stderr
    assert listed.split() == still == ["vision"]
    log = (tmp_path / "serve.log").read_text()
    assert log.count("export AXON_API_TOKEN=") == 1, log
