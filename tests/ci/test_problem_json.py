"""Every error answers an RFC 9457 problem document that names the field and the reason."""

from __future__ import annotations

from typing import Any

import yaml

PROBLEM = "application/problem+json"
MEMBERS = {"type", "title", "status", "detail", "instance", "error"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = dict(response.json)
    assert MEMBERS <= set(body)
    assert body["status"] == status
    assert body["error"] == {**body["error"], "code": status, "message": body["detail"]}
    return body


def test_an_unknown_project_is_a_not_found_problem_for_its_path(client: Any) -> None:
    body = assert_problem(client.get("/api/v1/projects/nowhere"), 404)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["detail"] == "no project named 'nowhere'"
    assert body["instance"] == "/api/v1/projects/nowhere"
    assert "field" not in body


def test_a_missing_field_is_named_with_its_reason(client: Any) -> None:
    body = assert_problem(client.post("/api/v1/projects", json={"description": "x"}), 422)
    assert (body["field"], body["reason"]) == ("name", "required")
    assert body["error"]["errors"] == [{"path": "name", "reason": "required", "line": None}]


def test_a_bad_query_parameter_is_named_with_its_reason(client: Any) -> None:
    body = assert_problem(client.get("/api/v1/projects?limit=none"), 400)
    assert body["field"] == "limit"
    assert body["reason"].startswith("expected a whole number from 1 to 500")


def test_a_spec_error_names_the_place_in_the_document(client: Any) -> None:
    operation = {"version": 1.1, "kind": "operation", "component": {"kind": "component"}}
    response = client.post(
        "/api/v1/check", data=yaml.safe_dump(operation), content_type="application/yaml"
    )
    body = assert_problem(response, 422)
    assert body["field"] == body["error"]["errors"][0]["path"]
    assert body["reason"]


def test_a_method_the_url_does_not_take_is_a_problem_that_says_which_it_does(
    client: Any,
) -> None:
    response = client.delete("/api/v1/projects")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_an_anonymous_caller_gets_an_unauthorized_problem(anonymous_client: Any) -> None:
    body = assert_problem(anonymous_client.get("/api/v1/runs"), 401)
    assert body["title"] == "Unauthorized"


def test_every_list_takes_limit_and_offset_alike(client: Any) -> None:
    for name in ("alpha", "beta", "gamma"):
        assert client.post("/api/v1/projects", json={"name": name}).status_code == 201
    page = client.get("/api/v1/projects?limit=1&offset=1").json
    assert [p["name"] for p in page] == ["beta"]
    for path in (
        "/api/v1/projects/alpha/sources",
        "/api/v1/projects/alpha/subscriptions",
        "/api/v1/projects/alpha/connections",
        "/api/v1/deliveries",
        "/api/v1/runs",
    ):
        assert client.get(f"{path}?limit=5&offset=0").json == [], path
        body = assert_problem(client.get(f"{path}?offset=-1"), 400)
        assert body["field"] == "offset", path
