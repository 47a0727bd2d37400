"""The GitLab REST API on loopback: commit statuses and merge-request notes, each request
checked against the parameters transcribed in tests/fixtures/outgoing/gitlab."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outgoing" / "gitlab"
STATUS_PATH = "/api/v4/projects/{id}/statuses/{sha}"
NOTES_PATH = "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/notes"
NOTE_PATH = "/api/v4/projects/{id}/merge_requests/{merge_request_iid}/notes/{note_id}"
_TYPES = {"string": "string", "float": "number", "integer": "integer", "boolean": "boolean"}
# The docs say "Must be 255 characters or fewer" of these; the transcription keeps it in words.
_MAX_255 = {"ref", "target_url", "description"}


def body_schema(fixture: str) -> dict[str, Any]:
    """A JSON Schema for the body of one transcribed endpoint: its non-path parameters."""
    endpoint = json.loads((FIXTURES / fixture).read_text())
    properties: dict[str, Any] = {}
    required = []
    for parameter in endpoint["parameters"]:
        if parameter.get("in") == "path":
            continue
        rule: dict[str, Any] = {"type": _TYPES[parameter["type"]]}
        if "enum" in parameter:
            rule["enum"] = parameter["enum"]
        if parameter["name"] in _MAX_255:
            rule["maxLength"] = 255
        if parameter["name"] == "target_url":
            # CommitStatus validates it as an addressable URL: absolute, http or https.
            rule.update(format="uri", pattern="^https?://[^/?#]")
        properties[parameter["name"]] = rule
        if parameter.get("required"):
            required.append(parameter["name"])
    # GitLab ignores unknown parameters; the double refuses them, so a typo cannot pass.
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


class GitLabDouble(HttpDouble):
    """GitLab's API: `expect_status()`, `expect_note()`, then read `statuses()`, `notes()`.

    With a `token`, every expected request must carry `PRIVATE-TOKEN: <token>`. A project
    path arrives URL-encoded in one segment ("octo-org%2Fvision"), as GitLab requires.
    """

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self.token = token
        self._ids = itertools.count(301)
        self._status_schema = body_schema("set_commit_status.json")
        self._note_schema = body_schema("create_merge_request_note.json")

    def expect_status(
        self,
        project: str,
        sha: str | None = None,
        *,
        times: int | None = 1,
        status: int = 201,
        message: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POST /api/v4/projects/{project}/statuses/{sha} (any sha if None)."""
        path = STATUS_PATH.replace("{id}", _encoded(project))
        if sha is not None:
            path = path.replace("{sha}", sha)
        return self._expect(
            "POST",
            path,
            self._status_schema,
            status,
            self._status_object,
            message=message,
            headers=headers,
            times=times,
            delay=delay,
        )

    def expect_note(
        self,
        project: str,
        merge_request_iid: int,
        note_id: int | None = None,
        *,
        times: int | None = 1,
        status: int | None = None,
        message: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POST .../merge_requests/{iid}/notes (201) or, with a `note_id`,
        PUT .../merge_requests/{iid}/notes/{note_id} (200), with the note."""
        pattern = NOTES_PATH if note_id is None else NOTE_PATH
        path = (
            pattern.replace("{id}", _encoded(project))
            .replace("{merge_request_iid}", str(merge_request_iid))
            .replace("{note_id}", str(note_id))
        )
        method = "POST" if note_id is None else "PUT"
        default = 201 if note_id is None else 200
        return self._expect(
            method,
            path,
            self._note_schema,
            status or default,
            self._note_object,
            message=message,
            headers=headers,
            times=times,
            delay=delay,
        )

    def statuses(self) -> list[dict[str, Any]]:
        """The commit status bodies answered 2xx, in order."""
        return [r.json for r in self.requests_to("POST", STATUS_PATH) if r.status < 300]

    def notes(self) -> list[tuple[str, str]]:
        """(method, body) of every note request answered 2xx, in order."""
        return [
            (r.method, r.json["body"])
            for r in self.requests
            if "/notes" in r.path and r.status < 300
        ]

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        # The server decodes %2F in PATH_INFO; GitLab routes on the raw path, and so must we.
        raw = environ.get("RAW_URI", "").split("?", 1)[0]
        if raw:
            environ = {**environ, "PATH_INFO": raw}
        return super()._app(environ, start_response)

    def _expect(
        self,
        method: str,
        path: str,
        schema: dict[str, Any],
        status: int,
        success: Any,
        *,
        message: Any,
        headers: dict[str, str] | None,
        times: int | None,
        delay: float,
    ) -> Expectation:
        answer = (
            success
            if status < 300
            else {"message": message or f"{status} {HTTPStatus(status).phrase}"}
        )
        rules = {"PRIVATE-TOKEN": self.token} if self.token else {}
        return self.expect(
            method,
            path,
            status=status,
            json=answer,
            headers=headers,
            times=times,
            schema=schema,
            require_headers=rules,
            delay=delay,
        )

    def _status_object(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.json
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "id": next(self._ids),
            "sha": request.path.rsplit("/", 1)[-1],
            "ref": body.get("ref"),
            "status": body["state"],
            "name": body.get("name") or body.get("context") or "default",
            "target_url": body.get("target_url"),
            "description": body.get("description"),
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "allow_failure": False,
            "coverage": body.get("coverage"),
            "author": {"id": 1, "username": "axon-bot", "name": "Axon", "state": "active"},
        }

    def _note_object(self, request: RecordedRequest) -> dict[str, Any]:
        segments = request.path.split("/")  # .../merge_requests/{iid}/notes[/{note_id}]
        iid = int(segments[segments.index("merge_requests") + 1])
        note_id = int(segments[-1]) if segments[-1] != "notes" else next(self._ids)
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "id": note_id,
            "body": request.json["body"],
            "author": {"id": 1, "username": "axon-bot", "name": "Axon", "state": "active"},
            "created_at": now,
            "updated_at": now,
            "system": False,
            "noteable_type": "MergeRequest",
            "noteable_iid": iid,
            "resolvable": False,
            "internal": False,
        }


def _encoded(project: str) -> str:
    return re.sub("/", "%2F", project)
