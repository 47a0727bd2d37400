"""A subscription's trigger keys (`repo`, `provider`, `skip`, `concurrency`, `on`) as pydantic
models: one validation language with the spec, and a JSON Schema for editors.

The models own the document's shape: which keys exist (unknown ones refused), which values are
mappings, the shorthands (`on: push`, `concurrency: "<group>"`). The values themselves (globs,
cron, templates, argument types) are read by each matcher's `from_spec(value, path)`, called
from the models' validators, whose SpecErrors become located errors: the matchers keep one
constructor for every caller, and their reasons stay the words the API and the decision log
already use. Validated, the models hold the compiled matchers and sections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import GetJsonSchemaHandler, WithJsonSchema
from pydantic_core import CoreSchema

from schemas.errors import SpecError, SpecErrors
from schemas.spec_base import located_error
from schemas.spelling import did_you_mean
from triggers.base import Errors, Matcher
from triggers.command_models import Commands
from triggers.commands import ASSOCIATIONS, comment_section
from triggers.concurrency import KEYS as CONCURRENCY_KEYS
from triggers.concurrency import Concurrency
from triggers.matchers import ProviderMatcher, RepoMatcher, SkipMarkerMatcher
from triggers.model_base import FLAG, GLOBS, TriggerModel, located, names_schema
from triggers.on import (
    CONCLUSIONS,
    Builder,
    ReleaseTypes,
    WorkflowRunTypes,
    push_section,
    ref_section,
    registry_section,
    release_section,
    rerequest_section,
    schedule_section,
    workflow_run_section,
)
from triggers.pull_requests import PullRequestTypes, pull_request_section
from triggers.sections import Section, hint

Globs = Annotated[Any, WithJsonSchema(GLOBS)]
Flag = Annotated[Any, WithJsonSchema(FLAG)]
_FORKS = {
    "anyOf": [
        FLAG,
        {"type": "string", "pattern": "^(deny|allow|require-label:.+)$"},
        {
            "type": "object",
            "properties": {
                "policy": {"enum": ["deny", "allow", "require-label"]},
                "label": {"type": "string"},
            },
            "required": ["policy"],
            "additionalProperties": False,
        },
    ]
}
_SCHEDULE = {"type": "object", "description": "a schedule: cron, interval or datetime"}
_SCHEDULES = {"type": "array", "items": _SCHEDULE, "minItems": 1}


def _ignore(key: str) -> Any:
    return Field(None, alias=f"{key}-ignore")


class Filters(TriggerModel):
    """An `on:` key's filters; validated, it holds the section they compile to."""

    build: ClassVar[Builder]
    not_a_mapping = "expected a mapping of filters (or nothing)"
    _section: Section = PrivateAttr()

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"unknown filter; {hint(key, sorted(cls.keys()))}"

    def compile(self, info: ValidationInfo) -> None:
        errors = Errors()
        names = (info.context or {}).get("names", ())
        spec = self.model_dump(by_alias=True, exclude_unset=True)
        self._section = type(self).build(spec, "", errors, names)
        located(errors)

    @property
    def section(self) -> Section:
        return self._section


class RefFilters(Filters):
    branches: Globs = None
    branches_ignore: Globs = _ignore("branches")
    tags: Globs = None
    tags_ignore: Globs = _ignore("tags")


class PushFilters(RefFilters):
    build = push_section
    paths: Globs = None
    paths_ignore: Globs = _ignore("paths")


class CreateFilters(RefFilters):
    build = ref_section("create")


class DeleteFilters(RefFilters):
    build = ref_section("delete")


class ReleaseFilters(Filters):
    build = release_section
    types: Annotated[Any, WithJsonSchema(names_schema("release types", ReleaseTypes.known))] = None
    tags: Globs = None
    tags_ignore: Globs = _ignore("tags")


class RegistryFilters(Filters):
    build = registry_section
    images: Globs = None
    images_ignore: Globs = _ignore("images")
    tags: Globs = None
    tags_ignore: Globs = _ignore("tags")


class WorkflowRunFilters(Filters):
    build = workflow_run_section
    workflows: Globs = None
    types: Annotated[Any, WithJsonSchema(names_schema("types", WorkflowRunTypes.known))] = None
    conclusions: Annotated[Any, WithJsonSchema(names_schema("conclusions", CONCLUSIONS))] = None
    branches: Globs = None
    branches_ignore: Globs = _ignore("branches")


class RerequestFilters(Filters):
    build = rerequest_section
    branches: Globs = None
    branches_ignore: Globs = _ignore("branches")


class PullRequestFilters(Filters):
    build = pull_request_section
    types: Annotated[
        Any, WithJsonSchema(names_schema("pull request types", PullRequestTypes.known))
    ] = None
    branches: Globs = None
    branches_ignore: Globs = _ignore("branches")
    paths: Globs = None
    paths_ignore: Globs = _ignore("paths")
    labels: Annotated[Any, WithJsonSchema(names_schema("labels"))] = None
    drafts: Flag = None
    forks: Annotated[Any, WithJsonSchema(_FORKS)] = None
    merged: Flag = None


class CommentFilters(Filters):
    build = comment_section
    commands: Commands | None = None
    names: Annotated[Any, WithJsonSchema(names_schema("names commands call it by"))] = None
    associations: Annotated[Any, WithJsonSchema(names_schema("roles", ASSOCIATIONS))] = None
    actors: Annotated[Any, WithJsonSchema(names_schema("logins"))] = None
    prefix: Annotated[Any, WithJsonSchema({"type": "string", "pattern": r"^\S+$"})] = None
    model_config = ConfigDict(json_schema_extra={"required": ["commands"]})


