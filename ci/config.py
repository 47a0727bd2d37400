"""Settings, read from `AXON_*` environment variables: the core's here, each plugin's beside it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Self

from pydantic import ModelWrapValidatorHandler, PrivateAttr, field_validator, model_validator

from notifiers.registry import settings as notifier_settings
from runners import clusters
from runners.registry import settings as runner_settings
from schemas.registry import Registry
from schemas.settings import AxonSettings, Flag, PluginSettings, SettingsError, setting

__all__ = ["Settings", "SettingsError", "plugin_models"]

_VAR = Path(os.environ.get("AXON_HOME", Path.cwd() / "var"))


@cache
def plugin_models() -> tuple[type[PluginSettings], ...]:
    """Every runner's and notifier's settings model, each once, runners first."""
    found: list[type[PluginSettings]] = []
    for registry in (runner_settings, notifier_settings):
        for name in registry.names():
            model = registry.load(name)
            if model not in found:
                found.append(model)
    return tuple(found)


@cache
def _flat_names() -> dict[str, tuple[type[PluginSettings], str]]:
    return {
        flat: (model, name)
        for model in plugin_models()
        for flat, name in model.flat_names().items()
    }


class Settings(AxonSettings):
    """Every setting has an `AXON_<NAME>` variable; defaults give the embedded setup.

    A plugin's own variables (`AXON_GITHUB_TOKEN`, `AXON_KUBERNETES_NAMESPACE`...) are read by
    its model; in code they are given by the same name: `Settings(github_token="...")`.
    """

    home: str = setting(
        str(_VAR),
        "where the embedded database, secret key and run directories live",
        shown="`./var`",
    )
    # SQLite and an in-memory broker: nothing to install for a first run.
    database_url: str = setting(
        f"sqlite:///{_VAR / 'axon.db'}",
        "SQLAlchemy URL (SQLite or PostgreSQL)",
        shown="`sqlite:///$AXON_HOME/axon.db`",
        secret=True,
    )
    broker_url: str = setting(
        "memory://", "Celery broker (`amqp://...` in production)", secret=True
    )
    queue: str = setting("axon", "the Celery queue")
    # Embedded: a Celery worker, the agent and the sweeper run as threads of the server.
    embedded: Flag = setting(True, "run the worker and agent inside `axon serve`")
    host: str = setting("127.0.0.1", "the address `axon serve` listens on")
    port: int = setting(8000, "the port `axon serve` listens on")
    public_url: str = setting(
        "http://127.0.0.1:8000",
        "base of links in reports and of `AXON_API_URL` for jobs",
        shown="`http://$HOST:$PORT`",
    )
    secret_key: str = setting(
        "",
        "derives per-run tokens and signs the pages' login session; set it in production",
        shown="generated into `$AXON_HOME/secret_key`",
        secret=True,
    )
    secrets_key: str = setting(
        "",
        "encrypts connections' secret values at rest: one or more Fernet keys, comma-separated, "
        "newest first (`axon connections rotate-key` re-encrypts with the first)",
        shown="derived from the secret key",
        secret=True,
    )
    # A server admin's token; empty only for the embedded default on loopback, whose first
    # start makes an admin user and prints that user's token instead.
    api_token: str = setting(
        "",
        "a server admin's token, taken by every API route and page (Bearer header, or `/login` "
        "for pages); the API refuses to start without it, except the embedded default on "
        "loopback, which needs a user's token (its first start prints the admin's)",
        shown="empty: only for the embedded default on loopback",
        secret=True,
    )
    # Sign-in with an OpenID Connect provider is offered only when the issuer and client are set.
    oidc_issuer: str = setting(
        "",
        "an OpenID Connect provider's issuer URL (its `/.well-known/openid-configuration` is "
        "read): the login page offers to sign in with it",
        shown="empty: no OpenID Connect sign-in",
    )
    oidc_client_id: str = setting("", "Axon's client id at the OpenID Connect provider")
    oidc_client_secret: str = setting(
        "", "Axon's client secret at the OpenID Connect provider", secret=True
    )
    oidc_provider_name: str = setting(
        "OpenID Connect", 'the provider\'s name on the login page ("Sign in with ...")'
    )
    oidc_match_email: Flag = setting(
        False,
        "a first sign-in whose email the provider verified joins the Axon user with that email "
        "instead of making a new user with no roles",
    )
    runner: str = setting("local", "the runner: `local` or `kubernetes`")
    runners: str = setting(
        "",
        "more runner configurations by name (several clusters): a JSON list, or a YAML or JSON "
        'file\'s path, of `{"name": "east", "kind": "kubernetes", "kubeconfig": "...", '
        '"context": "...", "namespace": "...", "queues": ["gpu"]}`; a run\'s queue picks the one '
        "that owns it",
        shown="empty: only `AXON_RUNNER`",
    )
    runs_dir: str = setting(
        str(_VAR / "runs"), "the local runner's per-run directories", shown="`$AXON_HOME/runs`"
    )
    artifacts_url: str = setting(
        "",
        "where runs' artifacts and finished logs live: a directory, or an fsspec URL "
        "(`s3://bucket/prefix`, `gs://...`, `az://...`)",
        shown="`$AXON_HOME/artifacts`",
    )
    artifacts_options: str = setting(
        "",
        'fsspec storage options of the artifacts store as a JSON object, e.g. `{"endpoint_url": '
        '"http://minio:9000"}` for an S3-compatible store',
        secret=True,
    )
    artifact_max_bytes: int = setting(
        5 * 1024**3, "the largest artifact one upload may carry (5 GiB)"
    )
    # Fetching `urlRef`s is off by default: a spec that makes the server fetch a URL can reach
    # inside the network.
    hub_dir: str = setting("", "the component hub `hubRef: name[:version]` reads from")
    allow_url_refs: Flag = setting(
        False,
        "let specs fetch `urlRef` components (a spec-driven fetch can reach inside the network)",
    )
    # A spec must not read the server's files.
    specs_dir: str = setting(
        "",
        "the only directory a `pathRef` in a spec sent to `POST /api/v1/check` or run by a "
        "subscription may read; empty: such a `pathRef` is refused (`axon check -f` reads paths "
        "relative to its file)",
    )
    max_body_bytes: int = setting(
        25 * 1024 * 1024,  # GitHub caps payloads at 25 MB
        "webhook body cap (GitHub's 25 MB); larger gets 413, chunked or not",
    )
    # Anyone can send a delivery, so a refused one keeps only a prefix.
    rejected_body_bytes: int = setting(
        4096, "how much of a refused delivery's body is kept (with its size)"
    )
    delivery_retention_days: int = setting(
        30,
        "deliveries older than this are pruned hourly by the agent's sweeper, with their "
        "decisions; runs keep their own copy of the event; kept however old: deliveries not yet "
        "processed, those of live runs, each schedule's latest slot. `0` keeps them forever",
    )
    sweep_after_seconds: float = setting(
        30.0,
        "a delivery still `received` this long after it left the outbox (counted from its "
        "receipt, or from its last re-send) is enqueued again",
    )
    sweep_interval_seconds: float = setting(5.0, "how often the sweeper looks")
    allow_private_urls: Flag = setting(
        False, "let URLs in report targets and `urlRef`s reach private or loopback addresses"
    )
    notify_timeout_seconds: float = setting(10.0, "timeout of each call to a report target")
    notify_max_attempts: int = setting(8, "tries of one status to one target before it is `failed`")
    notify_retry_seconds: float = setting(
        5.0,
        "the wait after the first failed try, doubled after each (at most 10 minutes), or as "
        "long as the target asks (`Retry-After`, at most an hour)",
    )
    progress_report_interval: float = setting(
        15.0,
        "a running run's progress goes to each target that shows it in place (a commit status, "
        "a check run, a pull request's comment) at most once per this many seconds; the last "
        "one held back is sent when the wait is over",
    )
    log_level: str = setting("INFO", "the log level of Axon's processes")

    _plugins: dict[type[PluginSettings], PluginSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _with_plugins(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Hand each plugin's values to its model, which also reads its own variables."""
        values = dict(data) if isinstance(data, Mapping) else {}
        own: dict[type[PluginSettings], dict[str, Any]] = {m: {} for m in plugin_models()}
        core = {}
        for key, value in values.items():
            if (target := _flat_names().get(key.lower())) is not None:
                own[target[0]][target[1]] = value
            else:
                core[key] = value
        settings = handler(core)
        settings._plugins = {model: model(**given) for model, given in own.items()}
        return settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls.load(env, **overrides)
        given = {key.upper() for key in env} | {f"AXON_{key.upper()}" for key in overrides}
        if "AXON_PUBLIC_URL" not in given and given & {"AXON_HOST", "AXON_PORT"}:
            public_url = f"http://{settings.host}:{settings.port}"
            settings = settings.model_copy(update={"public_url": public_url})
        return settings

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with `update` applied (plugin values by their flat names), validated again."""
        if not update:
            return super().model_copy(deep=deep)
        return type(self)(**{**self.model_dump(), **self._plugin_values(), **update})

    def _plugin_values(self) -> dict[str, Any]:
        return {
            flat: getattr(self._plugins[model], name)
            for flat, (model, name) in _flat_names().items()
        }

    def secrets(self) -> list[str]:
        return super().secrets() + [s for p in self._plugins.values() for s in p.secrets()]

    def runner_config(self, name: str) -> dict[str, Any]:
        """Constructor arguments for the runner called `name`."""
        if (configured := self.configurations().get(name)) is not None:
            return configured.arguments({"root": self.runs_dir})
        return self._arguments(runner_settings, name, {"root": self.runs_dir})

    def configurations(self) -> dict[str, clusters.RunnerConfig]:
        """The named runner configurations of `AXON_RUNNERS` (validated when read)."""
        return clusters.parse(self.runners)

    def runner_kind(self, name: str) -> str:
        """The runner kind (`local`, `kubernetes`) the configuration called `name` makes."""
        configured = self.configurations().get(name)
        return configured.kind if configured is not None else name

    @field_validator("runners")
    @classmethod
    def _runners_parse(cls, value: str) -> str:
        try:
            clusters.parse(value)
        except clusters.ClusterError as exc:
            raise ValueError(str(exc)) from exc
        return value

    def notifier_config(self, name: str) -> dict[str, Any]:
        """Constructor arguments for the notifier called `name`."""
        shared = {"timeout": self.notify_timeout_seconds, "allow_private": self.allow_private_urls}
        return self._arguments(notifier_settings, name, shared, fallback=("timeout",))

    def _arguments(
        self,
        registry: Registry[PluginSettings],
        name: str,
        shared: dict[str, Any],
        fallback: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        if name not in registry:
            return {key: shared[key] for key in fallback}
        plugin = self._plugins[registry.load(name)]
        return {**{key: shared[key] for key in plugin.shared}, **plugin.arguments()}
