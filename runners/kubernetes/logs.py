"""A run's logs and events: read once, or followed line by line while it runs.

A run's pods are found by the `axon.dev/run-uuid` label of its main object, or taken from what
the observer last saw (`last_seen`) when one is live, which costs no API call. Logs are the main
container's (`main`, `pytorch`, `tensorflow`, `mpi`), after the init steps' lines (prefixed
`[<init container>] `); with several pods (retries, replicas) each pod's part opens with
`==> <pod> <==`; a container restarted in place (`OnFailure`) gives its previous run's lines
first (the kubelet keeps only that one). Following streams each started container in turn (a
restarted container again), line-buffered by the client, and ends when the run has ended and
every container has been read; a stream that drops resumes where it was left, without
repeating a line. A Spark, Dask or Ray run's log is its driver's, job runner's, scheduler's or
head's pod's alone (`operators_kinds`). Events are the Kubernetes events of the main object and
its pods: why it is pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.rest import ApiException

from runners.kubernetes.api import REQUEST_TIMEOUT, Cluster, call, is_transient
from runners.kubernetes.last_seen import LastSeen
from runners.kubernetes.log_position import Gap, Position
from runners.kubernetes.manifests import RUN_UUID, Workload, attempt_selector
from runners.kubernetes.operators_kinds import log_pod
from runners.kubernetes.pod_status import parse_time
from runners.kubernetes.status import RunView, terminal
from runners.kubernetes.tracking import MAIN_CONTAINERS
from runners.kubernetes.watch import BACKOFF_CAP, BACKOFF_START, Pump, Stream

log = logging.getLogger(__name__)
Obj = dict[str, Any]
WAIT_SECONDS = 5  # how long a follower waits for a pod change before it looks again
ENDED_WAIT = 3.0  # how long a live observer may take to tell of a container's end
EPOCH = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True)
class ClusterEvent:
    """One Kubernetes event about a run's object or pod."""

    at: datetime | None
    type: str  # Normal or Warning
    reason: str  # FailedScheduling, BackOff, Pulled…
    message: str
    object: str  # Pod/axon-…-x7k2p
    count: int = 1


def run_pods(cluster: Cluster, workload: Workload) -> tuple[Obj | None, list[Obj], str]:
    """The main object (None if gone), its pods oldest first, and the pod list's version."""
    owner = cluster.read(workload.plural, workload.namespace, workload.name)
    if owner is None:
        return None, [], ""
    selector = attempt_selector(owner["metadata"].get("labels") or {}) or f"{RUN_UUID}="
    found = cluster.list("pods", workload.namespace, label_selector=selector)
    pods = sorted(found.get("items") or [], key=_age)
    return owner, pods, str(found["metadata"].get("resourceVersion") or "")


def read_logs(cluster: Cluster, workload: Workload, seen: LastSeen | None = None) -> str:
    """Everything the run's containers have written so far."""
    sighting = seen.get(workload.external_id) if seen is not None else None
    # A pod still Pending in the observer's eyes may have started since: its watch event
    # can trail the owner's by a moment, so then ask the API server.
    if sighting is not None and sighting.pods and not any(map(_pending, sighting.pods)):
        pods = sighting.pods
    else:
        _, pods, _ = run_pods(cluster, workload)
    pods = _logged(workload, pods)
    parts: list[str] = []
    for pod in pods:
        name = pod["metadata"]["name"]
        lines: list[str] = []
        for container in _started(pod, init=True):
            text = _read(cluster, workload.namespace, name, container)
            lines += [f"[{container}] {line}" for line in text.splitlines()]
        for container, restarts in _started(pod, init=False).items():
            if restarts:  # restarted in place (OnFailure): the kubelet keeps the run before
                lines += _read(cluster, workload.namespace, name, container, True).splitlines()
            lines += _read(cluster, workload.namespace, name, container).splitlines()
        if len(pods) > 1:
            lines.insert(0, f"==> {name} <==")
        parts.append("".join(f"{line}\n" for line in lines))
    return "".join(parts)


