"""The REST API: projects, sources, subscriptions and runs, as a user and a job call it."""

from __future__ import annotations

from datetime import datetime

import pytest

from schemas.status import RunStatus
from tests.ci.conftest import SECRET, advance, subscription

SUBSCRIPTION_YAML = """\
name: train-on-master
repo: Codertocat/Hello-World      # glob
on:
  push:
    branches: [master, "release/**"]
checkout: false
report:
  github: {context: axon/train}
operation:
  version: 1.1
  kind: operation
  name: train
  params:
    sha: {value: "{{ event.sha }}"}
  component:
    version: 1.1
    kind: component
    inputs:
      - {name: sha, type: str}
    run:
      kind: job
      container:
        image: python:3.11
        command: [python, train.py]
        args: ["--commit", "{{ sha }}"]
"""

INVALID_YAML = """\
name: train-on-master
trigger: push
on:
  push:
    branches: [main, "release/["]
report:
  github: {context: axon/train}
  teams: {}
operation:
  version: 1.1
  kind: operation
  component:
    version: 1.1
    kind: component
    run:
      kind: job
      container: {image: "python:3.11", command: [python, train.py]}
"""


def post_yaml(client, path, text):
    return client.post(path, data=text, headers={"Content-Type": "application/yaml"})


# -- projects, sources, subscriptions ----------------------------------------------------------


def test_a_project_is_created_with_201_and_can_be_read_back(client):
    created = client.post("/api/v1/projects", json={"name": "vision", "description": "CNNs"})

    assert created.status_code == 201
    assert (created.json["name"], created.json["description"]) == ("vision", "CNNs")
    assert client.get("/api/v1/projects/vision").json == created.json
    assert [p["name"] for p in client.get("/api/v1/projects").json] == ["vision"]


def test_a_second_project_of_the_same_name_gets_409(client):
    client.post("/api/v1/projects", json={"name": "vision"})

    again = client.post("/api/v1/projects", json={"name": "vision"})

    assert again.status_code == 409
    assert again.json["error"]["message"] == "project 'vision' already exists"
    assert len(client.get("/api/v1/projects").json) == 1


def test_a_source_is_created_with_201_and_names_its_webhook_url(client):
    client.post("/api/v1/projects", json={"name": "vision"})

    created = client.post(
        "/api/v1/projects/vision/sources",
        json={"name": "gh", "provider": "github", "secret": SECRET},
    )

    assert created.status_code == 201
    assert created.json["url"] == "/webhooks/github/gh"
    assert (created.json["project"], created.json["provider"]) == ("vision", "github")


def test_a_second_source_of_the_same_provider_and_name_gets_409(client):
    client.post("/api/v1/projects", json={"name": "vision"})
    source = {"name": "gh", "provider": "github", "secret": SECRET}
    client.post("/api/v1/projects/vision/sources", json=source)

    again = client.post("/api/v1/projects/vision/sources", json=source)

    assert again.status_code == 409
    assert again.json["error"]["message"] == "github source 'gh' already exists"


def test_a_subscription_is_created_with_201_and_a_second_of_the_same_name_gets_409(client):
    client.post("/api/v1/projects", json={"name": "vision"})

    created = client.post("/api/v1/projects/vision/subscriptions", json=subscription())
    again = client.post("/api/v1/projects/vision/subscriptions", json=subscription())

    assert created.status_code == 201
    assert (created.json["name"], created.json["paused"]) == ("train-on-master", False)
    assert created.json["spec"]["on"] == {"push": {"branches": ["master"]}}
    assert again.status_code == 409
    assert again.json["error"]["message"] == "subscription 'train-on-master' already exists"


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/api/v1/projects/nope", None),
        (
            "POST",
            "/api/v1/projects/nope/sources",
            {"name": "gh", "provider": "github", "secret": "s"},
        ),
        ("GET", "/api/v1/projects/nope/sources", None),
        ("POST", "/api/v1/projects/nope/subscriptions", subscription()),
        ("GET", "/api/v1/projects/nope/subscriptions", None),
        ("POST", "/api/v1/projects/nope/subscriptions/train-on-master/pause", None),
        ("DELETE", "/api/v1/projects/nope/subscriptions/train-on-master", None),
    ],
)
def test_an_unknown_project_gets_404_naming_it(client, method, path, body):
    response = client.open(path, method=method, json=body)

    assert response.status_code == 404
    assert response.json["error"]["message"] == "no project named 'nope'"


