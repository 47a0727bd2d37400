"""The OpenAPI document: generated from the app, valid OpenAPI 3.1, and true of the live API.

Schemathesis generates requests for every operation from the document and sends them to the
real app served on loopback over its own PostgreSQL database, once with path parameters it
makes up and once with the names of rows that exist; no answer may be a server error, and
every answer must match the schema the document gives for its status.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ci.api import openapi
from tests.ci import factories
from tests.conftest import API_TOKEN, github_headers
from tests.live import serve

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
# Enough to try each parameter's kinds of value, few enough for a busy machine (< 90 s):
# generating a case costs more than sending it.
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}
SECRET = "openapi-source-secret"


@dataclass
class Live:
    url: str
    app: Flask
    rows: dict[str, Any]


@pytest.fixture(scope="module")
def live(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with serve("axon_openapi", tmp_path_factory.mktemp("openapi")) as served:
        yield Live(served.url, served.app, _seed(served.url))


def _post(base: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = requests.post(base + path, headers=AUTH, timeout=30, **kwargs)
    assert response.status_code in (200, 201, 202), response.text
    return dict(response.json())


def _seed(base: str) -> dict[str, Any]:
    """A row of each kind, so operations are tried on things that exist as well."""
    _post(base, "/api/v1/projects", json={"name": "mapped"})
    _post(
        base,
        "/api/v1/projects/mapped/sources",
        json={"name": "gh", "provider": "github", "secret": SECRET},
    )
    _post(base, "/api/v1/projects/mapped/subscriptions", json=factories.subscription("nightly"))
    connection = {"name": "store", "kind": "s3", "schema": {"bucket": "s3://data"}}
    _post(base, "/api/v1/projects/mapped/connections", json=connection)
    run = _post(base, "/api/v1/projects/mapped/runs", json={"content": factories.OPERATION})
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    answer = requests.post(
        base + "/webhooks/github/gh", data=body, headers=github_headers("ping", body, SECRET)
    )
    assert answer.status_code < 300, answer.text
    [delivery] = requests.get(base + "/api/v1/deliveries", headers=AUTH, timeout=30).json()
    _post(base, "/api/v1/orgs", json={"name": "acme"})
    _post(base, "/api/v1/users", json={"name": "ada", "email": "ada@example.com"})
    member = {"user": "ada", "role": "admin"}
    answer = requests.put(base + "/api/v1/orgs/acme/members", json=member, headers=AUTH, timeout=30)
    assert answer.status_code == 200, answer.text
    _post(base, "/api/v1/orgs/acme/teams", json={"name": "ml"})
    _post(base, "/api/v1/user/tokens", json={"user": "ada", "name": "laptop"})
    artifact = f"{base}/api/v1/runs/{run['uuid']}/artifacts/model/weights.bin"
    assert requests.put(artifact, data=b"\0" * 64, headers=AUTH, timeout=30).status_code == 201
    return {
        # `{name}` is the name of what the path segment before it names
        "name": {"projects": "mapped", "connections": "store", "subscriptions": "nightly"},
        "project_name": "mapped",
        "uuid": run["uuid"],
        "delivery_id": delivery["id"],
        "action": "pause",
        "path": "model/weights.bin",
        "org_name": "acme",
        "team_name": "ml",
        "user_name": "ada",
    }


def test_the_document_is_valid_openapi_3_1_and_describes_every_api_route(live: Live) -> None:
    response = requests.get(live.url + "/api/v1/openapi.json", headers=AUTH, timeout=30)
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/runs/{uuid}/artifacts/{path}" in document["paths"]
    operations = [op for path in document["paths"].values() for op in path.values()
                  if isinstance(op, dict) and "responses" in op]  # fmt: skip
    assert len(operations) >= 50
    assert all("default" in op["responses"] for op in operations)


def test_every_api_route_and_method_is_in_the_document(live: Live) -> None:
    document = openapi.build(live.app)
    for rule in live.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = document["paths"][FlaskPlugin.flaskpath2openapi(rule.rule)]
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            assert methods <= set(path), rule.rule


def test_every_api_operation_declares_what_it_takes_and_answers(live: Live) -> None:
    assert openapi.undocumented(live.app) == []


def test_the_document_needs_the_token_like_the_rest_of_the_api(live: Live) -> None:
    response = requests.get(live.url + "/api/v1/openapi.json", timeout=30)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def _existing(rows: dict[str, Any], path: str, names: set[str]) -> dict[str, Any]:
    """The path parameters of `path` that name a seeded row."""
    found = {name: rows[name] for name in names & set(rows) if name != "name"}
    if "name" in names:
        kind = path.split("/{name}")[0].rsplit("/", 1)[-1]
        if kind in rows["name"]:
            found["name"] = rows["name"][kind]
    return found


def _failures(live: Live, seeded: bool, mode: GenerationMode) -> dict[str, str]:
    schema = schemathesis.openapi.from_url(
        live.url + "/api/v1/openapi.json", headers=AUTH, timeout=30
    )
    found: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = _existing(live.rows, operation.path, names) if seeded else None
        strategy = operation.as_strategy(mode, path_parameters=fixed)

        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def send(case: Any) -> None:
            # Negative cases spoil or drop the security scheme's header too; who may call is
            # tests/ci/test_access.py's to check, what a caller is answered is this test's.
            case.headers = {**(case.headers or {}), **AUTH}
            case.call_and_validate(
                base_url=live.url,
                headers=AUTH,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=30,
            )

        try:
            send()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # each operation's first failure, all reported together
            found[operation.label] = str(exc)[:1500]
    return found


def _report(failures: dict[str, str]) -> str:
    return "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


@pytest.mark.timeout(600)  # case generation is CPU-bound: its time is the machine's load
def test_requests_with_made_up_names_and_invalid_values_get_no_server_error(live: Live) -> None:
    failures = _failures(live, seeded=False, mode=GenerationMode.NEGATIVE)
    assert not failures, _report(failures)


@pytest.mark.timeout(600)  # case generation is CPU-bound: its time is the machine's load
def test_valid_requests_on_rows_that_exist_answer_as_the_document_says(live: Live) -> None:
    failures = _failures(live, seeded=True, mode=GenerationMode.POSITIVE)
    assert not failures, _report(failures)


@pytest.mark.timeout(600)  # case generation is CPU-bound: its time is the machine's load
def test_invalid_requests_on_rows_that_exist_answer_a_problem_not_a_server_error(
    live: Live,
) -> None:
    failures = _failures(live, seeded=True, mode=GenerationMode.NEGATIVE)
    assert not failures, _report(failures)
