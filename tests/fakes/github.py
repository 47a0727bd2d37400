"""The GitHub REST API on loopback: commit statuses, check runs, pull-request comments and
GitHub App installation tokens, each request checked against GitHub's own schema."""

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
CHECK_RUNS_PATH = "/repos/{owner}/{repo}/check-runs"
CHECK_RUN_PATH = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
COMMENTS_PATH = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
COMMENT_PATH = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
ACCESS_TOKENS_PATH = "/app/installations/{installation_id}/access_tokens"
INSTALLATION_PATH = "/repos/{owner}/{repo}/installation"
DOCS = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
JWT = re.compile(r"^Bearer [\w-]+\.[\w-]+\.[\w-]+$")


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


def check_run_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """The create and the update schema, with what GitHub enforces beyond the spec."""
    create = copy.deepcopy(request_schema("create_check_run.json"))
    update = copy.deepcopy(request_schema("update_check_run.json"))
    # The spec says it in words: a completed check run needs a conclusion; an output, a title.
    create["if"] = {"properties": {"status": {"const": "completed"}}, "required": ["status"]}
    create["then"] = {"required": ["conclusion"]}
    update["properties"]["output"]["required"] = ["title", "summary"]
    for schema in (create, update):
        # The spec says 65535 characters, but GitHub counts UTF-8 bytes (an emoji is four) and
        # answers 422 to a longer text, which leaves the check run in progress.
        output = schema["properties"]["output"]["properties"]
        output["summary"]["maxBytes"] = output["text"]["maxBytes"] = 65535
    return create, update


def comment_schema() -> dict[str, Any]:
    schema = copy.deepcopy(request_schema("create_issue_comment.json"))
    # Not in the spec: GitHub answers 422 "Body is too long (maximum is 65536 characters)".
    schema["properties"]["body"]["maxLength"] = 65536
    return schema