def follow(
    cluster: Cluster, workload: Workload, stop: threading.Event, seen: LastSeen | None = None
) -> Iterator[str]:
    """The main containers' lines as they are written, until the run has ended or `stop`.

    A stream that drops (a lost connection, an apiserver restart) is opened again where it
    was left (`log_position`), for as long as its container runs; so is a look at the run's
    pods that fails for the same reasons."""
    done: set[tuple[str, str, int]] = set()  # (pod, container, restart count) read to the end
    positions: dict[tuple[str, str, int], Position] = {}
    delay = BACKOFF_START
    while not stop.is_set():
        try:
            sighting = seen.get(workload.external_id) if seen is not None else None
            if sighting is not None:
                owner, pods, version = sighting.owner, sighting.pods, str(sighting.version)
            else:
                owner, pods, version = run_pods(cluster, workload)
            ready = [
                (pod["metadata"]["name"], container, restarts)
                for pod in _logged(workload, pods)
                for container, restarts in _started(pod, init=False).items()
                if (pod["metadata"]["name"], container, restarts) not in done
            ]
            if ready:
                target = ready[0]
                position = positions.setdefault(target, Position())
                if (yield from _stream(cluster, workload, target, position, stop, seen)):
                    done.add(target)
                    positions.pop(target, None)
                    delay = BACKOFF_START
                else:
                    delay = _pause(stop, delay)
                continue
            if owner is None or _ended(workload, owner, pods):
                return
            if sighting is not None and seen is not None:
                seen.wait(workload.external_id, sighting.version, WAIT_SECONDS, stop)
            else:
                _wait_for_pods(cluster, workload.namespace, owner, version, stop)
            delay = BACKOFF_START
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("following the logs of %s: %s", workload.external_id, exc)
            delay = _pause(stop, delay)


def _pause(stop: threading.Event, delay: float) -> float:
    stop.wait(delay)
    return min(delay * 2, BACKOFF_CAP)


def read_events(
    cluster: Cluster, workload: Workload, seen: LastSeen | None = None
) -> list[ClusterEvent]:
    """The recent events of the run's main object and of its pods, oldest first."""
    sighting = seen.get(workload.external_id) if seen is not None else None
    owner, pods, _ = (
        (sighting.owner, sighting.pods, "") if sighting is not None else run_pods(cluster, workload)
    )
    if owner is None:
        return []
    names = [workload.name, *(pod["metadata"]["name"] for pod in pods)]
    found: list[ClusterEvent] = []
    for name in names:
        listed = cluster.list(
            "events", workload.namespace, field_selector=f"involvedObject.name={name}"
        )
        found += [_event(item) for item in listed.get("items") or []]
    return sorted(found, key=lambda e: e.at or EPOCH)


def _event(item: Obj) -> ClusterEvent:
    involved = item.get("involvedObject") or {}
    at = parse_time(item.get("lastTimestamp")) or parse_time(item.get("eventTime"))
    return ClusterEvent(
        at=at or parse_time(item.get("firstTimestamp")),
        type=str(item.get("type") or ""),
        reason=str(item.get("reason") or ""),
        message=str(item.get("message") or ""),
        object=f"{involved.get('kind', '')}/{involved.get('name', '')}",
        count=int(item.get("count") or 1),
    )


def _started(pod: Obj, init: bool) -> dict[str, int]:
    """Containers that have started (running or terminated): name → restart count."""
    status = pod.get("status") or {}
    statuses = status.get("initContainerStatuses" if init else "containerStatuses") or ()
    mains = [c for c in statuses if init or c.get("name") in MAIN_CONTAINERS] or list(statuses)[:1]
    return {
        str(c["name"]): int(c.get("restartCount") or 0)
        for c in mains
        if {"running", "terminated"} & set(c.get("state") or {})
    }


