"""One GitHub or GitHub Enterprise REST API: its base URL, its headers, and Axon's credentials.

Features:
- Token auth (`Authorization: Bearer <token>`: a fine-grained or classic token, or an
  installation token made elsewhere), or GitHub App installation auth (notifiers.github_app),
  which wins when both are set. Check runs can only be written by a GitHub App.
- GitHub Enterprise Server: api_url https://HOST/api/v3 (its path is kept).
- Every request carries Accept, X-GitHub-Api-Version and User-Agent; rate limits (403 or 429
  with X-RateLimit-Remaining: 0 or Retry-After) are TransientErrors with `retry_after`.
- With App auth, a 401 drops the cached installation token and is transient, so the retry
  buys a fresh one.

Config (constructor): api_url, token, app_id, app_private_key, app_installation_id, timeout.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import requests

from notifiers import http
from notifiers.base import Notifier, PermanentError, Report, TransientError
from notifiers.github_app import API_VERSION, GitHubApp
from schemas.settings import PluginSettings, SettingsConfigDict, setting

DEFAULT_API_URL = "https://api.github.com"


class GitHubSettings(PluginSettings):
    """The `AXON_GITHUB_*` variables, shared by the github, checks and comment targets."""

    model_config = SettingsConfigDict(env_prefix="AXON_GITHUB_")
    shared = ("timeout",)

    api_url: str = setting(DEFAULT_API_URL, "GitHub's API (Enterprise: `https://HOST/api/v3`)")
    token: str = setting("", "a token that can write commit statuses and comments", secret=True)
    app_id: str = setting("", "a GitHub App to sign in as instead (check runs need one)")
    app_private_key: str = setting(
        "", "the App's private key: PEM text or a file path", secret=True
    )
    app_installation_id: str = setting(
        "", "the App's installation", shown="empty: found from the repository"
    )


class GitHubApi:
    """Sends requests to one GitHub API as the configured token or GitHub App."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str = "",
        app_id: str = "",
        app_private_key: str = "",
        app_installation_id: str = "",
        timeout: float = 10,
    ) -> None:
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.timeout = timeout
        self._token = token
        self._app = (
            GitHubApp(self.api_url, app_id, app_private_key, app_installation_id, timeout)
            if app_id
            else None
        )

    def __repr__(self) -> str:
        auth = "app" if self._app else "token" if self._token else "none"
        return f"GitHubApi(api_url={self.api_url!r}, auth={auth})"

    def call(
        self,
        method: str,
        owner: str,
        repo: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> requests.Response:
        """`method` /repos/{owner}/{repo}`path` with `json`; the answer, or Transient/Permanent."""
        if not self._app and not self._token:
            # GitHub answers every write without credentials with 401: no try can succeed.
            raise PermanentError(
                f"{what}: AXON_GITHUB_TOKEN is not set (nor a GitHub App: AXON_GITHUB_APP_ID)"
            )
        token = self._app.token(owner, repo) if self._app else self._token
        secrets = (self._token, token, *(self._app.secrets if self._app else ()))
        url = f"{self.api_url}{repo_path(owner, repo)}{path}"
        with http.new_session(headers(token)) as session:
            response = http.request(
                session,
                method,
                url,
                json=json,
                timeout=self.timeout,
                what=what,
                secrets=secrets,
                accept=(*accept, 401) if self._app else accept,
            )
        if self._app and response.status_code == 401 and 401 not in accept:
            self._app.forget(token)
            raise TransientError(
                f"{what}: 401 the installation token was refused; renewing it", status_code=401
            )
        return response


class GitHubTarget(Notifier):
    """The constructor every GitHub notifier shares: where the API is and how to sign in."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str = "",
        timeout: float = 10,
        app_id: str = "",
        app_private_key: str = "",
        app_installation_id: str = "",
    ) -> None:
        self.api = GitHubApi(api_url, token, app_id, app_private_key, app_installation_id, timeout)
        self.api_url = self.api.api_url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.api_url!r})"


def headers(token: str) -> dict[str, str]:
    found = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
    if token:
        found["Authorization"] = f"Bearer {token}"
    return found


def repo_path(owner: str, repo: str) -> str:
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def owner_and_repo(report: Report, kind: str, *, needs_sha: bool = True) -> tuple[str, str]:
    """The run's repository as (owner, name); a PermanentError naming `kind` when it has none."""
    owner, _, repo = report.repo.partition("/")
    if not owner or not repo or "/" in repo:
        raise PermanentError(
            f"github: run {report.run_name!r} has no repository as 'owner/name' "
            f"(got {report.repo!r}); a {kind} needs one"
        )
    if needs_sha and not report.sha:
        raise PermanentError(
            f"github: run {report.run_name!r} has no commit sha; a {kind} needs one"
        )
    return owner, repo