class GitHubDouble(HttpDouble):
    """GitHub's API: `expect_commit_status()`, `expect_check_run()`, `expect_comment()`,
    `expect_installation_token()`, then read `statuses()`, `check_runs()`, `comments()`.

    With a `token`, every expected request must carry `Authorization: Bearer <token>` (or
    `token <token>`); without one, none is required. Accept and User-Agent are always required.
    """

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self.token = token
        self._ids = itertools.count(1)
        self._schema = commit_status_schema()
        self._check_run_schemas = check_run_schemas()
        self._comment_schema = comment_schema()
        self._comment_issues: dict[int, str] = {}  # comment id -> the issue it is on

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

    def expect_check_run(
        self,
        owner: str,
        repo: str,
        check_run_id: int | None = None,
        *,
        times: int | None = 1,
        status: int | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POST /repos/{owner}/{repo}/check-runs (201), or with a `check_run_id`
        PATCH /repos/{owner}/{repo}/check-runs/{check_run_id} (200), with the check run."""
        schema = self._check_run_schemas[0 if check_run_id is None else 1]
        return self._expect_api(
            "POST" if check_run_id is None else "PATCH",
            _repo_path(
                CHECK_RUNS_PATH if check_run_id is None else CHECK_RUN_PATH, owner, repo
            ).replace("{check_run_id}", str(check_run_id)),
            schema,
            status or (201 if check_run_id is None else 200),
            self._check_run_object,
            message=message,
            headers=headers,
            times=times,
            delay=delay,
        )

    def expect_comment(
        self,
        owner: str,
        repo: str,
        issue_number: int | None = None,
        *,
        comment_id: int | None = None,
        edit: bool = False,
        times: int | None = 1,
        status: int | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POST /repos/{owner}/{repo}/issues/{issue_number}/comments (201), or with a
        `comment_id` PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} (200); with
        `edit` and no `comment_id`, a PATCH of any comment (its id is the double's to choose).

        An edit's body has the create's schema: GitHub documents the same `body` for both."""
        editing = edit or comment_id is not None
        if not editing:
            path = _repo_path(COMMENTS_PATH, owner, repo)
            if issue_number is not None:
                path = path.replace("{issue_number}", str(issue_number))
        else:
            path = _repo_path(COMMENT_PATH, owner, repo)
            if comment_id is not None:
                path = path.replace("{comment_id}", str(comment_id))
        return self._expect_api(
            "PATCH" if editing else "POST",
            path,
            self._comment_schema,
            status or (200 if editing else 201),
            self._comment_object,
            message=message,
            headers=headers,
            times=times,
            delay=delay,
        )

    def expect_installation_token(
        self,
        installation_id: int,
        token: str,
        *,
        expires_in: float = 3600,
        times: int | None = 1,
        status: int = 201,
        message: str | None = None,
    ) -> Expectation:
        """Answer POST /app/installations/{installation_id}/access_tokens, which must carry a
        JWT, with `token` expiring `expires_in` seconds from now."""

        def answer(request: RecordedRequest) -> dict[str, Any]:
            expires = datetime.now(UTC).timestamp() + expires_in
            expires_at = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"token": token, "expires_at": expires_at, "permissions": {"checks": "write"}}

        path = ACCESS_TOKENS_PATH.replace("{installation_id}", str(installation_id))
        return self._expect_api(
            "POST", path, None, status, answer, message=message, times=times, jwt=True
        )

    def expect_installation_lookup(
        self, owner: str, repo: str, installation_id: int | None, *, times: int | None = 1
    ) -> Expectation:
        """Answer GET /repos/{owner}/{repo}/installation (with a JWT): the installation, or
        404 when `installation_id` is None (the app is not installed there)."""
        status = 200 if installation_id is not None else 404
        return self._expect_api(
            "GET",
            _repo_path(INSTALLATION_PATH, owner, repo),
            None,
            status,
            lambda request: {"id": installation_id, "app_id": 1, "account": {"login": owner}},
            times=times,
            jwt=True,
        )

    def check_runs(self) -> list[tuple[str, dict[str, Any]]]:
        """(method, body) of every check run request answered 2xx, in order."""
        return [
            (request.method, request.json)
            for request in self.requests
            if "/check-runs" in request.path and request.status < 300
        ]

    def comments(self) -> list[tuple[str, str, str]]:
        """(method, path, body text) of every comment request answered 2xx, in order."""
        return [
            (request.method, request.path, request.json["body"])
            for request in self.requests
            if "/comments" in request.path and request.status < 300
        ]

    def _expect_api(
        self,
        method: str,
        pattern: str,
        schema: dict[str, Any] | None,
        status: int,
        success: Any,
        *,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        jwt: bool = False,
        delay: float = 0.0,
    ) -> Expectation:
        if status < 300:
            answer: Any = success
        else:
            answer = {"message": message or HTTPStatus(status).phrase, "documentation_url": DOCS}
        rules = self.required_headers()
        if jwt:
            rules["Authorization"] = JWT
        return self.expect(
            method,
            pattern,
            status=status,
            json=answer,
            headers=headers,
            times=times,
            schema=schema,
            require_headers=rules,
            delay=delay,
        )

    def _check_run_object(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json
        segments = request.path.split("/")  # /repos/{owner}/{repo}/check-runs[/{id}]
        owner, repo = segments[2], segments[3]
        check_run_id = int(segments[5]) if len(segments) > 5 else next(self._ids)
        return {
            "id": check_run_id,
            "head_sha": body.get("head_sha", ""),
            "external_id": body.get("external_id", ""),
            "url": f"{self.url}/repos/{owner}/{repo}/check-runs/{check_run_id}",
            "html_url": f"https://github.com/{owner}/{repo}/runs/{check_run_id}",
            "details_url": body.get("details_url"),
            "status": body.get("status", "completed" if "conclusion" in body else "queued"),
            "conclusion": body.get("conclusion"),
            "started_at": body.get("started_at"),
            "completed_at": body.get("completed_at"),
            "output": body.get("output", {}),
            "name": body.get("name", ""),
            "app": {"id": 1, "slug": "axon"},
        }

    def _comment_object(self, request: RecordedRequest) -> dict[str, Any]:
        # /repos/{owner}/{repo}/issues/{number}/comments or .../issues/comments/{id}
        segments = request.path.split("/")
        owner, repo = segments[2], segments[3]
        editing = segments[5] == "comments"
        comment_id = int(segments[6]) if editing else next(self._ids)
        if not editing:
            self._comment_issues[comment_id] = segments[5]
        number = self._comment_issues.get(comment_id, "1")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": comment_id,
            "node_id": f"IC_kwDOAxon{comment_id:08d}",
            "url": f"{self.url}/repos/{owner}/{repo}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{owner}/{repo}/pull/{number}#issuecomment-{comment_id}",
            "body": request.json["body"],
            "user": {"login": "axon[bot]", "id": 1, "type": "Bot"},
            "created_at": now,
            "updated_at": now,
        }

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


def _repo_path(pattern: str, owner: str, repo: str) -> str:
    return pattern.replace("{owner}", owner).replace("{repo}", repo)
