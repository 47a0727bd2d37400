"""Which runner configuration a run goes to: the one that owns its queue.

With named configurations (`AXON_RUNNERS`), a run's queue (`queue: gpu`, or Polyaxon's
`agent/queue` form read as `configuration/queue`) picks the configuration that owns it; a run
naming no queue keeps the runner it was created with (the default, or its pipeline's). A queue
no configuration owns is refused with the known ones listed. Without named configurations
nothing is routed: every run goes to `AXON_RUNNER` as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ci.config import Settings
from schemas.spelling import did_you_mean


class RoutingError(ValueError):
    """A run's queue names no configuration that could take it; the message lists the known."""


def route(settings: Settings, queue: str | None, current: str) -> str:
    """The configuration `queue` sends a run to; `current` (its runner so far) when it names
    none, or when no configurations are named."""
    if not settings.configurations() or not queue or not queue.strip():
        return current
    agent, _, name = queue.strip().rpartition("/")
    if agent:
        return _named(settings, agent.strip(), name.strip())
    owners = owned_queues(settings)
    if name in owners:
        return owners[name]
    known = ", ".join(f"{q} ({owner})" for q, owner in owners.items()) or "none"
    hint = did_you_mean(name, owners, "")
    lead = f"no runner configuration owns queue {name!r}"
    raise RoutingError(f"{lead}; {hint + ' ' if hint else ''}known queues: {known}")


def _named(settings: Settings, agent: str, name: str) -> str:
    configurations = names(settings)
    if agent not in configurations:
        hint = did_you_mean(agent, configurations, "")
        known = ", ".join(configurations)
        lead = f"no runner configuration {agent!r}"
        raise RoutingError(f"{lead}; {hint + ' ' if hint else ''}known configurations: {known}")
    own = queues_of(settings, agent)
    if own and name not in own:
        its = ", ".join(own)
        raise RoutingError(
            f"runner configuration {agent!r} has no queue {name!r}; its queues: {its}"
        )
    return agent


def names(settings: Settings) -> list[str]:
    """Every configuration's name: the default (`AXON_RUNNER`) first, then the named ones."""
    return list(dict.fromkeys([settings.runner, *settings.configurations()]))


def queues_of(settings: Settings, name: str) -> tuple[str, ...]:
    """The queues configuration `name` owns: a named one's `queues`; the default's, those of
    its runner's settings (`AXON_KUBERNETES_QUEUES` and its default queue)."""
    configured = settings.configurations().get(name)
    if configured is not None:
        return configured.queues
    arguments = settings.runner_config(name)
    queues: Any = arguments.get("queues") or {}
    if isinstance(queues, str):
        try:
            queues = json.loads(queues)
        except ValueError:  # the runner names that problem when it is made
            queues = {}
    found = [str(q) for q in queues] if isinstance(queues, Mapping) else []
    default = arguments.get("default_queue")
    return tuple(dict.fromkeys([*found, *([str(default)] if default else [])]))


def owned_queues(settings: Settings) -> dict[str, str]:
    """Queue name → the configuration owning it; a named configuration's claim comes first."""
    owners: dict[str, str] = {}
    for name in [*settings.configurations(), settings.runner]:
        for queue in queues_of(settings, name):
            owners.setdefault(queue, name)
    return owners


def operation_queue(operation: Mapping[str, Any] | None) -> str | None:
    """The queue an operation (a dict) names, its own or its inline component's; None when
    it names none or a template does (the compiled run's queue is routed then)."""
    operation = operation or {}
    component = operation.get("component")
    queue = operation.get("queue") or (
        component.get("queue") if isinstance(component, Mapping) else None
    )
    if not isinstance(queue, str) or "{{" in queue:
        return None
    return queue


def kind_for(settings: Settings, default: str, operation: Mapping[str, Any] | None) -> str:
    """The runner kind an operation's runs would run on (RoutingError for an unknown queue)."""
    return settings.runner_kind(route(settings, operation_queue(operation), default))


def likely(settings: Settings, spec: Mapping[str, Any] | None, current: str) -> str:
    """Where a run's written queue sends it, before compiling; `current` when in doubt."""
    try:
        return route(settings, operation_queue(spec), current)
    except RoutingError:
        return current
