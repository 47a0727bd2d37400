"""The matchers every kind of event shares: kind, repository, provider, refs, paths, skip."""

from __future__ import annotations

from typing import Any, ClassVar

from schemas.errors import SpecError
from schemas.event import Event
from triggers.base import Matcher, Verdict
from triggers.globs import GlobList

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip axon]", "[axon skip]")
# The events whose message is a commit message, which is where GitHub reads skip markers.
COMMIT_KINDS = frozenset({"push", "tag"})


class KindMatcher(Matcher):
    """The event kinds the subscription's `on:` section listens to."""

    name = "event"

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds

    @classmethod
    def from_spec(cls, value: Any, path: str) -> KindMatcher:
        return cls(frozenset(value))

    def check(self, event: Event) -> Verdict:
        if event.kind in self.kinds:
            return Verdict(True, f"{event.kind} event is listened to")
        return Verdict(False, f"{event.kind} event is not one of {sorted(self.kinds)}")


class RepoMatcher(Matcher):
    name = "repo"

    def __init__(self, globs: GlobList) -> None:
        self.globs = globs

    @classmethod
    def from_spec(cls, value: Any, path: str) -> RepoMatcher:
        return cls(GlobList.from_spec(value, path))

    def check(self, event: Event) -> Verdict:
        pattern = self.globs.decide(event.repo)
        if pattern:
            return Verdict(True, f"repo {event.repo!r} matches {pattern!r}")
        return Verdict(False, f"repo {event.repo!r} matches none of {list(self.globs.patterns)}")


class ProviderMatcher(Matcher):
    """`provider: github` (or a list): for a project whose sources are on several forges."""

    name = "provider"

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    @classmethod
    def from_spec(cls, value: Any, path: str) -> ProviderMatcher:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise SpecError(path, "expected a provider name or a non-empty list of them")
        for index, name in enumerate(names):
            if not isinstance(name, str) or not name.isidentifier() or not name.islower():
                where = path if isinstance(value, str) else f"{path}[{index}]"
                raise SpecError(where, f"expected a provider name such as 'github', not {name!r}")
        return cls(frozenset(names))

    def check(self, event: Event) -> Verdict:
        if event.provider in self.names:
            return Verdict(True, f"provider {event.provider!r} is listened to")
        return Verdict(False, f"provider {event.provider!r} is not one of {sorted(self.names)}")


class RefFilter:
    """An include/ignore pair of filters: `branches`/`branches-ignore`, `tags`/`tags-ignore`."""

    def __init__(self, noun: str, include: GlobList | None, ignore: GlobList | None) -> None:
        self.noun, self.include, self.ignore = noun, include, ignore

    @classmethod
    def from_spec(cls, value: dict[str, Any], path: str, key: str, noun: str) -> RefFilter | None:
        """The `key`/`key-ignore` pair of a filter, or None when neither is given."""
        include, ignore = value.get(key), value.get(f"{key}-ignore")
        if include is not None and ignore is not None:
            raise SpecError(f"{path}.{key}-ignore", f"use {key} or {key}-ignore, not both")
        if include is None and ignore is None:
            return None
        return cls(
            noun,
            GlobList.from_spec(include, f"{path}.{key}") if include is not None else None,
            GlobList.from_spec(ignore, f"{path}.{key}-ignore") if ignore is not None else None,
        )

    def check(self, value: str) -> Verdict:
        if self.include is not None:
            pattern = self.include.decide(value)
            if not pattern:
                patterns = list(self.include.patterns)
                return Verdict(False, f"{self.noun} {value!r} matches none of {patterns}")
            return Verdict(True, f"{self.noun} {value!r} matches {pattern!r}")
        if self.ignore is not None and (pattern := self.ignore.decide(value)):
            return Verdict(False, f"{self.noun} {value!r} is ignored by {pattern!r}")
        return Verdict(True, f"{self.noun} {value!r} is not ignored")


