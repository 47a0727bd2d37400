"""Requests the API cannot serve get a 4xx naming the reason, never a 500."""

from __future__ import annotations

import pytest
import yaml

from tests.ci.factories import setup_project, subscription

DEEP = 500


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_json_body_nested_500_levels_deep_gets_400(client):
    response = client.post(
        "/api/v1/projects",
        data=f'{{"name": "p", "description": {nested(DEEP)}}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json["error"]["message"] == "body: nested more than 64 levels deep"


def test_a_json_body_nested_beyond_the_parsers_reach_gets_400(client):
    response = client.post("/api/v1/projects", data=nested(5000), content_type="application/json")
    assert response.status_code == 400


def test_a_yaml_subscription_nested_500_levels_deep_gets_422_naming_the_reason(client):
    setup_project(client)
    response = client.post(
        "/api/v1/projects/vision/subscriptions",
        data=f"name: deep\noperation: {nested(DEEP)}\n",
        content_type="application/yaml",
    )
    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["reason"] == "nested more than 64 levels deep"


def test_a_yaml_polyaxonfile_nested_500_levels_deep_is_refused_with_a_4xx(client):
    response = client.post(
        "/api/v1/check",
        data=f"kind: operation\nparams: {nested(DEEP)}\n",
        content_type="application/yaml",
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "url",
    ["/api/v1/projects/vi%00sion", "/api/v1/runs?status=run%00ning", "/api/v1/runs?x%00=1"],
    ids=["path", "query-value", "query-name"],
)
def test_a_nul_character_in_the_url_gets_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "NUL character (%00)" in response.json["error"]["message"]


def test_an_operation_that_is_not_a_mapping_gets_422_naming_the_field(client):
    setup_project(client)
    response = client.post(
        "/api/v1/projects/vision/subscriptions", json=subscription("listed", operation=[1])
    )
    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == "operation"
    assert error["reason"] == "expected a mapping (a Polyaxon 1.1 operation), not a list"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"vi\\u0000sion"', "text may not contain a NUL character"),
        ('"vi\\ud800sion"', "text may not contain an unpaired surrogate"),
    ],
    ids=["nul", "surrogate"],
)
def test_text_the_database_cannot_store_gets_422_naming_the_field(client, text, reason):
    response = client.post(
        "/api/v1/projects", data=f'{{"name": {text}}}', content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json["error"]["errors"] == [{"path": "name", "reason": reason, "line": None}]


def test_a_number_json_cannot_store_gets_422_naming_the_field(client):
    setup_project(client)
    doc = subscription("nan")
    doc["operation"] = {**doc["operation"], "params": {"lr": float("nan")}}
    response = client.post(
        "/api/v1/projects/vision/subscriptions",
        data=yaml.safe_dump(doc),
        content_type="application/yaml",
    )
    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert (error["path"], error["reason"]) == ("operation.params.lr", "nan is not a finite number")


def test_a_yaml_date_is_kept_as_the_text_it_was_written_as(client):
    setup_project(client)
    doc = subscription("dated", description="DAY")
    text = yaml.safe_dump(doc).replace("DAY", "2024-05-01")
    response = client.post(
        "/api/v1/projects/vision/subscriptions", data=text, content_type="application/yaml"
    )
    assert response.status_code == 201, response.json
    assert response.json["spec"]["description"] == "2024-05-01"


@pytest.mark.parametrize("text", ["[]", "- name: a\n", "just text\n", "42\n"])
def test_a_yaml_subscription_that_is_not_a_mapping_gets_422(client, text):
    setup_project(client)
    response = client.post(
        "/api/v1/projects/vision/subscriptions", data=text, content_type="application/yaml"
    )
    assert response.status_code == 422
    assert response.json["error"]["errors"][0]["reason"] == "a subscription is a mapping"


@pytest.mark.parametrize("url", ["/api/v1/runs", "/api/v1/deliveries"])
@pytest.mark.parametrize("limit", ["-1", "0", "many"])
def test_a_limit_that_is_not_a_positive_number_gets_400(client, url, limit):
    response = client.get(f"{url}?limit={limit}")
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith("limit: expected a whole number")


def test_a_file_of_subscriptions_whose_name_is_not_text_gets_422_naming_the_field(client):
    setup_project(client)
    doc = subscription(["a", "list"])
    response = client.put("/api/v1/projects/vision/subscriptions", json={"subscriptions": [doc]})
    assert response.status_code == 422
    assert "subscriptions[0].name" in [e["path"] for e in response.json["error"]["errors"]]
