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
    max_body_bytes: int = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
    # A delivery still `received` this long after it was enqueued is enqueued again.
    sweep_after_seconds: float = 30.0
    sweep_interval_seconds: float = 5.0
    github_api_url: str = "https://api.github.com"
    github_token: str = ""
    slack_webhook_url: str = ""
    notify_timeout_seconds: float = 10.0
    api_token: str = ""  # when set, the REST API requires it as a Bearer token
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
        return {}

    def notifier_config(self, name: str) -> dict[str, Any]:
        """Constructor arguments for the notifier called `name`."""
        if name == "github":
            return {
                "api_url": self.github_api_url,
                "token": self.github_token,
                "timeout": self.notify_timeout_seconds,
            }
        if name == "slack":
            return {"webhook_url": self.slack_webhook_url, "timeout": self.notify_timeout_seconds}
        return {}