def test_a_sources_secret_is_never_returned(axon, client):
    axon.create_project()
    axon.subscribe()
    duplicate = client.post(
        "/api/v1/projects/vision/sources",
        json={"name": "gh", "provider": "github", "secret": SECRET},
    )
    delivery_id = axon.deliver_push()
    [run_id] = axon.push()
    uuid = axon.run(run_id)["uuid"]

    responses = [
        duplicate,
        client.get("/api/v1/projects/vision/sources"),
        client.get("/api/v1/projects/vision"),
        client.get("/api/v1/deliveries"),
        client.get(f"/api/v1/deliveries/{delivery_id}"),
        client.get("/api/v1/runs"),
        client.get(f"/api/v1/runs/{uuid}"),
    ]

    assert [r.status_code for r in responses] == [409, 200, 200, 200, 200, 200, 200]
    for response in responses:
        assert SECRET not in response.get_data(as_text=True), response.request.path


def test_a_subscription_written_in_yaml_is_accepted(axon, client):
    axon.create_project()

    created = post_yaml(client, "/api/v1/projects/vision/subscriptions", SUBSCRIPTION_YAML)

    assert created.status_code == 201, created.json
    spec = created.json["spec"]
    assert spec["on"] == {"push": {"branches": ["master", "release/**"]}}
    assert spec["report"] == {"github": {"context": "axon/train"}}
    [run_id] = axon.push()  # and it matches the push it was written for
    assert axon.run(run_id)["subscription"] == "train-on-master"


def test_an_invalid_subscription_gets_422_listing_every_bad_field_with_its_line(axon, client):
    axon.create_project()

    response = post_yaml(client, "/api/v1/projects/vision/subscriptions", INVALID_YAML)

    assert response.status_code == 422
    errors = response.json["error"]["errors"]
    assert [(e["path"], e["line"]) for e in errors] == [
        ("trigger", 2),
        ("on.push.branches[1]", 5),
        ("report.teams", 8),
    ]
    reasons = {e["path"]: e["reason"] for e in errors}
    assert reasons["trigger"].startswith(
        "unknown key; known: checkout, compare, concurrency, description, name, on"
    )
    assert reasons["on.push.branches[1]"] == "unclosed '[' in 'release/['"
    assert reasons["report.teams"].startswith("unknown target")
    assert client.get("/api/v1/projects/vision/subscriptions").json == []


def test_an_invalid_json_subscription_gets_422_with_every_path_and_reason(axon, client):
    axon.create_project()
    doc = subscription(
        trigger="push",
        on={"push": {"branches": ["main", "release/["]}},
        report={"github": {}, "teams": {}},
        checkout="yes",
    )

    response = client.post("/api/v1/projects/vision/subscriptions", json=doc)

    assert response.status_code == 422
    assert [(e["path"], e["line"]) for e in response.json["error"]["errors"]] == [
        ("trigger", None),
        ("on.push.branches[1]", None),
        ("report.teams", None),
        ("checkout", None),
    ]
    assert all(e["reason"] for e in response.json["error"]["errors"])


def test_every_bad_filter_of_the_trigger_is_listed_not_only_the_first(axon, client):
    axon.create_project()
    doc = subscription(
        repo="Codertocat/[",
        on={"push": {"branches": ["release/["], "tags": ["v["]}},
    )

    response = client.post("/api/v1/projects/vision/subscriptions", json=doc)

    assert response.status_code == 422
    assert [e["path"] for e in response.json["error"]["errors"]] == [
        "repo",
        "on.push.branches[0]",
        "on.push.tags[0]",
    ]


