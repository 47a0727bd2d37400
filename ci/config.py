"""Settings, read from `AXON_*` environment variables in this one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_VAR = Path(os.environ.get("AXON_HOME", Path.cwd() / "var"))


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Every setting has an `AXON_<NAME>` variable; defaults give the embedded setup."""

    home: str = str(_VAR)
    # SQLite and an in-memory broker: nothing to install for a first run.
    database_url: str = f"sqlite:///{_VAR / 'axon.db'}"
    broker_url: str = "memory://"
    queue: str = "axon"
    # Embedded: a Celery worker, the agent and the sweeper run as threads of the server.
    embedded: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    runs_dir: str = str(_VAR / "runs")
    runner: str = "local"
    # The Kubernetes runner (AXON_RUNNER=kubernetes); see KubernetesRunner for each one.
    kubernetes_namespace: str = "default"
    kubernetes_kubeconfig: str = ""  # empty: $KUBECONFIG or ~/.kube/config
    kubernetes_context: str = ""
    # Empty: in-cluster when KUBERNETES_SERVICE_HOST is set and no kubeconfig is named.
    kubernetes_in_cluster: str = ""
    kubernetes_queues: str = ""  # JSON: {"gpu": {"concurrency": 2, "namespace": "ml", ...}}
    kubernetes_default_queue: str = "default"
    kubernetes_kubeflow: bool = True
    kubernetes_git_image: str = ""  # empty: the runner's default image
    kubernetes_helper_image: str = ""
    kubernetes_git_secret: str = ""
    kubernetes_artifacts_claim: str = ""
    kubernetes_watch_timeout: int = 300
    # Where `hubRef: name[:version]` components are found; fetching `urlRef`s is off by default
    # because a spec that makes the server fetch a URL can reach inside the network.
    hub_dir: str = ""
    allow_url_refs: bool = False
    # The only directory a `pathRef` in a spec sent to the API or run by a subscription may
    # read from; empty: such a pathRef is refused (a spec must not read the server's files).
    specs_dir: str = ""
    max_body_bytes: int = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
    # A refused delivery keeps only this much of its body (and its size): anyone can send one.
    rejected_body_bytes: int = 4096
    # Deliveries older than this are pruned (decisions with them; runs keep their own copy).
    # 0 keeps them forever.
    delivery_retention_days: int = 30
    # A delivery still `received` this long after it was enqueued is enqueued again.
    sweep_after_seconds: float = 30.0
    sweep_interval_seconds: float = 5.0
    github_api_url: str = "https://api.github.com"
    github_token: str = field(default="", repr=False)
    github_app_id: str = ""
    github_app_private_key: str = field(default="", repr=False)  # PEM text or a file path
    github_app_installation_id: str = ""
    gitlab_api_url: str = "https://gitlab.com/api/v4"
    gitlab_token: str = field(default="", repr=False)
    slack_webhook_url: str = field(default="", repr=False)
    slack_token: str = field(default="", repr=False)
    slack_channel: str = ""
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "starttls"
    smtp_sender: str = "axon@localhost"
    email_recipients: str = ""
    webhook_secret: str = field(default="", repr=False)
    pagerduty_service_key: str = field(default="", repr=False)
    # "v2" (Events API v2, /v2/enqueue) or "v1" for an integration made for the old API.
    pagerduty_events_api: str = "v2"
    # URLs users put in report targets or urlRefs may not reach private or loopback addresses
    # unless set.
    allow_private_urls: bool = False
    notify_timeout_seconds: float = 10.0
    # A target that keeps failing is tried this many times per status, waiting twice as long
    # after each try (starting from notify_retry_seconds, or as long as it asks), then `failed`.
    notify_max_attempts: int = 8
    notify_retry_seconds: float = 5.0
    # Every API route and page requires it; empty only for the embedded default on loopback.
    api_token: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, /, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"AXON_{f.name.upper()}")
            if raw is None:
                continue
            if f.type == "bool":
                values[f.name] = _bool(raw)
            elif f.type == "int":
                values[f.name] = int(raw)
            elif f.type == "float":
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        values.update(overrides)
        settings = cls(**values)
        if "public_url" not in values and ("port" in values or "host" in values):
            settings = replace(settings, public_url=f"http://{settings.host}:{settings.port}")
        return settings

    def runner_config(self, name: str) -> dict[str, Any]:
        """Constructor arguments for the runner called `name`."""
        if name == "local":
            return {"root": self.runs_dir}
        if name == "kubernetes":
            return self._kubernetes_config()
        return {}

    def _kubernetes_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "namespace": self.kubernetes_namespace,
            "kubeconfig": self.kubernetes_kubeconfig,
            "context": self.kubernetes_context,
            "in_cluster": _bool(self.kubernetes_in_cluster) if self.kubernetes_in_cluster else None,
            "queues": self.kubernetes_queues or None,
            "default_queue": self.kubernetes_default_queue,
            "kubeflow": self.kubernetes_kubeflow,
            "git_secret": self.kubernetes_git_secret,
            "artifacts_claim": self.kubernetes_artifacts_claim,
            "watch_timeout": self.kubernetes_watch_timeout,
        }
        # Unset images keep the runner's own defaults, which this module does not import.
        if self.kubernetes_git_image:
            config["git_image"] = self.kubernetes_git_image
        if self.kubernetes_helper_image:
            config["helper_image"] = self.kubernetes_helper_image
        return config

    def notifier_config(self, name: str) -> dict[str, Any]:
        """Constructor arguments for the notifier called `name`."""
        github = {
            "api_url": self.github_api_url,
            "token": self.github_token,
            "app_id": self.github_app_id,
            "app_private_key": self.github_app_private_key,
            "app_installation_id": self.github_app_installation_id,
        }
        gitlab = {"api_url": self.gitlab_api_url, "token": self.gitlab_token}
        private = {"allow_private": self.allow_private_urls}
        configs: dict[str, dict[str, Any]] = {
            "github": github,
            "checks": github,
            "comment": github,
            "gitlab": gitlab,
            "note": gitlab,
            "slack": {
                "webhook_url": self.slack_webhook_url,
                "token": self.slack_token,
                "channel": self.slack_channel,
                **private,
            },
            "email": {
                "host": self.smtp_host,
                "port": self.smtp_port,
                "username": self.smtp_username,
                "password": self.smtp_password,
                "security": self.smtp_security,
                "sender": self.smtp_sender,
                "recipients": self.email_recipients,
            },
            "webhook": {"secret": self.webhook_secret, **private},
            "discord": private,
            "mattermost": private,
            "pagerduty": {
                "routing_key": self.pagerduty_service_key,
                "events_api": self.pagerduty_events_api,
            },
        }
        return {**configs.get(name, {}), "timeout": self.notify_timeout_seconds}
