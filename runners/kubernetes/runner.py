"""Runs on Kubernetes: Jobs, services (Deployment + Service) and Kubeflow training jobs.

Features: manifests compiled from the run spec (`manifests`, `pods`); submit idempotent on the
run uuid (object names come from it; 409 AlreadyExists is "submitted already"); stop deletes
the run's main object with propagationPolicy Background; named queues with a concurrency
limit, namespace, default resources and placement (`has_capacity(queue)` before submit);
observe() lists then watches one stream per kind and namespace, label selector
`axon.dev/managed=true`, with bookmarks and re-lists on 410, and maps objects to statuses
(`status`); `known_ids()` for runs whose objects are gone; logs, followed logs and events
(`logs`), their pods taken from what a live observer last saw (`last_seen`). External id:
`<namespace>/<plural>/<name>`, e.g. `default/jobs/axon-<uuid>`; a resumed or retried run's
next attempt is a new object, `axon-<uuid>-<attempt>`, observed apart from the old one.
Config: `namespace`, `kubeconfig`, `context`, `in_cluster`, `configuration` (a client
Configuration, in code), `queues` (mapping or JSON), `default_queue`, `kubeflow` (watch the
Kubeflow kinds), `git_image`, `helper_image`, `git_secret`, `artifacts_claim`, `watch_timeout`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from runners.base import Observation, Runner, RunnerUnavailable, RunSpec
from runners.kubernetes.api import Cluster, load_configuration
from runners.kubernetes.last_seen import LastSeen
from runners.kubernetes.logs import ClusterEvent, follow, read_events, read_logs
from runners.kubernetes.manifests import (
    KINDS,
    KUBEFLOW,
    QUEUE,
    SELECTOR,
    STOP_REQUESTED,
    ManifestError,
    Workload,
    compile_run,
    label_value,
    run_kind,
    workload,
)
from runners.kubernetes.pods import PodOptions
from runners.kubernetes.queues import Queue, parse_queues, pick_queue
from runners.kubernetes.status import RunView, terminal
from runners.kubernetes.tracking import Tracker
from runners.kubernetes.watch import Changed, Failed, KindWatch, Resource, Synced
from schemas.status import RunStatus

log = logging.getLogger(__name__)
OWNERS = ("jobs", "deployments")  # the main objects' plurals, besides the Kubeflow ones
REMEMBER_STOPS = 1000


class KubernetesRunner(Runner):
    name = "kubernetes"
    transient_errors = (RunnerUnavailable,)
    kinds = KINDS
    # A Job's backoffLimit is termination.maxRetries; the operators restart their own replicas.
    retries_itself = True

    def __init__(
        self,
        namespace: str = "default",
        kubeconfig: str = "",
        context: str = "",
        in_cluster: bool | None = None,
        configuration: client.Configuration | None = None,
        queues: Mapping[str, Any] | str | None = None,
        default_queue: str = "default",
        kubeflow: bool = True,
        git_image: str = PodOptions.git_image,
        helper_image: str = PodOptions.helper_image,
        git_secret: str = "",
        artifacts_claim: str = "",
        watch_timeout: int = 300,
    ) -> None:
        self.namespace = namespace
        self.queues = parse_queues(queues, namespace)
        self.default_queue = default_queue
        self.kubeflow = kubeflow
        self.pod_options = PodOptions(git_image, helper_image, git_secret, artifacts_claim)
        self.watch_timeout = watch_timeout
        self.configuration = configuration or load_configuration(kubeconfig, context, in_cluster)
        self.api_client = client.ApiClient(self.configuration)
        self.cluster = Cluster(self.api_client)
        # Runs this runner stopped: its observers report them stopped even once they are gone.
        self._stopped: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.last_seen = LastSeen()

    def close(self) -> None:
        """Close the API client's connections."""
        self.api_client.close()

    def __enter__(self) -> KubernetesRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- submitting and stopping -------------------------------------------------------------

    def queue_for(self, queue_name: str | None) -> Queue:
        """The queue a spec's `queue:` names (the default one when it names none)."""
        return pick_queue(self.queues, queue_name, self.default_queue, self.namespace)

    def submit(self, spec: RunSpec) -> str:
        kind = run_kind(spec)
        if kind in KUBEFLOW and not self.kubeflow:
            raise ManifestError(
                f"run.kind: a {kind} needs the Kubeflow training operator, and "
                "this runner is configured without it (kubeflow: false)"
            )
        target = self.queue_for(spec.component.get("queue"))
        manifests = compile_run(spec, target, self.pod_options)
        main = self.cluster.create(manifests[0].plural, target.namespace, manifests[0].body)
        for extra in manifests[1:]:
            # A run's Service goes with its Deployment when the garbage collector deletes it.
            owner = {
                "apiVersion": main.get("apiVersion", "apps/v1"),
                "kind": main.get("kind", "Deployment"),
                "name": main["metadata"]["name"],
                "uid": main["metadata"]["uid"],
                "controller": True,
            }
            extra.body["metadata"]["ownerReferences"] = [owner]
            self.cluster.create(extra.plural, target.namespace, extra.body)
        return workload(spec, target).external_id

    def cancel(self, external_id: str) -> None:
        try:
            where = Workload.parse(external_id)
        except ValueError:
            log.warning("not stopping %r: no run of this runner has such an id", external_id)
            return
        found = self.cluster.read(where.plural, where.namespace, where.name)
        if found is None or terminal(RunView(where.plural, found)) is not None:
            return
        # Marked first, so that watchers tell a stop by Axon from a deletion by someone else.
        marked = self.cluster.annotate(
            where.plural, where.namespace, where.name, {STOP_REQUESTED: "true"}
        )
        if marked:
            self.cluster.delete(where.plural, where.namespace, where.name)
        if where.plural == "deployments":
            self.cluster.delete("services", where.namespace, where.name)
        with self._lock:
            self._stopped[external_id] = None
            while len(self._stopped) > REMEMBER_STOPS:
                self._stopped.popitem(last=False)

    def has_capacity(self, queue_name: str | None) -> bool:
        """Whether the queue may take one more run now (always, without a concurrency limit)."""
        target = self.queue_for(queue_name)
        return target.concurrency is None or self.active_runs(target) < target.concurrency

    def queue_limited(self, queue_name: str | None) -> bool:
        return self.queue_for(queue_name).concurrency is not None

    def active_runs(self, target: Queue) -> int:
        """How many of the queue's runs are on the cluster and not ended."""
        selector = f"{SELECTOR},{QUEUE}={label_value(target.name)}"
        active = 0
        for plural in self._owner_plurals():
            for item in self._list_owners(plural, target.namespace, selector):
                active += terminal(RunView(plural, item)) is None
        return active

    def known_ids(self) -> set[str]:
        """The external ids of every run whose main object is on the cluster now."""
        found: set[str] = set()
        for namespace in self._namespaces():
            for plural in self._owner_plurals():
                for item in self._list_owners(plural, namespace, SELECTOR):
                    found.add(Workload(namespace, plural, item["metadata"]["name"]).external_id)
        return found

    # -- observing ---------------------------------------------------------------------------

    def observe(self, stop: threading.Event | None = None) -> Iterator[Observation]:
        stop = stop or threading.Event()
        api_client = client.ApiClient(self.configuration)
        cluster = Cluster(api_client)
        out: queue.Queue[Synced | Changed | Failed] = queue.Queue()
        watches = [
            KindWatch(resource, SELECTOR, out, self.watch_timeout)
            for resource in self._resources(cluster)
        ]
        waiting = {(w.resource.plural, w.resource.namespace) for w in watches}
        tracker = Tracker(lambda namespace, selector: _pods_of(cluster, namespace, selector))
        for watcher in watches:
            watcher.start()
        live = False
        try:
            while not stop.is_set():
                yield from tracker.due()
                try:
                    item = out.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(item, Failed):
                    raise item.error
                # Seen first: whoever reads a run's logs on its news finds its pods current.
                if isinstance(item, Changed):
                    self.last_seen.apply(item.type, item.plural, item.obj)
                    yield from tracker.apply(item.type, item.plural, item.obj)
                    continue
                self.last_seen.sync(item.plural, item.namespace, item.objects)
                yield from tracker.sync(item.plural, item.namespace, item.objects)
                waiting.discard((item.plural, item.namespace))
                if not waiting and not tracker.live:
                    current = tracker.go_live()
                    self.last_seen.go_live()
                    live = True
                    yield from current
                    yield from self._stopped_and_gone(tracker, current)
        finally:
            if live:
                self.last_seen.go_dark()
            _stop_all(watches)
            api_client.close()

    def _stopped_and_gone(
        self, tracker: Tracker, current: list[Observation]
    ) -> Iterator[Observation]:
        """Runs this runner stopped whose objects are gone: stopped, as they were seen to be."""
        seen = {o.external_id for o in current} | tracker.tracked_ids()
        with self._lock:
            stopped = list(self._stopped)
        for external_id in stopped:
            if external_id not in seen:
                yield Observation(
                    external_id, RunStatus.STOPPED, "Stopped", "stopped by request", _now()
                )

    # -- logs and events ---------------------------------------------------------------------

    def logs(self, external_id: str) -> str:
        return read_logs(self.cluster, Workload.parse(external_id), self.last_seen)

    def follow_logs(self, external_id: str, stop: threading.Event | None = None) -> Iterator[str]:
        """The run's lines as they are written, until it has ended (or `stop` is set)."""
        workload, stop = Workload.parse(external_id), stop or threading.Event()
        return follow(self.cluster, workload, stop, self.last_seen)

    def events(self, external_id: str) -> list[ClusterEvent]:
        """Recent Kubernetes events of the run's object and pods: why it is pending."""
        return read_events(self.cluster, Workload.parse(external_id), self.last_seen)

    # -- where to look -----------------------------------------------------------------------

    def _namespaces(self) -> list[str]:
        return sorted({self.namespace, *(q.namespace for q in self.queues.values())})

    def _owner_plurals(self) -> list[str]:
        return [*OWNERS, *(f.plural for f in KUBEFLOW.values() if self.kubeflow)]

    def _resources(self, cluster: Cluster) -> list[Resource]:
        resources = []
        for namespace in self._namespaces():
            for plural in ("pods", *self._owner_plurals()):
                function, args = cluster.list_call(plural, namespace)
                optional = plural not in ("pods", *OWNERS)
                resources.append(Resource(plural, namespace, function, args, optional))
        return resources

    def _list_owners(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        try:
            found = self.cluster.list(plural, namespace, label_selector=selector)
        except ApiException as exc:
            if plural not in OWNERS and exc.status in (403, 404):
                return []  # a Kubeflow kind this cluster lacks, or the role may not read
            raise
        return list(found.get("items") or [])


def _pods_of(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    try:
        found = cluster.list("pods", namespace, label_selector=selector)
    except (RunnerUnavailable, ApiException) as exc:
        log.warning("could not read the pods of %s: %s", selector, exc)
        return []  # the failure is reported without its pod's reason
    return list(found.get("items") or [])


def _stop_all(watches: list[KindWatch], timeout: float = 5.0) -> None:
    for watcher in watches:
        watcher.stop()
    deadline = time.monotonic() + timeout
    for watcher in watches:
        while watcher.is_alive() and time.monotonic() < deadline:
            watcher.join(0.05)
            watcher.stop()  # again: a watch that had not yet opened its stream is reached now


def _now() -> datetime:
    return datetime.now(UTC)