def test_a_paused_subscription_starts_nothing_until_it_is_resumed(axon, client):
    axon.create_project()
    axon.subscribe()
    base = "/api/v1/projects/vision/subscriptions/train-on-master"

    paused = client.post(f"{base}/pause")
    assert (paused.status_code, paused.json["paused"]) == (200, True)
    assert client.get(base).json["paused"] is True
    assert axon.push() == []

    resumed = client.post(f"{base}/resume")
    assert (resumed.status_code, resumed.json["paused"]) == (200, False)
    assert len(axon.push()) == 1


def test_an_unknown_action_on_a_subscription_gets_404(axon, client):
    axon.create_project()
    axon.subscribe()

    response = client.post("/api/v1/projects/vision/subscriptions/train-on-master/archive")

    assert response.status_code == 404
    assert "use pause or resume" in response.json["error"]["message"]


def test_a_deleted_subscription_is_gone_and_starts_nothing(axon, client):
    axon.create_project()
    axon.subscribe()
    base = "/api/v1/projects/vision/subscriptions/train-on-master"

    deleted = client.delete(base)

    assert deleted.status_code == 204
    assert client.get(base).status_code == 404
    assert client.get("/api/v1/projects/vision/subscriptions").json == []
    assert client.delete(base).status_code == 404
    assert axon.push() == []


# -- runs ----------------------------------------------------------------------------------------


def test_runs_are_listed_newest_first_and_filtered_by_project_and_status(axon, client):
    axon.create_project("vision", source="gh")
    axon.create_project("audio", source="gh-audio")
    axon.subscribe("vision")
    axon.subscribe("audio")
    [first] = axon.push("gh")
    [stopped] = axon.push("gh")
    [audio] = axon.push("gh-audio")
    uuid = {run_id: axon.run(run_id)["uuid"] for run_id in (first, stopped, audio)}
    assert client.post(f"/api/v1/runs/{uuid[stopped]}/stop").status_code == 202

    def listed(query=""):
        response = client.get(f"/api/v1/runs{query}")
        assert response.status_code == 200
        return [run["uuid"] for run in response.json]

    assert listed() == [uuid[audio], uuid[stopped], uuid[first]]
    assert listed("?project=vision") == [uuid[stopped], uuid[first]]
    assert listed("?status=stopped") == [uuid[stopped]]
    assert listed("?project=vision&status=created") == [uuid[first]]
    assert listed("?project=audio&status=stopped") == []
    assert listed("?limit=1") == [uuid[audio]]


def test_a_run_shows_its_status_history_with_reasons_and_times(rt, db, axon, client, created_run):
    advance(db, created_run, RunStatus.COMPILED, RunStatus.QUEUED)
    uuid = axon.run(created_run)["uuid"]
    client.post(f"/api/v1/runs/{uuid}/stop")

    run = client.get(f"/api/v1/runs/{uuid}").json

    assert (run["project"], run["subscription"], run["status"]) == (
        "vision",
        "train-on-master",
        "stopped",
    )
    assert [(c["status"], c["reason"], c["message"]) for c in run["conditions"]] == [
        ("created", "EventMatched", "push refs/heads/master"),
        ("compiled", "Compiled", "image python:3.11"),
        ("queued", "Queued", "runner local"),
        ("stopped", "StopRequested", "stop requested; before it started"),
    ]
    times = [datetime.fromisoformat(c["at"]) for c in run["conditions"]]
    assert all(t.utcoffset() is not None for t in times) and times == sorted(times)
    assert run["url"] == f"http://axon.test/runs/{uuid}"


def test_an_unknown_run_gets_404(client):
    response = client.get("/api/v1/runs/" + "0" * 32)

    assert response.status_code == 404
    assert response.json["error"]["message"] == f"no run {'0' * 32!r}"
