"""The simulated control plane: admission, deletion, garbage collection and the controllers.

Every stored change is handed to the controller of its kind (the Job controller, the kubelet,
the Deployment controller, the training operator) and to its owner's; the garbage collector
deletes dependents (Background, Foreground) or releases them (Orphan).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from tests.fakes.kubernetes import kubeflow, operators, status
from tests.fakes.kubernetes.admission import Admission
from tests.fakes.kubernetes.clock import Scheduler, SimClock
from tests.fakes.kubernetes.events import EventRecorder
from tests.fakes.kubernetes.jobs import TRACKING, JobController
from tests.fakes.kubernetes.kubelet import Kubelet
from tests.fakes.kubernetes.scripts import ScriptBook, Timing
from tests.fakes.kubernetes.store import RESOURCES, AlreadyExists, Change, Obj, Store
from tests.fakes.kubernetes.workloads import DeploymentController

_PROPAGATIONS = ("Orphan", "Background", "Foreground")


class Cluster:
    """Everything behind the API: the HTTP server calls `create`, `update` and `delete`."""

    def __init__(self, clock: SimClock, timing: Timing, version: str) -> None:
        self.clock = clock
        self.timing = timing
        self.store = Store(clock)
        self.scheduler = Scheduler(clock, self.store.cond)
        self.admission = Admission(version)
        self.recorder = EventRecorder(self.store)
        self.scripts = ScriptBook()
        self.kubelet = Kubelet(self)
        self.jobs = JobController(self)
        self.deployments = DeploymentController(self)
        self.operator = kubeflow.TrainingOperator(self)
        self.operators = operators.Operators(self)
        self._pending: set[Hashable] = set()
        self._owned: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # owner uid -> deps
        self._by_uid: dict[str, tuple[str, str, str]] = {}
        self.store.add_listener(self._dispatch)

    # -- writes through admission ------------------------------------------------------------

    def create(self, plural: str, body: Any, namespace: str) -> Obj:
        """Admit and store a new object; a generateName collision draws another name."""
        with self.store.cond:
            resource = RESOURCES[plural]
            for _ in range(8):
                obj = self.admission.create(resource, body, namespace)
                try:
                    return self.store.create(plural, obj)
                except AlreadyExists:
                    asked = body.get("metadata") or {}
                    if asked.get("name") or not asked.get("generateName"):
                        raise status.already_exists(resource, obj["metadata"]["name"]) from None
            raise status.ApiError(500, "InternalError", "could not generate a unique name")

    def update(self, plural: str, namespace: str, name: str, body: Any, sub: str = "") -> Obj:
        with self.store.cond:
            resource = RESOURCES[plural]
            old = self.store.get(plural, namespace, name)
            if old is None:
                raise status.not_found(resource, name)
            new = self.admission.update(resource, old, body, sub)
            return old if new == old else self.store.write(plural, new)

    def delete(
        self,
        plural: str,
        namespace: str,
        name: str,
        propagation: str | None = None,
        grace: int | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> tuple[Obj, bool]:
        """Delete as the API does: (the object, whether it is gone already).

        Orphan and Foreground add their finalizer and leave the rest to the garbage collector;
        a scheduled pod is deleted gracefully (its kubelet stops it first).
        """
        with self.store.cond:
            resource = RESOURCES[plural]
            obj = self.store.get(plural, namespace, name)
            if obj is None:
                raise status.not_found(resource, name)
            meta = obj["metadata"]
            for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = (preconditions or {}).get(key)
                if wanted and wanted != meta.get(key):
                    why = (
                        f"Precondition failed: {label} in precondition: {wanted}, {label} in "
                        f"object meta: {meta.get(key)}"
                    )
                    raise status.conflict(resource, name, why)
            if meta.get("deletionTimestamp"):
                return obj, False
            propagation = propagation or resource.default_propagation
            if propagation not in _PROPAGATIONS:
                raise status.bad_request(
                    f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                    '"Foreground", "Background", "Orphan"'
                )
            finalizers = list(meta.get("finalizers") or [])
            extra = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(propagation)
            if extra and extra not in finalizers:
                finalizers.append(extra)
            graceful = plural == "pods" and obj["spec"].get("nodeName") and grace != 0
            if graceful and grace is None:
                grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
            if not finalizers and not graceful:
                return self.store.remove(plural, namespace, name) or obj, True
            seconds = grace if graceful else 0

            def mark(obj: Obj) -> None:
                obj["metadata"]["deletionTimestamp"] = self.clock.timestamp(
                    self.clock.now() + (seconds or 0)
                )
                obj["metadata"]["deletionGracePeriodSeconds"] = seconds or 0
                obj["metadata"]["finalizers"] = finalizers

            return self.store.update(plural, namespace, name, mark), False

    # -- relations ---------------------------------------------------------------------------

    def dependents(self, owner_uid: str, plural: str | None = None) -> list[Obj]:
        found = []
        for dep_plural, namespace, name in sorted(self._owned.get(owner_uid, ())):
            obj = self.store.get(dep_plural, namespace, name)
            if obj is not None and plural in (None, dep_plural):
                found.append(obj)
        return found

    def owner_names(self, obj: Obj) -> list[str]:
        """The object's name and its owners' names up the chain (pod → ReplicaSet → Deployment)."""
        names = [obj["metadata"]["name"]]
        refs = obj["metadata"].get("ownerReferences") or []
        while refs:
            names.append(refs[0]["name"])
            where = self._by_uid.get(refs[0]["uid"])
            owner = self.store.get(*where) if where else None
            refs = (owner or {}).get("metadata", {}).get("ownerReferences") or []
        return names

    def soon(self, key: Hashable, action: Callable[[], None]) -> None:
        """Run `action` once at the current time however often it is asked for before then."""
        if key in self._pending:
            return
        self._pending.add(key)

        def run() -> None:
            self._pending.discard(key)
            action()

        self.scheduler.after(0, run)

    # -- fan-out of changes ------------------------------------------------------------------

    def _dispatch(self, change: Change) -> None:
        plural, meta = change.resource.plural, change.obj["metadata"]
        where = (plural, meta.get("namespace", ""), meta["name"])
        self._index(change, where)
        if plural == "pods":
            self.kubelet.on_change(change)
        elif plural == "jobs":
            self.jobs.on_change(change)
        elif plural in ("deployments", "replicasets"):
            self.deployments.on_change(change)
        elif plural in kubeflow.PLURALS:
            self.operator.on_change(change)
        elif plural in operators.PLURALS:
            self.operators.on_change(change)
        for ref in meta.get("ownerReferences") or []:
            self._owner_changed(ref["uid"])
        self._collect(change)

    def _owner_changed(self, uid: str) -> None:
        where = self._by_uid.get(uid)
        if where is None:
            return
        plural, namespace, name = where
        if plural == "jobs":
            self.jobs.reconcile_soon(namespace, name)
        elif plural in ("deployments", "replicasets"):
            self.deployments.reconcile_soon(plural, namespace, name)
        elif plural in kubeflow.PLURALS:
            self.operator.reconcile_soon(plural, namespace, name)
        elif plural in operators.PLURALS:
            self.operators.reconcile_soon(plural, namespace, name)
        owner = self.store.get(*where)
        if owner is not None and "foregroundDeletion" in owner["metadata"].get("finalizers", []):
            self.soon(("foreground", uid), lambda: self._foreground(where))

    def _index(self, change: Change, where: tuple[str, str, str]) -> None:
        meta = change.obj["metadata"]
        for ref in (change.old or {}).get("metadata", {}).get("ownerReferences") or []:
            self._owned[ref["uid"]].discard(where)
        if change.type == "DELETED":
            self._by_uid.pop(meta["uid"], None)
            return
        self._by_uid[meta["uid"]] = where
        for ref in meta.get("ownerReferences") or []:
            self._owned[ref["uid"]].add(where)

    # -- the garbage collector ---------------------------------------------------------------

    def _collect(self, change: Change) -> None:
        meta = change.obj["metadata"]
        where = (change.resource.plural, meta.get("namespace", ""), meta["name"])
        if change.type == "DELETED":
            deps = self._owned.pop(meta["uid"], set())
            for dep in sorted(deps):
                self.soon(("collect", dep), lambda dep=dep: self._delete_dependent(dep))
        elif meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or []
            if "orphan" in finalizers:
                self.soon(("orphan", meta["uid"]), lambda: self._orphan(where))
            elif "foregroundDeletion" in finalizers:
                self.soon(("foreground", meta["uid"]), lambda: self._foreground(where))

    def _delete_dependent(self, where: tuple[str, str, str]) -> None:
        if self.store.get(*where) is not None:
            self.delete(*where, propagation="Background")

    def _orphan(self, where: tuple[str, str, str]) -> None:
        owner = self.store.get(*where)
        if owner is None:
            return
        uid = owner["metadata"]["uid"]
        for dep in self.dependents(uid):
            dep_meta = dep["metadata"]
            self.store.update(
                _plural_of(dep), dep_meta["namespace"], dep_meta["name"], lambda d: _release(d, uid)
            )
        self._drop_finalizer(where, "orphan")

    def _foreground(self, where: tuple[str, str, str]) -> None:
        owner = self.store.get(*where)
        if owner is None:
            return
        deps = self.dependents(owner["metadata"]["uid"])
        for dep in deps:
            if not dep["metadata"].get("deletionTimestamp"):
                self.delete(_plural_of(dep), dep["metadata"]["namespace"], dep["metadata"]["name"])
        if not deps:
            self._drop_finalizer(where, "foregroundDeletion")

    def _drop_finalizer(self, where: tuple[str, str, str], finalizer: str) -> None:
        def drop(obj: Obj) -> None:
            obj["metadata"]["finalizers"] = [
                f for f in obj["metadata"].get("finalizers") or [] if f != finalizer
            ]

        self.store.update(*where, drop)


def _plural_of(obj: Obj) -> str:
    return next(p for p, r in RESOURCES.items() if r.kind == obj["kind"])


def _release(dep: Obj, owner_uid: str) -> None:
    """Orphaning: the dependent forgets its owner (and a Job's pod its tracking finalizer)."""
    meta = dep["metadata"]
    refs = [ref for ref in meta.get("ownerReferences") or [] if ref["uid"] != owner_uid]
    finalizers = [f for f in meta.get("finalizers") or [] if f != TRACKING]
    for key, value in (("ownerReferences", refs), ("finalizers", finalizers)):
        if value:
            meta[key] = value
        else:
            meta.pop(key, None)
