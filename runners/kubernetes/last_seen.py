"""Each run's main object and pods as the observer last saw them: where logs are read from.

The observer (`KubernetesRunner.observe`) hands every object it lists and watches to
`LastSeen`. Reading a run's logs or events, or following its logs, then takes the run's pods
from here instead of getting its main object and listing its pods, and a follower waits here
for the run's next change instead of opening a watch of its own. Letting go of a recorded run
(`recorded`) takes its main object from here too, and deletes it without getting it first. Only
while an observer is live (every kind listed, the watches running): otherwise, and for a run not
seen (yet, or any more), callers ask the API server.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runners.kubernetes.manifests import Workload, attempt_selector

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, label selector of one attempt's objects and pods)
# Runs remembered, the least recently changed forgotten first. The running ones' objects are
# the tracker's too; an ended run is only needed until its final logs have been read.
REMEMBER = 2_000
POLL_SECONDS = 0.5  # how often a waiter looks at its `stop`


@dataclass(frozen=True)
class Sighting:
    """A run as last seen: its main object (None once deleted), its pods oldest first, and a
    number that grows with every change."""

    owner: Obj | None
    pods: list[Obj]
    version: int


@dataclass
class _Run:
    plural: str = ""
    owner: Obj | None = None
    deleted: bool = False
    pods: dict[str, Obj] = field(default_factory=dict)
    version: int = 0


class LastSeen:
    """Runs by key, fed by observers; `get` answers only while one of them is live."""

    def __init__(self, remember: int = REMEMBER) -> None:
        self.remember = remember
        self._lock = threading.Lock()
        self._runs: OrderedDict[Key, _Run] = OrderedDict()
        self._keys: dict[str, Key] = {}  # external id → key
        self._changed: dict[Key, threading.Event] = {}
        self._live = 0  # observers whose every kind is listed and watched

    # -- fed by observers ----------------------------------------------------------------------

    def sync(self, plural: str, namespace: str, objects: Iterable[Obj]) -> None:
        """A fresh list of every object of `plural` in `namespace`: what it lacks is gone."""
        listed = list(objects)
        names = {(_key(obj), obj["metadata"]["name"]) for obj in listed}
        with self._lock:
            gone = []
            for key, run in self._runs.items():
                if key[0] != namespace:
                    continue
                if plural == "pods":
                    gone += [pod for name, pod in run.pods.items() if (key, name) not in names]
                elif run.plural == plural and run.owner is not None and not run.deleted:
                    if (key, run.owner["metadata"]["name"]) not in names:
                        gone.append(run.owner)
        for obj in gone:
            self.apply("DELETED", plural, obj)
        for obj in listed:
            self.apply("MODIFIED", plural, obj)

    def apply(self, kind: str, plural: str, obj: Obj) -> None:
        """One watch event (ADDED, MODIFIED or DELETED) for an object of `plural`."""
        key = _key(obj)
        if key is None:
            return
        with self._lock:
            run = self._runs.get(key) or _Run()
            self._runs[key] = run
            self._runs.move_to_end(key)
            name = str(obj["metadata"]["name"])
            if plural != "pods":
                run.plural, run.owner, run.deleted = plural, obj, kind == "DELETED"
                self._keys[Workload(key[0], plural, name).external_id] = key
            elif kind == "DELETED":
                run.pods.pop(name, None)
            else:
                run.pods[name] = obj
            run.version += 1
            changed = self._changed.pop(key, None)
            while len(self._runs) > self.remember:
                self._forget(*self._runs.popitem(last=False))
        if changed is not None:
            changed.set()

    def go_live(self) -> None:
        with self._lock:
            self._live += 1

    def go_dark(self) -> None:
        """An observer stopped: waiters wake, and ask the API server if no observer is left."""
        with self._lock:
            self._live -= 1
            changed, self._changed = self._changed, {}
        for event in changed.values():
            event.set()

    # -- read by logs and followers ------------------------------------------------------------

    def get(self, external_id: str) -> Sighting | None:
        """The run as last seen; None when no observer is live or its main object was not seen."""
        with self._lock:
            run = self._find(external_id)
            if run is None:
                return None
            if run.deleted:
                return Sighting(None, [], run.version)
            return Sighting(run.owner, sorted(run.pods.values(), key=_age), run.version)

    def wait(self, external_id: str, version: int, timeout: float, stop: threading.Event) -> None:
        """Block until the run changes after `version` (or `timeout` passes, or `stop`)."""
        with self._lock:
            run = self._find(external_id)
            if run is None or run.version != version:
                return
            key = self._keys[external_id]
            changed = self._changed.setdefault(key, threading.Event())
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if changed.wait(min(left, POLL_SECONDS)):
                return

    def _find(self, external_id: str) -> _Run | None:
        if not self._live:
            return None
        key = self._keys.get(external_id)
        run = self._runs.get(key) if key is not None else None
        return run if run is not None and run.owner is not None else None

    def _forget(self, key: Key, run: _Run) -> None:
        if run.owner is not None:
            name = str(run.owner["metadata"]["name"])
            self._keys.pop(Workload(key[0], run.plural, name).external_id, None)
        changed = self._changed.pop(key, None)
        if changed is not None:
            changed.set()


def _key(obj: Obj) -> Key | None:
    meta = obj.get("metadata") or {}
    selector = attempt_selector(meta.get("labels") or {})
    return (str(meta.get("namespace") or ""), selector) if selector else None


def _age(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")
