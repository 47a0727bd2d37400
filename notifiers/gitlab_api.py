"""One GitLab REST API (gitlab.com or self-managed): its base URL and Axon's token.

Features:
- `PRIVATE-TOKEN: <token>` (a personal, project or group access token with the `api` scope).
- A project is named by its numeric id or its path ("group/sub/project"), URL-encoded whole
  into one path segment, as GitLab requires.
- Rate limits (429 with Retry-After) and 5xx are TransientErrors; other 4xx are permanent with
  GitLab's message ({"message": ...} in any of its shapes, or {"error": ...}).

Config (constructor): api_url (default https://gitlab.com/api/v4; self-managed:
https://HOST/api/v4), token, timeout.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import requests

from notifiers import http
from notifiers.base import Notifier, PermanentError, Report
from schemas.settings import PluginSettings, SettingsConfigDict, setting

DEFAULT_API_URL = "https://gitlab.com/api/v4"


class GitLabSettings(PluginSettings):
    """The `AXON_GITLAB_*` variables, shared by the gitlab and note targets."""

    model_config = SettingsConfigDict(env_prefix="AXON_GITLAB_")
    shared = ("timeout",)

    api_url: str = setting(DEFAULT_API_URL, "GitLab's API (self-managed: `https://HOST/api/v4`)")
    token: str = setting("", "an access token with the `api` scope", secret=True)


class GitLabTarget(Notifier):
    """The constructor and the request every GitLab notifier shares."""

    def __init__(self, api_url: str = DEFAULT_API_URL, token: str = "", timeout: float = 10):
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.timeout = timeout
        self._token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.api_url!r})"

    def call(
        self,
        method: str,
        project: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> requests.Response:
        """`method` /projects/{project}`path` with `json`; the answer, or Transient/Permanent."""
        headers = {"PRIVATE-TOKEN": self._token} if self._token else {}
        url = f"{self.api_url}/projects/{quote(project, safe='')}{path}"
        with http.new_session(headers) as session:
            return http.request(
                session,
                method,
                url,
                json=json,
                timeout=self.timeout,
                what=what,
                secrets=(self._token,),
                accept=accept,
            )


def project_of(report: Report, target: dict[str, Any], kind: str) -> str:
    """The target's `project` (an id or a path), else the run's repository path."""
    project = str(target.get("project") or report.repo).strip("/")
    if not project:
        raise PermanentError(
            f"gitlab: run {report.run_name!r} has no repository and the target names no "
            f"project; a {kind} needs one"
        )
    return project