def _pending(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in (None, "Pending", "Unknown")


def _read(
    cluster: Cluster, namespace: str, pod: str, container: str, previous: bool = False
) -> str:
    try:
        text: str = call(
            f"logs of {pod}",
            cluster.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            previous=previous,
        )
    except ApiException as exc:
        if exc.status in (400, 404):  # not started yet, or gone
            return ""
        raise
    return text


def _stream(
    cluster: Cluster,
    workload: Workload,
    target: tuple[str, str, int],
    position: Position,
    stop: threading.Event,
    seen: LastSeen | None,
) -> Generator[str, None, bool]:
    """One container's lines from `position` on; returns whether it was read to its end (the
    stream ended and the container has, too), False when it should be resumed."""
    namespace, (pod, container, _) = workload.namespace, target
    whole = False
    while not stop.is_set():
        since = None if whole else position.since_seconds()
        try:
            stream = Stream(
                cluster.core.read_namespaced_pod_log,
                pod,
                namespace,
                container=container,
                follow=True,
                timestamps=True,
                since_seconds=since,
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # not started after all, or gone
                return True
            raise
        reader = position.reader(whole=since is None)
        pump = Pump(stream.lines, on_stop=stream.close).start()
        try:
            while (line := pump.get(stop)) is not Pump.END:
                if (text := reader.take(line)) is not None:
                    yield text
            if stop.is_set():
                return True
            reader.finish()
        except Gap as gap:
            log.info("logs of %s/%s: %s; reading them again from the start", pod, container, gap)
            whole = True
            continue
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.info("logs of %s/%s dropped (%s); resuming", pod, container, exc)
            return False
        finally:
            pump.close()
            stream.finish()
        return _container_ended(cluster, workload, target, stop, seen)
    return True


def _container_ended(
    cluster: Cluster,
    workload: Workload,
    target: tuple[str, str, int],
    stop: threading.Event,
    seen: LastSeen | None,
) -> bool:
    """Whether the container's run `restarts` is over (the pod gone, or the container
    terminated or restarted), now that its stream ended: a stream also ends when the apiserver
    goes away. A live observer's news of the container's end may trail the stream's by a
    moment: it is waited for a little, rather than asked of the API server."""
    name, container, restarts = target
    deadline = time.monotonic() + ENDED_WAIT
    while seen is not None and (sighting := seen.get(workload.external_id)) is not None:
        pod = next((p for p in sighting.pods if p["metadata"]["name"] == name), None)
        if pod is None or _over(pod, container, restarts):
            return True
        if stop.is_set() or (left := deadline - time.monotonic()) <= 0:
            return False
        seen.wait(workload.external_id, sighting.version, left, stop)
    found = cluster.read("pods", workload.namespace, name)
    return found is None or _over(found, container, restarts)


def _over(pod: Obj, container: str, restarts: int) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    state = next((c for c in statuses if c.get("name") == container), None)
    if state is None:
        return True
    return int(state.get("restartCount") or 0) > restarts or "terminated" in (
        state.get("state") or {}
    )


def _ended(workload: Workload, owner: Obj, pods: list[Obj]) -> bool:
    """Whether nothing more will be written: the run ended and no pod is still going."""
    if terminal(RunView(workload.plural, owner)) is None:
        return False
    ended = ("Succeeded", "Failed")
    return all((p.get("status") or {}).get("phase") in ended for p in _logged(workload, pods))


def _logged(workload: Workload, pods: list[Obj]) -> list[Obj]:
    """The pods whose logs are the run's."""
    return [p for p in pods if log_pod(workload.plural, _labels(p))]


def _labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _wait_for_pods(
    cluster: Cluster, namespace: str, owner: Obj, version: str, stop: threading.Event
) -> None:
    """Block until a pod of the run changes (or a few seconds pass, or `stop`)."""
    selector = attempt_selector(owner["metadata"].get("labels") or {}) or f"{RUN_UUID}="
    function, args = cluster.list_call("pods", namespace)
    try:
        stream = Stream(
            function,
            *args,
            label_selector=selector,
            resource_version=version or None,
            watch=True,
            timeout_seconds=WAIT_SECONDS,
            _request_timeout=(REQUEST_TIMEOUT[0], WAIT_SECONDS + 30),
        )
    except ApiException as exc:
        if exc.status != 410:
            raise
        return
    pump = Pump(stream.lines, on_stop=stream.close).start()
    try:
        pump.get(stop)
    finally:
        pump.close()
        stream.finish()


def _age(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")
