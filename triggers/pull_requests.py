"""Pull request filters: activity types, base branches, paths, labels, drafts, merges, forks.

`on.pull_request` as in GitHub Actions: `types` (default opened, synchronize, reopened),
`branches`/`branches-ignore` on the base branch, `paths`/`paths-ignore`, and Axon's own:
`labels` (any of them), `drafts: false` (drafts run by default, as in GitHub; without them a
draft that becomes ready counts, so ready_for_review joins the default types), `merged: true`
("deploy on merge"; the default types become closed), and `forks`, since code from a fork is
untrusted: `deny` (the default), `allow`, `require-label:<label>` or
`{policy: require-label, label: <label>}`. A label vouches for the code it was put on, and it
stays when the fork pushes more commits, so remove it once the run is done. A merged pull
request passes the fork policy: a maintainer accepted its code.
"""

from __future__ import annotations

from typing import Any

from schemas.errors import SpecError
from schemas.event import Event, PullRequest
from triggers.base import Errors, Matcher, Verdict
from triggers.matchers import FieldMatcher, PathMatcher
from triggers.sections import Section, TypesMatcher, flag, names

DEFAULT_TYPES = ("opened", "synchronize", "reopened")
FORK_POLICIES = ("deny", "allow", "require-label")


class PullRequestTypes(TypesMatcher):
    noun = "pull request"
    # GitHub's activity types, and the approval ones GitLab adds.
    known = frozenset(
        {
            "assigned",
            "unassigned",
            "labeled",
            "unlabeled",
            "opened",
            "edited",
            "closed",
            "reopened",
            "synchronize",
            "converted_to_draft",
            "ready_for_review",
            "locked",
            "unlocked",
            "review_requested",
            "review_request_removed",
            "auto_merge_enabled",
            "auto_merge_disabled",
            "milestoned",
            "demilestoned",
            "enqueued",
            "dequeued",
            "approved",
            "unapproved",
            "approval",
            "unapproval",
        }
    )


class BaseBranchMatcher(FieldMatcher):
    """`branches`: as in GitHub Actions, the branch the pull request would merge into."""

    name = "branch"
    key = "branches"
    noun = "base branch"
    field = "branch"


def _pull_request(event: Event) -> PullRequest:
    # Only pull request events reach these matchers; a generic delivery may still omit it.
    return event.pull_request or PullRequest(number=0, action="")


class LabelsMatcher(Matcher):
    """`labels`: the pull request carries at least one of them."""

    name = "labels"

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels

    @classmethod
    def from_spec(cls, value: Any, path: str) -> LabelsMatcher:
        return cls(names(value, path, "label"))

    def check(self, event: Event) -> Verdict:
        carried = _pull_request(event).labels
        found = next((label for label in self.labels if label in carried), None)
        if found is not None:
            return Verdict(True, f"the pull request is labeled {found!r}")
        if not carried:
            return Verdict(
                False, f"the pull request has no label; wanted one of {list(self.labels)}"
            )
        wanted = list(self.labels)
        return Verdict(False, f"labels {list(carried)} include none of {wanted}")


class DraftMatcher(Matcher):
    """`drafts: false`: a draft pull request starts nothing until it is ready for review."""

    name = "draft"

    @classmethod
    def from_spec(cls, value: Any, path: str) -> DraftMatcher:
        return cls()

    def check(self, event: Event) -> Verdict:
        if _pull_request(event).draft:
            return Verdict(False, "the pull request is a draft, and drafts is false")
        return Verdict(True, "the pull request is not a draft")


class MergedMatcher(Matcher):
    """`merged: true` passes merged pull requests only; `merged: false` the others."""

    name = "merged"

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted

    @classmethod
    def from_spec(cls, value: Any, path: str) -> MergedMatcher:
        return cls(bool(value))

    def check(self, event: Event) -> Verdict:
        pr = _pull_request(event)
        if pr.merged:
            return Verdict(self.wanted, "the pull request was merged")
        if pr.action == "closed":
            return Verdict(not self.wanted, "the pull request was closed without merging")
        return Verdict(not self.wanted, f"the pull request is not merged ({pr.action})")


