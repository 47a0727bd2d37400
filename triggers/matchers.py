"""The matchers a subscription's filter is made of, one per field."""

from __future__ import annotations

from typing import Any

from schemas.errors import SpecError
from schemas.event import Event
from triggers.base import Matcher, Verdict
from triggers.globs import GlobList

SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip axon]", "[axon skip]")


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


class RefFilter:
    """One side of a ref filter: `branches`/`branches-ignore` or `tags`/`tags-ignore`."""

    def __init__(self, noun: str, include: GlobList | None, ignore: GlobList | None) -> None:
        self.noun, self.include, self.ignore = noun, include, ignore

    @classmethod
    def from_spec(cls, value: dict[str, Any], path: str, key: str, noun: str) -> RefFilter | None:
        """The `key`/`key-ignore` pair of a push filter, or None when neither is given."""
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
    """Which refs of a push count. As in GitHub Actions, naming only branches leaves tag
    pushes out, and naming only tags leaves branch pushes out."""

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


class PathMatcher(Matcher):
    """`paths`/`paths-ignore`: at least one changed file must count."""

    name = "paths"

    def __init__(self, include: GlobList | None, ignore: GlobList | None) -> None:
        self.include, self.ignore = include, ignore

    @classmethod
    def from_spec(cls, value: Any, path: str) -> PathMatcher:
        include, ignore = value
        return cls(
            GlobList.from_spec(include, f"{path}.paths") if include is not None else None,
            GlobList.from_spec(ignore, f"{path}.paths-ignore") if ignore is not None else None,
        )

    def check(self, event: Event) -> Verdict:
        if event.changed_paths is None:
            return Verdict(False, "the push lists no changed files, so path filters cannot pass")
        for changed in event.changed_paths:
            if self.include is not None and not self.include.matches(changed):
                continue
            if self.ignore is not None and self.ignore.matches(changed):
                continue
            return Verdict(True, f"changed file {changed!r} passes the path filters")
        return Verdict(False, f"none of {len(event.changed_paths)} changed files passes")


class SkipMarkerMatcher(Matcher):
    """`[skip ci]` and its spellings in the commit message skip the push."""

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
        if self.enabled and marker and event.kind in {"push", "tag"}:
            return Verdict(False, f"the commit message says {marker}")
        return Verdict(True, "no skip marker")


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
