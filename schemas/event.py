"""The normalized Event every provider produces and every trigger reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PullRequest:
    number: int
    action: str
    base: str = ""
    head: str = ""
    labels: tuple[str, ...] = ()
    draft: bool = False
    fork: bool = False
    merged: bool = False


@dataclass(frozen=True)
class Event:
    """One thing that happened at a provider, in provider-neutral terms.

    `kind` is one of: push, tag, create, delete, pull_request, comment, release, registry,
    workflow_run, rerequest, schedule.
    Every string field comes from the outside world and is untrusted.
    """

    kind: str
    provider: str
    repo: str = ""
    ref: str = ""
    branch: str = ""
    tag: str = ""
    sha: str = ""
    before: str = ""
    changed_paths: tuple[str, ...] | None = None  # None: the provider did not list them
    actor: str = ""
    message: str = ""
    created: bool = False
    deleted: bool = False
    forced: bool = False
    pull_request: PullRequest | None = None
    comment: str = ""
    author_association: str = ""
    image: str = ""
    image_tag: str = ""
    digest: str = ""
    url: str = ""
    clone_url: str = ""
    scheduled_at: str = ""  # schedule events: the slot fired, ISO 8601 UTC
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def context(self) -> dict[str, Any]:
        """The event as template values: everything except the raw payload."""
        data = asdict(self)
        data.pop("raw")
        data["changed_paths"] = list(self.changed_paths or ())
        return data
