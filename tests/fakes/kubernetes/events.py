"""Events as the controllers and the kubelet record them: FailedScheduling, Pulled, Completed."""

from __future__ import annotations

import secrets
from typing import Any

from tests.fakes.kubernetes.store import Obj, Store

NODE = "node-1"  # the one node the simulated cluster schedules on


class EventRecorder:
    """Writes v1 Events about objects; a repeat of the same event bumps its count instead."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[tuple[str, str, str, str], str] = {}  # (uid, reason, message, source)

    def record(
        self,
        obj: Obj,
        reason: str,
        message: str,
        *,
        type: str = "Normal",
        component: str = "kubelet",
        field_path: str | None = None,
    ) -> Obj:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "default")
        key = (meta.get("uid", ""), reason, message, component)
        now = self.store.clock.timestamp()
        existing = self._seen.get(key)
        if existing and self.store.get("events", namespace, existing):

            def again(event: Obj) -> None:
                event["count"] = event.get("count", 1) + 1
                event["lastTimestamp"] = now

            return self.store.update("events", namespace, existing, again)
        name = f"{meta['name']}.{secrets.token_hex(8)}"
        self._seen[key] = name
        return self.store.create(
            "events", self._event(obj, name, reason, message, type, component, field_path, now)
        )

    @staticmethod
    def _event(
        obj: Obj,
        name: str,
        reason: str,
        message: str,
        type: str,
        component: str,
        field_path: str | None,
        now: str,
    ) -> Obj:
        meta = obj["metadata"]
        involved: dict[str, Any] = {
            "kind": obj.get("kind", ""),
            "namespace": meta.get("namespace", "default"),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        source: dict[str, str] = {"component": component}
        if component == "kubelet":
            source["host"] = NODE
        return {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": involved["namespace"]},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": NODE if component == "kubelet" else "",
        }
