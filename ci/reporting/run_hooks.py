"""Polyaxon `hooks` and `plugins.notifications`: which connections hear a final status, and why.

Both live in the compiled component (an operation's own are merged into it), so a run reports
what its polyaxonfile asks for as well as its subscription's `report:` targets.

A `connection` names a report target, found in this order:
1. a target of the subscription's `report:` whose settings say `connection: NAME`: a named
   connection, which hears only the hooks and notifications that name it;
2. a notifier's name (`slack`, `email`, `webhook`, ...): that notifier with the subscription's
   `report.NAME` settings when it has them (then it is the same target, told once per status),
   else with its `AXON_*` settings.
A hook without a connection uses the notifier its `hubRef` names (`hubRef: slack`). A hook's
`params` (`channel: {value: "#alerts"}`) override the target's settings for that hook.

`trigger` is a final status or `done` (any of them; also the default). `conditions` is a Jinja
expression over the run's outputs and inputs, by name or as `outputs.*` / `inputs.*`, plus
`status` and `globals.*`: `{{ accuracy < 0.9 }}`. It is evaluated in the sandbox with strict
undefined; a false condition sends nothing, and a name the run does not have is an error kept
in the notification log.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SecurityError

from notifiers.base import Report
from schemas.sandbox import sandbox
from schemas.status import DONE, RunStatus

TRIGGERS = frozenset({*(str(s) for s in DONE), "done"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", "", "none"})
# Outputs are written by the job: a condition over them must not be able to exhaust the worker.
_env = sandbox()


class HookError(Exception):
    """A hook that cannot be followed: an unknown connection, or a condition that fails."""


@dataclass(frozen=True)
class Target:
    """Where one report goes: `name` keys the notification log and the receipts."""

    name: str
    notifier: str
    config: dict[str, Any] = field(default_factory=dict)
    via: str = "report"  # or "hooks[0]", "plugins.notifications[1]"


@dataclass(frozen=True)
class Hook:
    """One connection to tell when the run reaches `trigger` and `conditions` hold."""

    via: str
    connection: str
    trigger: str = "done"
    conditions: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What a hook does for one status: send to `target`, or why it does not."""

    hook: Hook
    target: Target | None = None
    skipped: str = ""  # the condition is false: nothing is sent
    error: str = ""  # the hook cannot be followed: recorded as failed

    @property
    def name(self) -> str:
        """The target's name in the notification log, even when there is no target."""
        return self.target.name if self.target else (self.hook.connection or self.hook.via)


def hooks_of(compiled: Mapping[str, Any] | None) -> list[Hook]:
    """The component's `hooks` and `plugins.notifications`, one Hook per connection."""
    component = (compiled or {}).get("component") or {}
    found = []
    for index, hook in enumerate(component.get("hooks") or ()):
        connection = hook.get("connection") or _notifier_of(hook.get("hubRef") or "")
        params = {
            name: param.get("value") if isinstance(param, dict) else param
            for name, param in (hook.get("params") or {}).items()
        }
        found.append(
            Hook(
                f"hooks[{index}]",
                connection,
                hook.get("trigger") or "done",
                hook.get("conditions") or "",
                params,
            )
        )
    plugins = component.get("plugins") or {}
    for index, notification in enumerate(plugins.get("notifications") or ()):
        for connection in notification.get("connections") or ():
            trigger = notification.get("trigger") or "done"
            found.append(Hook(f"plugins.notifications[{index}]", connection, trigger))
    return found


def _notifier_of(hub_ref: str) -> str:
    # `slack:v1` names the slack component at version v1; only its name says where to send.
    return hub_ref.partition(":")[0]


def fires(trigger: str, status: RunStatus | str) -> bool:
    return status == trigger or (trigger == "done" and status in DONE)


def decide(
    hooks: list[Hook],
    status: RunStatus,
    report_targets: Mapping[str, Mapping[str, Any]],
    known: Collection[str],
    context: Mapping[str, Any],
) -> Iterator[Decision]:
    """A Decision for each hook whose trigger is `status`; hooks waiting for another stay quiet.

    `report_targets` is the subscription's `report:`; `known` the notifiers' names.
    """
    for hook in hooks:
        if hook.trigger not in TRIGGERS:
            if status not in DONE:
                continue
            known_triggers = ", ".join(sorted(TRIGGERS))
            error = f"{hook.via}.trigger: {hook.trigger!r} is not one of {known_triggers}"
            yield Decision(hook, error=error)
            continue
        if not fires(hook.trigger, status):
            continue
        try:
            target = resolve(hook, report_targets, known)
        except HookError as exc:
            yield Decision(hook, error=str(exc))
            continue
        where = f"{hook.via}.conditions {hook.conditions!r}"
        try:
            if hook.conditions and not holds(hook.conditions, context):
                yield Decision(hook, target, skipped=f"{where} is false")
                continue
        except HookError as exc:
            yield Decision(hook, target, error=f"{where}: {exc}")
            continue
        yield Decision(hook, target)


def resolve(
    hook: Hook, report_targets: Mapping[str, Mapping[str, Any]], known: Collection[str]
) -> Target:
    """The target a hook's connection names (see the module docstring for the order)."""
    name = hook.connection
    for notifier, config in report_targets.items():
        if (config or {}).get("connection") == name:
            return Target(name, notifier, _settings(config, hook.params), hook.via)
    if name in known:
        return Target(name, name, _settings(report_targets.get(name), hook.params), hook.via)
    if not name:
        raise HookError(f"{hook.via}: names no connection, and its hubRef no notifier")
    configs = [config or {} for config in report_targets.values()]
    named = sorted(str(config["connection"]) for config in configs if "connection" in config)
    raise HookError(
        f"{hook.via}.connection: no connection {name!r}; a connection is a notifier "
        f"({', '.join(sorted(known))}) or a report target's `connection:`"
        + (f" ({', '.join(named)})" if named else "")
    )


def _settings(config: Mapping[str, Any] | None, params: Mapping[str, Any]) -> dict[str, Any]:
    settings = {key: value for key, value in (config or {}).items() if key != "connection"}
    return {**settings, **params}


def named_connections(report_targets: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The `report:` targets that are named connections, heard only through hooks."""
    return {name for name, config in report_targets.items() if "connection" in (config or {})}


def context(report: Report) -> dict[str, Any]:
    """What a condition can read: inputs and outputs by name, then the namespaces."""
    return {
        **report.params,
        **report.outputs,
        "inputs": dict(report.params),
        "outputs": dict(report.outputs),
        "status": str(report.status),
        "globals": {
            "uuid": report.run_uuid,
            "name": report.run_name,
            "project_name": report.project,
        },
    }


def holds(conditions: str, values: Mapping[str, Any]) -> bool:
    """Whether `conditions` is true for `values`; HookError says why it cannot be evaluated."""
    text = conditions.strip()
    whole = text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1
    try:
        if whole or not ("{{" in text or "{%" in text):
            expression = text[2:-2] if whole else text
            return bool(_env.compile_expression(expression, undefined_to_none=False)(**values))
        rendered = _env.from_string(text).render(values).strip().lower()
    except SecurityError as exc:
        raise HookError(f"unsafe expression: {exc}") from None
    except TemplateError as exc:  # UndefinedError and TemplateSyntaxError among them
        raise HookError(exc.message or type(exc).__name__) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise HookError(f"{type(exc).__name__}: {exc}") from None
    if rendered in _TRUE | _FALSE:
        return rendered in _TRUE
    raise HookError(f"rendered {rendered!r}, not true or false")
