"""The normalized Event every provider produces and every trigger reads."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# PostgreSQL's text and JSONB cannot hold NUL, and UTF-8 cannot encode a lone surrogate (which
# JSON's "\ud800" escape yields); a payload may carry either. They become U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


# How json.dumps (ASCII) writes a NUL or a lone surrogate. A string holding a backslash before
# "u0000" matches too: that payload only takes the slow walk, which finds nothing.
_ESCAPED = re.compile(r"\\u(?:0000|d[89a-f])")


def storable(value: Any) -> Any:
    """`value` with NUL and lone surrogates replaced in every string, however deeply nested.

    What holds neither is given back as it is, not copied.
    """
    if isinstance(value, dict | list | tuple):
        # A payload is thousands of strings, which hardly ever hold either: one pass of the
        # C encoder tells, instead of a walk through them in Python.
        try:
            if _ESCAPED.search(json.dumps(value)) is None:
                return value
        except (TypeError, ValueError):  # not JSON's types (or a cycle): walked instead
            pass
    return _replaced(value)


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        pairs = [(_replaced(k), _replaced(v)) for k, v in value.items()]
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))
        return value if same else dict(pairs)
    if isinstance(value, list | tuple):
        items = [_replaced(v) for v in value]
        same = all(a is b for a, b in zip(items, value, strict=True))
        return value if same else type(value)(items)
    return value


def _clean_fields(instance: Any) -> None:
    for spec in fields(instance):
        value = getattr(instance, spec.name)
        cleaned = storable(value)
        if cleaned is not value:
            # The dataclasses are frozen: this is how their own __init__ sets a field.
            object.__setattr__(instance, spec.name, cleaned)


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

    def __post_init__(self) -> None:
        _clean_fields(self)


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

    def __post_init__(self) -> None:
        # Every string of an event may end up in the database (decisions, runs, reasons).
        _clean_fields(self)

    def context(self) -> dict[str, Any]:
        """The event as template values: everything except the raw payload."""
        data = asdict(self)
        data.pop("raw")
        data["changed_paths"] = list(self.changed_paths or ())
        return data
