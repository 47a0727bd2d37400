"""The `on:` keys: the event kinds each one listens to, and the filters it compiles to.

- push: branches, branches-ignore, tags, tags-ignore, paths, paths-ignore (kinds push, tag);
- pull_request: see triggers.pull_requests; comment: see triggers.commands;
- release: types (default every type, as in GitHub), tags, tags-ignore;
- registry: images, images-ignore (`ghcr.io/octo/*`), tags, tags-ignore (`v*`);
- schedule: a schedule entry or a list of them (triggers.schedules). A schedule event comes
  to the subscription that owns the schedule only, so it is not filtered here;
- create, delete: branches, branches-ignore, tags, tags-ignore;
- workflow_run: workflows (names), types, conclusions, branches, branches-ignore;
- rerequest (re-run pressed on a check): branches, branches-ignore.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from schemas.errors import SpecError
from schemas.event import Event
from triggers.base import Errors, Matcher, Verdict
from triggers.matchers import FieldMatcher, LiveRefMatcher, PathMatcher, RefFilter, RefMatcher
from triggers.schedules import Schedule
from triggers.sections import Section, TypesMatcher, names

PATHS = frozenset({"paths", "paths-ignore"})
CONCLUSIONS = frozenset(
    {
        "success",
        "failure",
        "neutral",
        "cancelled",
        "skipped",
        "timed_out",
        "action_required",
        "stale",
        "startup_failure",
    }
)
# Arguments: the key's filters (a mapping whose keys triggers.trigger_models checked), its
# path, the error list, and the names comment commands may use for this subscription.
Builder = Callable[[Any, str, Errors, tuple[str, ...]], Section]


class ReleaseTypes(TypesMatcher):
    noun = "release"
    known = frozenset(
        {"published", "unpublished", "created", "edited", "deleted", "prereleased", "released"}
    )


class WorkflowRunTypes(TypesMatcher):
    noun = "workflow run"
    known = frozenset({"requested", "in_progress", "completed"})


class TagMatcher(FieldMatcher):
    name = "tag"
    key = "tags"
    noun = "tag"
    field = "tag"


class ImageMatcher(FieldMatcher):
    name = "image"
    key = "images"
    noun = "image"
    field = "image"


class ImageTagMatcher(FieldMatcher):
    name = "tag"
    key = "tags"
    noun = "image tag"
    field = "image_tag"


class BranchMatcher(FieldMatcher):
    name = "branch"
    key = "branches"
    noun = "branch"
    field = "branch"


class WorkflowMatcher(FieldMatcher):
    """`workflows`: the name of the workflow whose run this is."""

    name = "workflow"
    key = "workflows"
    noun = "workflow"
    field = "workflow"

    def read(self, event: Event) -> str:
        # GitHub names the workflow in `workflow`; a run's own name may be empty.
        for key in ("workflow", "workflow_run"):
            found = event.raw.get(key)
            if isinstance(found, dict) and found.get("name"):
                return str(found["name"])
        return ""


class ConclusionMatcher(Matcher):
    """`conclusions`: how the workflow run ended (success, failure, ...)."""

    name = "conclusion"

    def __init__(self, conclusions: tuple[str, ...]) -> None:
        self.conclusions = conclusions

    @classmethod
    def from_spec(cls, value: Any, path: str) -> ConclusionMatcher:
        listed = names(value, path, "conclusion")
        unknown = [c for c in listed if c not in CONCLUSIONS]
        if unknown:
            raise SpecError(
                path, f"unknown conclusion {unknown[0]!r}; known: {sorted(CONCLUSIONS)}"
            )
        return cls(listed)

    def check(self, event: Event) -> Verdict:
        run = event.raw.get("workflow_run")
        conclusion = str(run.get("conclusion") or "") if isinstance(run, dict) else ""
        if not conclusion:
            return Verdict(False, "the workflow run has no conclusion yet")
        wanted = list(self.conclusions)
        if conclusion in self.conclusions:
            return Verdict(True, f"conclusion {conclusion!r} is one of {wanted}")
        return Verdict(False, f"conclusion {conclusion!r} is not one of {wanted}")


def _field(
    cls: type[FieldMatcher], spec: dict[str, Any], path: str, errors: Errors
) -> FieldMatcher | None:
    return errors.attempt(lambda: cls.from_spec(spec, path)) if cls.given(spec) else None


def _section(key: str, kinds: set[str], matchers: Sequence[Matcher | None], refs: Any) -> Section:
    kept = tuple(m for m in matchers if m is not None)
    return Section(key, frozenset(kinds), kept, refs)


def _refs_of(field: str, matcher: FieldMatcher | None) -> dict[str, Any] | None:
    return None if matcher is None else {field: matcher.filter.include}


def _ref(spec: dict[str, Any], path: str, errors: Errors) -> RefMatcher:
    # Branches and tags apart, so a bad pattern in each is reported.
    branches = errors.attempt(lambda: RefFilter.from_spec(spec, path, "branches", "branch"))
    tags = errors.attempt(lambda: RefFilter.from_spec(spec, path, "tags", "tag"))
    return RefMatcher(branches, tags)


def push_section(spec: dict[str, Any], path: str, errors: Errors, _: tuple[str, ...]) -> Section:
    ref = _ref(spec, path, errors)
    paths = None
    if PATHS & set(spec):
        paths = errors.attempt(lambda: PathMatcher.from_spec(spec, path))
    return _section("push", {"push", "tag"}, [LiveRefMatcher(), ref, paths], ref.refs())


def ref_section(key: str) -> Builder:
    """`create` or `delete` of a branch or tag."""

    def build(spec: dict[str, Any], path: str, errors: Errors, _: tuple[str, ...]) -> Section:
        ref = _ref(spec, path, errors)
        return _section(key, {key}, [ref], ref.refs())

    return build


def release_section(spec: dict[str, Any], path: str, errors: Errors, _: tuple[str, ...]) -> Section:
    types = None
    if "types" in spec:
        types = errors.attempt(lambda: ReleaseTypes.from_spec(spec["types"], f"{path}.types"))
    tag = _field(TagMatcher, spec, path, errors)
    return _section("release", {"release"}, [types, tag], _refs_of("tag", tag))


def registry_section(
    spec: dict[str, Any], path: str, errors: Errors, _: tuple[str, ...]
) -> Section:
    image = _field(ImageMatcher, spec, path, errors)
    tag = _field(ImageTagMatcher, spec, path, errors)
    return _section("registry", {"registry"}, [image, tag], _refs_of("image", image))


def workflow_run_section(
    spec: dict[str, Any], path: str, errors: Errors, _: tuple[str, ...]
) -> Section:
    workflow = _field(WorkflowMatcher, spec, path, errors)
    types = conclusions = None
    if "types" in spec:
        types = errors.attempt(lambda: WorkflowRunTypes.from_spec(spec["types"], f"{path}.types"))
    if "conclusions" in spec:
        where = f"{path}.conclusions"
        conclusions = errors.attempt(
            lambda: ConclusionMatcher.from_spec(spec["conclusions"], where)
        )
    branch = _field(BranchMatcher, spec, path, errors)
    matchers = [workflow, types, conclusions, branch]
    return _section("workflow_run", {"workflow_run"}, matchers, _refs_of("branch", branch))


def rerequest_section(
    spec: dict[str, Any], path: str, errors: Errors, _: tuple[str, ...]
) -> Section:
    branch = _field(BranchMatcher, spec, path, errors)
    return _section("rerequest", {"rerequest"}, [branch], _refs_of("branch", branch))


def schedule_section(value: Any, path: str, errors: Errors, _: tuple[str, ...]) -> Section:
    if isinstance(value, dict):
        errors.attempt(lambda: Schedule.from_spec(value, path))
    elif isinstance(value, list) and value:
        for index, entry in enumerate(value):
            errors.attempt(partial(Schedule.from_spec, entry, f"{path}[{index}]"))
    else:
        errors.append(SpecError(path, "expected a schedule or a non-empty list of schedules"))
    return Section("schedule", frozenset({"schedule"}))
