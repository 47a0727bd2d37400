"""The runner's observer: one watch per kind and namespace, their news made observations.

A tracker (`tracking`) turns the watches' news into observations; what one needs done on the
cluster (the Job of a pod deleted under it, with no retry left) is done before it is told.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from runners.base import Observation, RunnerUnavailable
from runners.kubernetes.api import Cluster
from runners.kubernetes.last_seen import LastSeen
from runners.kubernetes.manifests import SELECTOR, Workload
from runners.kubernetes.status import RunView, terminal
from runners.kubernetes.tracking import Tracker
from runners.kubernetes.watch import Changed, Failed, KindWatch, Rediscovery, Resource, Synced
from schemas.status import RunStatus

log = logging.getLogger(__name__)


def observe(
    configuration: client.Configuration,
    resources: Callable[[Cluster], list[Resource]],
    watch_timeout: int,
    rediscovery: Rediscovery,
    last_seen: LastSeen,
    stopped: Callable[[], list[str]],
    stop: threading.Event,
) -> Iterator[Observation]:
    """The runs' observations until `stop` is set; `stopped` names the runs the runner stopped."""
    api_client = client.ApiClient(configuration)
    cluster = Cluster(api_client)
    out: queue.Queue[Synced | Changed | Failed] = queue.Queue()
    watches = [
        KindWatch(resource, SELECTOR, out, watch_timeout, rediscovery)
        for resource in resources(cluster)
    ]
    waiting = {(w.resource.plural, w.resource.namespace) for w in watches}
    tracker = Tracker(lambda namespace, selector: _pods_of(cluster, namespace, selector))
    for watcher in watches:
        watcher.start()
    live = False
    try:
        while not stop.is_set():
            yield from _acted(cluster, tracker.due())
            try:
                item = out.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, Failed):
                raise item.error
            # Seen first: whoever reads a run's logs on its news finds its pods current.
            if isinstance(item, Changed):
                last_seen.apply(item.type, item.plural, item.obj)
                yield from _acted(cluster, tracker.apply(item.type, item.plural, item.obj))
                continue
            last_seen.sync(item.plural, item.namespace, item.objects)
            yield from _acted(cluster, tracker.sync(item.plural, item.namespace, item.objects))
            waiting.discard((item.plural, item.namespace))
            if not waiting and not tracker.live:
                current = tracker.go_live()
                last_seen.go_live()
                live = True
                yield from _acted(cluster, current)
                yield from _stopped_and_gone(stopped, tracker, current)
    finally:
        if live:
            last_seen.go_dark()
        _stop_all(watches)
        api_client.close()


def _stopped_and_gone(
    stopped_ids: Callable[[], list[str]], tracker: Tracker, current: list[Observation]
) -> Iterator[Observation]:
    """Runs this runner stopped whose objects are gone: stopped, as they were seen to be."""
    seen = {o.external_id for o in current} | tracker.tracked_ids()
    for external_id in stopped_ids():
        if external_id not in seen:
            yield Observation(
                external_id, RunStatus.STOPPED, "Stopped", "stopped by request", _now()
            )


def _acted(cluster: Cluster, observations: Iterable[Observation]) -> Iterator[Observation]:
    """The observations, after doing what they need on the cluster: a run failed because its
    pod was deleted while its Job goes on (a server before 1.26 starts the pod again) has its
    Job deleted, so the pod started again does not run on."""
    for observation in observations:
        if observation.status == RunStatus.FAILED and observation.reason == "PodDeleted":
            where = Workload.parse(observation.external_id)
            try:
                found = cluster.read(where.plural, where.namespace, where.name)
                if found is not None and terminal(RunView(where.plural, found)) is None:
                    cluster.delete(where.plural, where.namespace, where.name)
            except Exception:  # recorded() deletes it too, once the failure is recorded
                log.warning("could not delete %s", observation.external_id, exc_info=True)
        yield observation


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
