"""Named queues (run profiles): where a queue's runs go, how many at once, and their defaults.

A queue is runner config, e.g. `{"gpu": {"namespace": "ml", "concurrency": 4, "resources":
{"limits": {"nvidia.com/gpu": 1}}, "nodeSelector": {"pool": "gpu"}, "tolerations": [...]}}`.
A run names its queue with the spec's `queue:` (Polyaxon's `agent/queue` form is read too); a
run naming none takes the runner's default queue, and a runner with no queues configured sends
every run to its namespace without a limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.spelling import did_you_mean

# The keys a queue may set, in the spellings of a pod spec where they land there.
QUEUE_KEYS = (
    "namespace", "concurrency", "resources", "nodeSelector", "tolerations", "affinity",
    "priorityClassName", "serviceAccountName", "imagePullSecrets", "labels", "annotations",
)  # fmt: skip


class QueueError(ValueError):
    """A queue is unknown or its config is malformed; the message names which and why."""


@dataclass(frozen=True)
class Queue:
    """One queue: its namespace, concurrency limit (None: none) and pod defaults."""

    name: str
    namespace: str
    concurrency: int | None = None
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: Mapping[str, Any] = field(default_factory=dict)
    priority_class_name: str = ""
    service_account_name: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


def parse_queues(config: Mapping[str, Any] | str | None, namespace: str) -> dict[str, Queue]:
    """Queues from runner config (a mapping, or its JSON text); each defaults to `namespace`."""
    if not config:
        return {}
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError as exc:
            raise QueueError(f"queues: not JSON: {exc}") from exc
    if not isinstance(config, Mapping):
        raise QueueError(f"queues: expected a mapping of queue names, got {type(config).__name__}")
    return {str(name): _queue(str(name), value, namespace) for name, value in config.items()}


def _queue(name: str, value: Any, namespace: str) -> Queue:
    where = f"queues.{name}"
    if not isinstance(value, Mapping):
        raise QueueError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in QUEUE_KEYS:
            hint = did_you_mean(key, QUEUE_KEYS, f"known: {', '.join(QUEUE_KEYS)}")
            raise QueueError(f"{where}.{key}: unknown key; {hint}")
    concurrency = value.get("concurrency")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise QueueError(f"{where}.concurrency: a whole number of at least 1, got {concurrency!r}")
    _expect(value, "resources", Mapping, where)
    _expect(value, "nodeSelector", Mapping, where)
    _expect(value, "affinity", Mapping, where)
    _expect(value, "tolerations", list, where)
    _expect(value, "imagePullSecrets", list, where)
    _expect(value, "labels", Mapping, where)
    _expect(value, "annotations", Mapping, where)
    return Queue(
        name=name,
        namespace=str(value.get("namespace") or namespace),
        concurrency=concurrency,
        resources=dict(value.get("resources") or {}),
        node_selector={k: str(v) for k, v in (value.get("nodeSelector") or {}).items()},
        tolerations=tuple(value.get("tolerations") or ()),
        affinity=dict(value.get("affinity") or {}),
        priority_class_name=str(value.get("priorityClassName") or ""),
        service_account_name=str(value.get("serviceAccountName") or ""),
        image_pull_secrets=tuple(str(s) for s in value.get("imagePullSecrets") or ()),
        labels={k: str(v) for k, v in (value.get("labels") or {}).items()},
        annotations={k: str(v) for k, v in (value.get("annotations") or {}).items()},
    )


def _expect(value: Mapping[str, Any], key: str, kind: type, where: str) -> None:
    if value.get(key) is not None and not isinstance(value[key], kind):
        wanted = "a mapping" if kind is Mapping else "a list"
        raise QueueError(f"{where}.{key}: expected {wanted}, got {type(value[key]).__name__}")


def queue_name(value: str | None) -> str:
    """The queue a spec's `queue:` names: `agent/queue` (Polyaxon) gives `queue`."""
    return (value or "").rsplit("/", 1)[-1].strip()


def pick_queue(
    queues: Mapping[str, Queue], wanted: str | None, default: str, namespace: str
) -> Queue:
    """The queue `wanted` names, else the default one; a name nothing matches is an error."""
    name = queue_name(wanted) or default
    if name in queues:
        return queues[name]
    if not queues or name == default:
        # No queues configured, or a default that is not one: the runner's namespace, no limit.
        return Queue(name=name, namespace=namespace)
    hint = did_you_mean(name, queues, f"known: {', '.join(sorted(queues))}")
    raise QueueError(f"queue: no queue {name!r}; {hint}")