FILTERS: dict[str, type[Filters]] = {
    "push": PushFilters,
    "pull_request": PullRequestFilters,
    "comment": CommentFilters,
    "release": ReleaseFilters,
    "registry": RegistryFilters,
    "create": CreateFilters,
    "delete": DeleteFilters,
    "workflow_run": WorkflowRunFilters,
    "rerequest": RerequestFilters,
}
SCHEDULED = Section("schedule", frozenset({"schedule"}))


def _or_shorthand(schema: dict[str, Any], *shorthands: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [*shorthands, schema]}


class On(TriggerModel):
    """`on:` a mapping of event keys to their filters, one key, or a list of keys."""

    push: PushFilters | None = None
    pull_request: PullRequestFilters | None = None
    comment: CommentFilters | None = None
    release: ReleaseFilters | None = None
    registry: RegistryFilters | None = None
    schedule: Annotated[Any, WithJsonSchema(_or_shorthand(_SCHEDULES, _SCHEDULE))] = None
    create: CreateFilters | None = None
    delete: DeleteFilters | None = None
    workflow_run: WorkflowRunFilters | None = None
    rerequest: RerequestFilters | None = None

    _sections: tuple[Section, ...] = PrivateAttr(default=())

    @classmethod
    def required(cls) -> str:
        return f"required: a mapping with one of {sorted(cls.keys())}"

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"unknown event; {hint(key, cls.keys())}"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {data: None}
        elif isinstance(data, list) and data and all(isinstance(key, str) for key in data):
            data = dict.fromkeys(data)
        if not isinstance(data, dict) or not data:
            raise located_error((), cls.required())
        # A key with nothing under it listens to every event of its kind.
        return {
            str(key): {} if value is None and key in FILTERS else value
            for key, value in data.items()
        }

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        errors = Errors()
        schedule_section(value, "", errors, ())
        located(errors)
        return value

    def compile(self, info: ValidationInfo) -> None:
        given = [key for key in type(self).model_fields if key in self.model_fields_set]
        self._sections = tuple(
            SCHEDULED if key == "schedule" else getattr(self, key).section for key in given
        )

    @property
    def sections(self) -> tuple[Section, ...]:
        return self._sections

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        key = {"enum": cls.keys()}
        listed = {"type": "array", "items": key, "minItems": 1}
        return _or_shorthand(handler(schema), key, listed)


class ConcurrencyModel(TriggerModel):
    """`concurrency:` a group template, or a mapping with group (triggers.concurrency)."""

    group: Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1})] = None
    cancel_in_progress: Flag = Field(None, alias="cancelInProgress")
    protect: Annotated[Any, WithJsonSchema({"type": "array", "items": {"type": "string"}})] = None
    debounce: Annotated[Any, WithJsonSchema({"type": "number", "minimum": 0})] = None
    queue_limit: Annotated[Any, WithJsonSchema({"type": "integer", "minimum": 0})] = Field(
        None, alias="queueLimit"
    )
    model_config = ConfigDict(json_schema_extra={"required": ["group"]})
    not_a_mapping = "expected a group template or a mapping with group"
    # Concurrency.from_spec names the first problem only.
    check_the_rest = False

    _rule: Concurrency = PrivateAttr()

    @classmethod
    def unknown(cls, key: str) -> str:
        known = did_you_mean(key, CONCURRENCY_KEYS, f"known: {', '.join(CONCURRENCY_KEYS)}")
        return f"unknown key; {known}"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"group": data} if isinstance(data, str) else data

    def compile(self, info: ValidationInfo) -> None:
        spec = self.model_dump(by_alias=True, exclude_unset=True)
        self._rule = _attempt(lambda: Concurrency.from_spec(spec, ""))

    @property
    def rule(self) -> Concurrency:
        return self._rule

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return _or_shorthand(handler(schema), {"type": "string", "minLength": 1})


def _attempt(build: Callable[[], Any]) -> Any:
    """What `build` returns; its SpecError (or SpecErrors) as located errors."""
    try:
        return build()
    except SpecErrors as exc:
        located(exc.errors)
    except SpecError as exc:
        located([exc])


class Trigger(TriggerModel):
    """The trigger keys of a subscription; the document's other keys are ci's.

    Validated, `repo`, `provider` and `skip` hold their matchers.
    """

    model_config = ConfigDict(extra="ignore")
    repo: Globs = None
    provider: Annotated[Any, WithJsonSchema(names_schema("provider names, such as github"))] = None
    skip: Flag = Field(True, validate_default=True)
    concurrency: ConcurrencyModel | None = None
    on: On

    @classmethod
    def missing_reason(cls, key: str) -> str:
        return On.required() if key == "on" else "field required"

    @field_validator("concurrency", mode="before")
    @classmethod
    def _concurrency(cls, value: Any) -> Any:
        if value is None:  # given as nothing: say what it takes
            raise located_error((), ConcurrencyModel.not_a_mapping)
        return value

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: Any) -> Matcher:
        return _attempt(lambda: RepoMatcher.from_spec(value, ""))

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: Any) -> Matcher:
        return _attempt(lambda: ProviderMatcher.from_spec(value, ""))

    @field_validator("skip")
    @classmethod
    def _skip(cls, value: Any) -> Matcher:
        return _attempt(lambda: SkipMarkerMatcher.from_spec(value, ""))
