"""Settings models: `AXON_*` variables, validated so that a bad value names its variable."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Self

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource
from pydantic_settings import SettingsConfigDict as SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from schemas.errors import AxonError

_NOTHING: Mapping[str, str] = MappingProxyType({})
# The variables a model being built reads; empty unless `reading()` names them, so a model built
# in code (tests, a copy) never picks up whatever the process happens to have set.
_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("axon_environ", default=_NOTHING)
TRUE = frozenset({"true", "1", "yes"})
FALSE = frozenset({"false", "0", "no"})


class SettingsError(AxonError):
    """A setting's value is wrong: the message names each variable and what it expected."""


def strict_bool(value: object) -> object:
    """true/false/1/0/yes/no in any case; anything else is an error, never a silent false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE or word in FALSE:
        return word in TRUE
    raise ValueError(f"expected true/false/1/0/yes/no, got {value!r}")


def optional_bool(value: object) -> object:
    """As `strict_bool`, but unset (empty) stays None: "decide for me"."""
    return None if value is None or value == "" else strict_bool(value)


Flag = Annotated[bool, BeforeValidator(strict_bool)]
MaybeFlag = Annotated[bool | None, BeforeValidator(optional_bool)]


def setting(default: Any, meaning: str, *, shown: str | None = None, secret: bool = False) -> Any:
    """A field with its README line: `meaning`, and `shown` where the default needs words."""
    extra: dict[str, Any] | None = {"shown": shown} if shown is not None else None
    return Field(default, description=meaning, repr=not secret, json_schema_extra=extra)


@contextmanager
def reading(environ: Mapping[str, str] | None) -> Iterator[None]:
    """Models built inside read `environ` (None: the process's environment)."""
    token = _ENVIRON.set(os.environ if environ is None else environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


class _Environ(EnvSettingsSource):
    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            _ENVIRON.get(), self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class AxonSettings(BaseSettings):
    """A frozen model of `AXON_*` variables; a bad value raises SettingsError naming it."""

    model_config = SettingsConfigDict(
        env_prefix="AXON_", case_sensitive=False, frozen=True, extra="forbid", validate_by_name=True
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(describe(type(self), exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _Environ(settings_cls))

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, /, **values: Any) -> Self:
        """The model from `environ` (default: the process's), `values` taking precedence."""
        with reading(environ):
            return cls(**values)

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field `name`."""
        alias = cls.model_fields[name].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.model_config.get('env_prefix', '')}{name}".upper()

    def secrets(self) -> list[str]:
        """The values of the secret fields that are set (to mask them wherever text goes out)."""
        return [
            value
            for name, info in type(self).model_fields.items()
            if not info.repr and isinstance(value := getattr(self, name), str) and value
        ]


class PluginSettings(AxonSettings):
    """A plugin's own settings, beside its code; `arguments()` feed its constructor."""

    # The core's values it takes as well, by argument name (e.g. "timeout", "allow_private").
    shared: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def flat_names(cls) -> dict[str, str]:
        """Each field by its variable without `AXON_`, lowercase: `github_token` → `token`."""
        return {cls.variable(name).removeprefix("AXON_").lower(): name for name in cls.model_fields}

    def arguments(self) -> dict[str, Any]:
        """The plugin constructor's keyword arguments; by default, one per field."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def describe(model: type[AxonSettings], exc: ValidationError) -> str:
    """`AXON_PORT: expected an integer, got 'abc'`, one clause per bad value."""
    clauses = []
    for error in exc.errors(include_url=False):
        where = str(error["loc"][0]) if error["loc"] else ""
        info = model.model_fields.get(where)
        if info is not None:
            variable = model.variable(where)
        elif where.upper().startswith("AXON_"):
            variable = where.upper()
        else:
            variable = f"AXON_{where.upper()}"
        clauses.append(f"{variable}: {_reason(error, secret=info is not None and not info.repr)}")
    return "; ".join(clauses)


_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "extra_forbidden": "not a setting",
}


def _reason(error: Any, *, secret: bool) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    reason = _EXPECTED.get(kind, str(error["msg"]))
    if secret or kind == "extra_forbidden":
        return reason
    return f"{reason}, got {error['input']!r}"
