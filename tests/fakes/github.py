"""The GitHub REST API on loopback: commit statuses, checked against GitHub's own schema."""

from __future__ import annotations

import copy
import itertools
import json
import re
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from tests.fakes.http_double import Expectation, HeaderRule, HttpDouble, RecordedRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outgoing" / "github"
COMMIT_STATUS_PATH = "/repos/{owner}/{repo}/statuses/{sha}"
DOCS = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"


def openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a type that also admits null."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            converted["type"] = [*kind, "null"]
        if "enum" in converted and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
    return converted


def request_schema(fixture: str) -> dict[str, Any]:
    """The JSON request body schema of one operation file in tests/fixtures/outgoing/github."""
    operation = json.loads((FIXTURES / fixture).read_text())
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return openapi_to_json_schema(schema)


def commit_status_schema() -> dict[str, Any]:
    schema = copy.deepcopy(request_schema("create_commit_status.json"))
    # The spec leaves it out, but GitHub answers 422 "description is too long (maximum is 140
    # characters)", so the double holds notifiers to it.
    schema["properties"]["description"]["maxLength"] = 140
    return schema


class GitHubDouble(HttpDouble):
    """GitHub's API: `expect_commit_status()`, then read `statuses()`.

    With a `token`, every expected request must carry `Authorization: Bearer <token>` (or
    `token <token>`); without one, none is required. Accept and User-Agent are always required.
    """

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self.token = token
        self._ids = itertools.count(1)
        self._schema = commit_status_schema()

    def required_headers(self) -> dict[str, HeaderRule]:
        rules: dict[str, HeaderRule] = {
            "Accept": re.compile(r"application/(vnd\.github(\.v3)?\+json|json)"),
            "User-Agent": None,  # GitHub refuses requests without one
        }
        if self.token:
            rules["Authorization"] = re.compile(rf"^(Bearer|token) {re.escape(self.token)}$")
        return rules

    def expect_commit_status(
        self,
        owner: str,
        repo: str,
        sha: str | None = None,
        *,
        times: int | None = 1,
        status: int = 201,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POST /repos/{owner}/{repo}/statuses/{sha} (any sha if None).

        201 answers a status object echoing the body; any other `status` answers GitHub's
        error shape {"message", "documentation_url"}, e.g. status=403 with
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000000"}.
        """
        pattern = COMMIT_STATUS_PATH.replace("{owner}", owner).replace("{repo}", repo)
        if sha is not None:
            pattern = pattern.replace("{sha}", sha)
        if status < 300:
            answer: Any = self._status_object
        else:
            answer = {
                "message": message or HTTPStatus(status).phrase,
                "documentation_url": DOCS,
            }
        return self.expect(
            "POST",
            pattern,
            status=status,
            json=answer,
            headers=headers,
            times=times,
            schema=self._schema,
            delay=delay,
            require_headers=self.required_headers(),
        )

    def statuses(self, sha: str | None = None) -> list[dict[str, Any]]:
        """The commit status bodies received, in order (for one sha if given)."""
        return [
            request.json
            for request in self.requests_to("POST", COMMIT_STATUS_PATH)
            if sha is None or request.path.endswith(f"/statuses/{sha}")
        ]

    def wait_for_statuses(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until `count` commit statuses arrived; return their bodies."""
        self.wait_for(
            lambda requests: sum(1 for r in requests if "/statuses/" in r.path) >= count,
            timeout,
        )
        return self.statuses()

    def _status_object(self, request: RecordedRequest) -> dict[str, Any]:
        """What GitHub answers to a created status (its documented 201 example's shape)."""
        body = request.json
        status_id = next(self._ids)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "url": f"{self.url}{request.path}",
            "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
            "id": status_id,
            "node_id": f"SC_kwDOAxon{status_id:08d}",
            "state": body["state"],
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "context": body.get("context", "default"),
            "created_at": now,
            "updated_at": now,
            "creator": {"login": "axon[bot]", "id": 1, "type": "Bot"},
        }
