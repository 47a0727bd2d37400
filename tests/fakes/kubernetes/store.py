"""The double's storage: objects per resource, one rising resourceVersion, a history for watches.

Stored objects are never changed in place: every write stores a new dict, so a reader (a watch,
a list) may hold one without copying. `update()` hands its callback a deep copy.
"""

from __future__ import annotations

import bisect
import copy
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.fakes.kubernetes.clock import SimClock

Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One kind of object the server stores, as its URL and error messages name it."""

    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    status_subresource: bool = True  # writes to the object keep its status, /status keeps the rest
    returns_deleted: bool = False  # DELETE answers with the object instead of a Status
    default_propagation: str = "Background"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How messages name the resource: `jobs.batch`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def builtin(self) -> bool:
        return "." not in self.group  # "", batch, apps: not a custom resource's


RESOURCES: dict[str, Resource] = {
    resource.plural: resource
    for resource in (
        # A Job's default propagation orphans its pods (kubernetes/kubernetes#20902).
        Resource("jobs", "Job", "batch", "v1", default_propagation="Orphan"),
        Resource("pods", "Pod", "", "v1", returns_deleted=True),
        Resource("deployments", "Deployment", "apps", "v1"),
        Resource("replicasets", "ReplicaSet", "apps", "v1"),
        Resource("services", "Service", "", "v1"),
        Resource("events", "Event", "", "v1", status_subresource=False),
        Resource("secrets", "Secret", "", "v1", status_subresource=False),
        Resource("pytorchjobs", "PyTorchJob", "kubeflow.org", "v1", returns_deleted=True),
        Resource("tfjobs", "TFJob", "kubeflow.org", "v1", returns_deleted=True),
        Resource("mpijobs", "MPIJob", "kubeflow.org", "v1", returns_deleted=True),
        Resource(
            "sparkapplications",
            "SparkApplication",
            "sparkoperator.k8s.io",
            "v1beta2",
            returns_deleted=True,
        ),
        Resource("daskjobs", "DaskJob", "kubernetes.dask.org", "v1", returns_deleted=True),
        Resource("daskclusters", "DaskCluster", "kubernetes.dask.org", "v1", returns_deleted=True),
        Resource("rayjobs", "RayJob", "ray.io", "v1", returns_deleted=True),
        Resource("rayclusters", "RayCluster", "ray.io", "v1", returns_deleted=True),
    )
}


@dataclass(frozen=True)
class Change:
    """One write as watchers see it: the object after it (before it for `old`)."""

    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    resource: Resource
    obj: Obj
    old: Obj | None


class Expired(Exception):
    """A resourceVersion older than the history the server still holds."""


class AlreadyExists(Exception):
    pass


class Store:
    """Objects keyed by (namespace, name) per resource, under one lock shared with the simulator."""

    def __init__(self, clock: SimClock, first_rv: int = 1000) -> None:
        self.clock = clock
        self.cond = threading.Condition(threading.RLock())
        self._rv = first_rv
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {p: {} for p in RESOURCES}
        self._history: list[Change] = []
        self._history_rvs: list[int] = []
        self._oldest = 0  # a watch from an RV below this is answered 410 Expired
        self._dropped_through = 0  # the newest change compaction threw away
        self._listeners: list[Callable[[Change], None]] = []
        # The resources changed since the server started (a 1.20 watch cache bookmarks only those).
        self.touched: set[str] = set()

    # -- reading -----------------------------------------------------------------------------

    @property
    def rv(self) -> int:
        return self._rv

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        with self.cond:
            return self._objects[plural].get((namespace, name))

    def list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        with self.cond:
            found = self._objects[plural]
            keys = sorted(k for k in found if namespace is None or k[0] == namespace)
            return [found[key] for key in keys]

    def changes_after(self, rv: int, *, live: bool = False) -> list[Change]:
        """Every change after `rv`; Expired if some of them were compacted away.

        A new watch from an RV below the compaction point is too old even if nothing changed
        since (`live=False`); a running watch only expires when it actually missed a change.
        """
        with self.cond:
            if rv < (self._dropped_through if live else self._oldest):
                raise Expired(f"too old resource version: {rv} ({self._oldest})")
            start = bisect.bisect_right(self._history_rvs, rv)
            return self._history[start:]

    def check_fresh(self, rv: int) -> None:
        """Raise Expired when `rv` is older than what the server still remembers."""
        if rv < self._oldest:
            raise Expired(f"too old resource version: {rv} ({self._oldest})")

    # -- writing -----------------------------------------------------------------------------

    def create(self, plural: str, obj: Obj) -> Obj:
        """Store a new object (already defaulted); sets uid, timestamps, generation and RV."""
        with self.cond:
            meta = obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            if key in self._objects[plural]:
                raise AlreadyExists(meta["name"])
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", self.clock.timestamp())
            meta["generation"] = 1
            return self._commit(plural, key, obj, None)

    def write(self, plural: str, obj: Obj) -> Obj:
        """Store a new state of an existing object; removes it once deleting and unfinalized."""
        with self.cond:
            meta = obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            old = self._objects[plural][key]
            # Removing the last finalizer of an object being deleted completes the deletion.
            if meta.get("deletionTimestamp") and old["metadata"].get("finalizers"):
                if not meta.get("finalizers"):
                    return self.remove(plural, *key) or obj
            if old.get("spec") != obj.get("spec"):
                meta["generation"] = old["metadata"].get("generation", 1) + 1
            return self._commit(plural, key, obj, old)

    def update(self, plural: str, namespace: str, name: str, mutate: Callable[[Obj], Any]) -> Obj:
        """Apply `mutate` to a copy of the object and store it (KeyError when it is gone)."""
        with self.cond:
            current = self._objects[plural][(namespace, name)]
            changed = copy.deepcopy(current)
            mutate(changed)
            if changed == current:
                return current
            return self.write(plural, changed)

    def remove(self, plural: str, namespace: str, name: str) -> Obj | None:
        """Delete the object now; watchers get its last state with a new RV."""
        with self.cond:
            old = self._objects[plural].pop((namespace, name), None)
            if old is None:
                return None
            self._rv += 1
            gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
            self._record(Change(self._rv, "DELETED", RESOURCES[plural], gone, old))
            return gone

    def _commit(self, plural: str, key: tuple[str, str], obj: Obj, old: Obj | None) -> Obj:
        for name in ("finalizers", "ownerReferences"):  # omitempty on a real server
            if obj["metadata"].get(name) == []:
                del obj["metadata"][name]
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[plural][key] = obj
        kind = "ADDED" if old is None else "MODIFIED"
        self._record(Change(self._rv, kind, RESOURCES[plural], obj, old))
        return obj

    def _record(self, change: Change) -> None:
        self.touched.add(change.resource.plural)
        self._history.append(change)
        self._history_rvs.append(change.rv)
        for listener in self._listeners:
            listener(change)
        self.cond.notify_all()

    # -- history -----------------------------------------------------------------------------

    def compact(self) -> int:
        """Forget the history: every RV handed out so far becomes too old to watch from."""
        with self.cond:
            self._dropped_through = self._history_rvs[-1] if self._history_rvs else self._rv
            self._rv += 1
            self._oldest = self._rv
            self._history.clear()
            self._history_rvs.clear()
            self.cond.notify_all()
            return self._rv

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        """Call `listener(change)` after every write, under the lock (it must not block)."""
        self._listeners.append(listener)

    def history(self) -> Iterator[Change]:
        with self.cond:
            return iter(list(self._history))
