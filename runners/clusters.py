"""Named runner configurations (`AXON_RUNNERS`): several clusters, each owning its queues.

Features: a JSON list, or the path of a YAML or JSON file holding one, of entries
`{name, kind, queues, <the kind's settings>}` (`kubeconfig`, `context`, `namespace`, ... for
kubernetes); each entry's unset settings are the kind's own variables, so the single-runner
setup stays the default configuration, named for its kind. `queues` is a list of queue names
or, for kubernetes, the queue mapping `AXON_KUBERNETES_QUEUES` takes. A bad entry is named by
its place and name, with the field and the reason.
Config: `AXON_RUNNERS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from runners.base import Runner
from runners.registry import runners, settings
from schemas.settings import PluginSettings, SettingsError
from schemas.spelling import did_you_mean

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
OWN_KEYS = ("name", "kind", "queues")


class ClusterError(ValueError):
    """A runner configuration is malformed; the message names the entry, field and reason."""


@dataclass(frozen=True)
class RunnerConfig:
    """One named configuration: the runner kind it makes, the queues it owns and the values
    of its kind's settings it sets (the others are the kind's variables)."""

    name: str
    kind: str
    queues: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)

    def arguments(self, shared: Mapping[str, Any]) -> dict[str, Any]:
        """The runner's constructor arguments: its kind's settings with this entry's values."""
        model = settings.load(self.kind)
        plugin = model(**self.values)
        return {**{key: shared[key] for key in model.shared}, **plugin.arguments()}

    def make(self, shared: Mapping[str, Any]) -> Runner:
        """A runner of this configuration, whose `name` (the runs it records) is the entry's."""
        base = runners.load(self.kind)
        named = type(base.__name__, (base,), {"name": self.name, "__module__": base.__module__})
        return named(**self.arguments(shared))


def parse(text: str) -> dict[str, RunnerConfig]:
    """The configurations `AXON_RUNNERS` holds (JSON, or a file's path), by name, in order."""
    text = text.strip()
    if not text:
        return {}
    return dict(_parsed(text, _modified(text)))


def _modified(text: str) -> float:
    """A file's modification time, so a changed file is read again; 0 for inline JSON."""
    if text.startswith(("[", "{")):
        return 0.0
    try:
        return Path(text).stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=8)
def _parsed(text: str, modified: float) -> tuple[tuple[str, RunnerConfig], ...]:
    data = _load(text)
    if isinstance(data, Mapping) and "runners" in data:
        data = data["runners"]
    if not isinstance(data, list):
        raise ClusterError(f"expected a list of runner configurations, got {type(data).__name__}")
    found: dict[str, RunnerConfig] = {}
    owners: dict[str, str] = {}
    for index, entry in enumerate(data):
        config = _entry(index, entry)
        where = f"runners[{index}] ({config.name})"
        if config.name in found:
            raise ClusterError(f"{where}.name: another configuration has this name")
        for queue in config.queues:
            if queue in owners:
                raise ClusterError(
                    f"{where}.queues: queue {queue!r} belongs to {owners[queue]!r} already"
                )
            owners[queue] = config.name
        found[config.name] = config
    return tuple(found.items())


def _load(text: str) -> Any:
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ClusterError(f"not JSON: {exc}") from exc
    path = Path(text)
    try:
        content = path.read_text()
    except OSError as exc:
        raise ClusterError(f"neither JSON nor a readable file: {text!r} ({exc.strerror})") from exc
    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise ClusterError(f"{path}: not YAML: {exc}") from exc


def _entry(index: int, entry: Any) -> RunnerConfig:
    where = f"runners[{index}]"
    if not isinstance(entry, Mapping):
        raise ClusterError(f"{where}: expected a mapping, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ClusterError(
            f"{where}.name: required, lowercase letters, digits and '-' (at most 40), got {name!r}"
        )
    where = f"{where} ({name})"
    if name in runners:
        raise ClusterError(
            f"{where}.name: {name!r} is the default configuration's (AXON_RUNNER and its "
            "variables); pick another name"
        )
    kind = entry.get("kind")
    if kind not in runners:
        hint = did_you_mean(kind, runners.names(), f"one of {', '.join(runners.names())}")
        raise ClusterError(f"{where}.kind: no runner {kind!r}; {hint}")
    model = settings.load(str(kind))
    values = {key: value for key, value in entry.items() if key not in OWN_KEYS}
    known = [*OWN_KEYS, *model.model_fields]
    for key in values:
        if key not in model.model_fields:
            hint = did_you_mean(key, known, f"known: {', '.join(known)}")
            raise ClusterError(f"{where}.{key}: not a setting of a {kind} runner; {hint}")
    queues, mapping = _queues(where, entry.get("queues"))
    if mapping is not None:
        if "queues" not in model.model_fields:
            raise ClusterError(f"{where}.queues: a {kind} runner takes a list of queue names")
        values["queues"] = json.dumps(mapping)
    _check_values(where, model, values)
    return RunnerConfig(name=name, kind=str(kind), queues=queues, values=values)


def _queues(where: str, value: Any) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """The queue names an entry owns, and its queue mapping when it gives one."""
    if value is None:
        return (), None
    if isinstance(value, list) and all(isinstance(q, str) and q.strip() for q in value):
        return tuple(q.strip() for q in value), None
    if isinstance(value, Mapping) and all(isinstance(q, Mapping) for q in value.values()):
        return tuple(str(q) for q in value), dict(value)
    raise ClusterError(
        f"{where}.queues: expected a list of queue names or a mapping of queue name to its "
        f"settings, got {value!r}"
    )


def _check_values(where: str, model: type[PluginSettings], values: dict[str, Any]) -> None:
    try:
        model(**values)
    except SettingsError as exc:
        # The model names each bad value by its variable; here it is the entry's field.
        message = str(exc)
        for name in model.model_fields:
            message = message.replace(f"{model.variable(name)}:", f"{where}.{name}:")
        raise ClusterError(message) from None