class ForkMatcher(Matcher):
    """`forks`: what to do with a pull request whose code comes from a fork."""

    name = "fork"

    def __init__(self, policy: str = "deny", label: str = "", given: bool = False) -> None:
        self.policy, self.label, self.given = policy, label, given

    @classmethod
    def from_spec(cls, value: Any, path: str) -> ForkMatcher:
        if isinstance(value, bool):
            return cls("allow" if value else "deny", given=True)
        if isinstance(value, str):
            word, _, named = value.partition(":")
            value = {"policy": word.strip(), **({"label": named} if named else {})}
        if not isinstance(value, dict) or set(value) - {"policy", "label"}:
            raise SpecError(path, "expected allow, deny, require-label:<label> or a mapping")
        policy, label = value.get("policy"), value.get("label")
        if policy not in FORK_POLICIES:
            raise SpecError(f"{path}.policy", f"expected one of {', '.join(FORK_POLICIES)}")
        if policy == "require-label":
            if not isinstance(label, str) or not label.strip():
                raise SpecError(f"{path}.label", "require-label needs the label's name")
        elif label is not None:
            raise SpecError(f"{path}.label", "a label goes with require-label only")
        return cls(policy, (label or "").strip(), given=True)

    def check(self, event: Event) -> Verdict:
        pr = _pull_request(event)
        if not pr.fork:
            return Verdict(True, "the pull request's code is in the repository itself")
        if pr.merged:
            return Verdict(True, "the pull request comes from a fork, and a maintainer merged it")
        if self.policy == "allow":
            return Verdict(True, "the pull request comes from a fork, and forks is allow")
        if self.policy == "require-label":
            if self.label in pr.labels:
                return Verdict(True, f"the pull request comes from a fork labeled {self.label!r}")
            reason = f"the pull request comes from a fork and is not labeled {self.label!r}"
            return Verdict(False, reason)
        said = "forks is deny" if self.given else "forks are denied by default"
        return Verdict(
            False, f"the pull request comes from a fork, whose code is untrusted; {said}"
        )


def pull_request_section(
    spec: dict[str, Any], path: str, errors: Errors, commands_for: tuple[str, ...]
) -> Section:
    drafts = errors.attempt(lambda: flag(spec, "drafts", path, True))
    merged = errors.attempt(lambda: flag(spec, "merged", path, None))
    matchers: list[Matcher | None] = [_types(spec, path, errors, drafts is False, merged)]
    base = None
    if BaseBranchMatcher.given(spec):
        base = errors.attempt(lambda: BaseBranchMatcher.from_spec(spec, path))
        matchers.append(base)
    if "paths" in spec or "paths-ignore" in spec:
        matchers.append(errors.attempt(lambda: PathMatcher.from_spec(spec, path)))
    if "labels" in spec:
        matchers.append(
            errors.attempt(lambda: LabelsMatcher.from_spec(spec["labels"], f"{path}.labels"))
        )
    if drafts is False:
        matchers.append(DraftMatcher())
    if merged is not None:
        matchers.append(MergedMatcher(merged))
    forks = spec.get("forks")
    if forks is None:
        matchers.append(ForkMatcher())
    else:
        matchers.append(errors.attempt(lambda: ForkMatcher.from_spec(forks, f"{path}.forks")))
    refs = {"branch": base.filter.include} if base is not None else None
    kept = tuple(m for m in matchers if m is not None)
    return Section("pull_request", frozenset({"pull_request"}), kept, refs)


def _types(
    spec: dict[str, Any], path: str, errors: Errors, no_drafts: bool, merged: bool | None
) -> Matcher | None:
    if "types" not in spec:
        if merged is not None:
            return PullRequestTypes(("closed",), defaulted=True)
        extra = ("ready_for_review",) if no_drafts else ()
        return PullRequestTypes(DEFAULT_TYPES + extra, defaulted=True)
    types = errors.attempt(lambda: PullRequestTypes.from_spec(spec["types"], f"{path}.types"))
    if types is not None and merged is not None and "closed" not in types.types:
        reason = "only a closed pull request is merged: add closed to types"
        errors.append(SpecError(f"{path}.merged", reason))
    return types
