"""A file of subscriptions kept in the project's repository is applied as a whole."""

from __future__ import annotations

import yaml

from tests.ci.factories import OPERATION

BASE = "/api/v1/projects/vision/subscriptions"


def subscriptions_file(*names: str, branches: str = "main") -> str:
    docs = [
        {"name": name, "on": {"push": {"branches": [branches]}}, "operation": OPERATION}
        for name in names
    ]
    return yaml.safe_dump({"subscriptions": docs}, sort_keys=False).replace("'on':", "on:")


def apply(client, text: str, prune: bool = False):
    query = {"prune": "true"} if prune else {}
    return client.put(BASE, data=text, content_type="application/yaml", query_string=query)


def test_applying_a_file_creates_its_subscriptions(client):
    client.post("/api/v1/projects", json={"name": "vision"})

    response = apply(client, subscriptions_file("train", "evaluate"))

    assert response.status_code == 200
    assert response.json["created"] == ["train", "evaluate"]
    assert [s["name"] for s in client.get(BASE).json] == ["train", "evaluate"]


def test_applying_the_same_file_again_changes_nothing(client):
    client.post("/api/v1/projects", json={"name": "vision"})
    apply(client, subscriptions_file("train", "evaluate"))

    response = apply(client, subscriptions_file("train", "evaluate"))

    assert response.json["unchanged"] == ["train", "evaluate"]
    assert response.json["created"] == response.json["updated"] == []


def test_prune_deletes_what_the_file_no_longer_lists_and_updates_the_rest(client):
    client.post("/api/v1/projects", json={"name": "vision"})
    apply(client, subscriptions_file("train", "evaluate"))

    response = apply(client, subscriptions_file("train", branches="release/**"), prune=True)

    assert response.json["updated"] == ["train"] and response.json["deleted"] == ["evaluate"]
    [train] = client.get(BASE).json
    assert train["spec"]["on"]["push"]["branches"] == ["release/**"]


def test_without_prune_subscriptions_missing_from_the_file_stay(client):
    client.post("/api/v1/projects", json={"name": "vision"})
    apply(client, subscriptions_file("train", "evaluate"))

    apply(client, subscriptions_file("train"))

    assert len(client.get(BASE).json) == 2


def test_a_file_with_errors_applies_nothing_and_names_every_error_with_its_line(client):
    client.post("/api/v1/projects", json={"name": "vision"})
    text = subscriptions_file("train", "train").replace("branches", "branchez", 1)

    response = apply(client, text)

    assert response.status_code == 422
    errors = {(e["path"], e["reason"].split(";")[0]) for e in response.json["error"]["errors"]}
    assert ("subscriptions[0].on.push.branchez", "unknown filter") in errors
    assert ("subscriptions[1].name", "another subscription has this name") in errors
    assert all(e["line"] for e in response.json["error"]["errors"])
    assert client.get(BASE).json == []


def test_one_subscription_can_be_replaced_by_name(client):
    client.post("/api/v1/projects", json={"name": "vision"})
    apply(client, subscriptions_file("train"))
    doc = {"name": "train", "on": {"push": None}, "operation": OPERATION}

    response = client.put(f"{BASE}/train", json=doc)

    assert response.status_code == 200 and response.json["spec"]["on"] == {"push": None}
    assert client.put(f"{BASE}/train", json={**doc, "name": "other"}).status_code == 422
