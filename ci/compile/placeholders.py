"""What `axon check` compiles with in place of an event, the globals and upstream results.

A placeholder renders as the template that names it, so the compiled result shows where a value
goes, and a value that holds one is not type-checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from schemas.event import Event, PullRequest

GLOBALS = (
    "uuid", "name", "project_name", "owner_name", "run_outputs_path", "run_artifacts_path",
    "artifacts_path", "created_at", "schedule_at", "ports", "base_url",
)  # fmt: skip
_EVENT_FIELDS = {f.name for f in dataclasses.fields(Event)} - {"raw"}
_PR_FIELDS = {f.name for f in dataclasses.fields(PullRequest)}


class Placeholder:
    """A value `axon check` does not know yet (an event field, a global): it renders as the
    template that names it, so the compiled result shows where it goes and it is not type-checked.
    `fields`, when given, lists the attributes it has: a misspelt `event.shaa` is still an error."""

    def __init__(self, name: str, fields: dict[str, Any] | None = None) -> None:
        self._label, self._fields = name, fields

    def _child(self, key: str) -> Placeholder:
        if self._fields is not None and key not in self._fields:
            raise KeyError(key)
        nested = self._fields.get(key) if self._fields is not None else None
        return Placeholder(f"{self._label}.{key}", nested)

    def __getattr__(self, key: str) -> Placeholder:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._child(key)
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: Any) -> Placeholder:
        if isinstance(key, str):
            return self._child(key)
        if isinstance(key, slice):
            start, stop = ("" if k is None else k for k in (key.start, key.stop))
            return Placeholder(f"{self._label}[{start}:{stop}]")
        return Placeholder(f"{self._label}[{key!r}]")

    def __iter__(self) -> Iterator[Placeholder]:
        return iter([Placeholder(f"{self._label}[0]")])

    def __str__(self) -> str:
        return "{{ %s }}" % self._label  # noqa: UP031


def placeholder_context() -> tuple[dict[str, Any], dict[str, Any]]:
    """(context, globals) for compiling without an event or a run."""
    fields: dict[str, Any] = dict.fromkeys(_EVENT_FIELDS)
    fields["pull_request"] = dict.fromkeys(_PR_FIELDS)
    context: dict[str, Any] = {"event": Placeholder("event", fields)}
    # What upstream runs produce exists only once they have run: its use is checked then.
    context.update({name: Placeholder(name) for name in ("ops", "dag", "runs")})
    return context, {name: Placeholder(f"globals.{name}") for name in GLOBALS}