class RefMatcher(Matcher):
    """Which refs of a push (or a create or delete) count. As in GitHub Actions, naming only
    branches leaves tag pushes out, and naming only tags leaves branch pushes out."""

    name = "ref"

    def __init__(self, branches: RefFilter | None, tags: RefFilter | None) -> None:
        self.branches, self.tags = branches, tags

    @classmethod
    def from_spec(cls, value: Any, path: str) -> RefMatcher:
        return cls(
            RefFilter.from_spec(value, path, "branches", "branch"),
            RefFilter.from_spec(value, path, "tags", "tag"),
        )

    def check(self, event: Event) -> Verdict:
        if self.branches is None and self.tags is None:
            return Verdict(True, "no branch or tag filter")
        if event.branch:
            if self.branches is None:
                return Verdict(False, f"branch {event.branch!r}: only tag pushes are listened to")
            return self.branches.check(event.branch)
        if event.tag:
            if self.tags is None:
                return Verdict(False, f"tag {event.tag!r}: only branch pushes are listened to")
            return self.tags.check(event.tag)
        return Verdict(False, f"the event has no branch or tag ({event.ref or 'no ref'})")

    def refs(self) -> dict[str, GlobList | None] | None:
        """For an index: the patterns a branch or a tag must match (None: any will do)."""
        if self.branches is None and self.tags is None:
            return None
        sides = (("branch", self.branches), ("tag", self.tags))
        return {attr: side.include for attr, side in sides if side is not None}


class FieldMatcher(Matcher):
    """`key`/`key-ignore` globs on one event field; subclasses name the key and the field."""

    key: ClassVar[str]
    noun: ClassVar[str]
    field: ClassVar[str]

    def __init__(self, filter: RefFilter) -> None:
        self.filter = filter

    @classmethod
    def from_spec(cls, value: Any, path: str) -> FieldMatcher:
        found = RefFilter.from_spec(value, path, cls.key, cls.noun)
        if found is None:
            raise SpecError(f"{path}.{cls.key}", "required")
        return cls(found)

    @classmethod
    def given(cls, value: dict[str, Any]) -> bool:
        return cls.key in value or f"{cls.key}-ignore" in value

    def read(self, event: Event) -> str:
        return str(getattr(event, self.field))

    def check(self, event: Event) -> Verdict:
        value = self.read(event)
        if not value:
            return Verdict(False, f"the {event.kind} event names no {self.noun}")
        return self.filter.check(value)


class PathMatcher(Matcher):
    """`paths`/`paths-ignore`: at least one changed file must count."""

    name = "paths"

    def __init__(self, include: GlobList | None, ignore: GlobList | None) -> None:
        self.include, self.ignore = include, ignore

    @classmethod
    def from_spec(cls, value: Any, path: str) -> PathMatcher:
        include, ignore = value.get("paths"), value.get("paths-ignore")
        if include is not None and ignore is not None:
            raise SpecError(f"{path}.paths-ignore", "use paths or paths-ignore, not both")
        return cls(
            GlobList.from_spec(include, f"{path}.paths") if include is not None else None,
            GlobList.from_spec(ignore, f"{path}.paths-ignore") if ignore is not None else None,
        )

    def check(self, event: Event) -> Verdict:
        if event.changed_paths is None:
            what = "pull request" if event.kind == "pull_request" else event.kind
            reason = f"the {what} lists no changed files, so path filters cannot pass"
            return Verdict(False, reason)
        for changed in event.changed_paths:
            if self.include is not None and not self.include.matches(changed):
                continue
            if self.ignore is not None and self.ignore.matches(changed):
                continue
            return Verdict(True, f"changed file {changed!r} passes the path filters")
        return Verdict(False, f"none of {len(event.changed_paths)} changed files passes")


class SkipMarkerMatcher(Matcher):
    """`[skip ci]` and its spellings in the head commit's message skip a push, as in GitHub
    Actions. GitHub also reads a pull request's head commit, but its events carry only the
    title, which is not a commit message, so a pull request is never skipped."""

    name = "skip"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @classmethod
    def from_spec(cls, value: Any, path: str) -> SkipMarkerMatcher:
        if not isinstance(value, bool):
            raise SpecError(path, "expected true or false")
        return cls(value)

    def check(self, event: Event) -> Verdict:
        message = event.message.lower()
        marker = next((m for m in SKIP_MARKERS if m in message), None)
        if marker is None:
            return Verdict(True, "no skip marker")
        if event.kind not in COMMIT_KINDS:
            reason = f"the title says {marker}, but only commit messages of a push skip runs"
            return Verdict(True, reason)
        if not self.enabled:
            return Verdict(True, f"the commit message says {marker}, but skip is false")
        return Verdict(False, f"skipped: {marker} in head commit")


class LiveRefMatcher(Matcher):
    """A push that deletes its ref has no commit to run."""

    name = "deleted"

    @classmethod
    def from_spec(cls, value: Any, path: str) -> LiveRefMatcher:
        return cls()

    def check(self, event: Event) -> Verdict:
        if event.deleted:
            return Verdict(False, f"the push deletes {event.ref}")
        return Verdict(True, "the ref exists")
