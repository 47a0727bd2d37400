"""The scheduler and the kubelet, simulated: each pod lives out its `PodScript`.

Pending (PodScheduled False/Unschedulable, or ContainerCreating, ErrImagePull,
ImagePullBackOff, CreateContainerConfigError) → Running → terminated (Completed, Error,
OOMKilled) → Succeeded/Failed, or a restart in place (OnFailure, Always) through
CrashLoopBackOff. A deleted pod's containers stop, and the pod goes once no finalizer holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.kubernetes import pod_status
from tests.fakes.kubernetes.events import NODE
from tests.fakes.kubernetes.pod_status import TERMINAL
from tests.fakes.kubernetes.scripts import RUN_FOREVER, PodScript, Registration
from tests.fakes.kubernetes.store import Change, Obj

if TYPE_CHECKING:
    from tests.fakes.kubernetes.cluster import Cluster

HOST_IP = "172.18.0.2"
Key = tuple[str, str]  # (namespace, pod name)


@dataclass
class LogBuffer:
    """One container instance's output: (time, line) pairs, closed when the container ends."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    done: bool = False


@dataclass
class _Run:
    uid: str
    registration: Registration | None
    script: PodScript
    epoch: int = 0  # bumped when the containers exit or stop: older timers then do nothing


class Kubelet:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self.timing = cluster.timing
        self.logs: dict[tuple[str, str, str], list[LogBuffer]] = {}  # (ns, pod, container)
        self._runs: dict[Key, _Run] = {}
        self._ips = 1

    def on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        key, uid = (meta["namespace"], meta["name"]), meta["uid"]
        if change.type == "ADDED":
            self.cluster.scheduler.after(0, lambda: self._bind(key, uid))
        elif change.type == "DELETED":
            self._runs.pop(key, None)
            for log_key in [k for k in self.logs if k[:2] == key]:
                self.logs.pop(log_key)[-1].done = True
        elif change.old is not None and meta.get("deletionTimestamp"):
            if not change.old["metadata"].get("deletionTimestamp"):
                self.cluster.scheduler.after(0, lambda: self._stop(key, uid))

    # -- the steps of a pod's life -----------------------------------------------------------

    def _bind(self, key: Key, uid: str) -> None:
        """The scheduler: the pod is assigned to the node, or stays Pending with the reason."""
        pod = self._pod(key, uid)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        run = self._runs.get(key)
        if run is None or run.uid != uid:
            run = self._runs[key] = _Run(uid, *self._pick(pod))
            script = run.script
            if script.unschedulable:
                self._unschedulable(key, pod, script)
                return
        script, now = run.script, self.clock.timestamp()
        pod = self._update(key, lambda p: _bound(p, now))
        assigned = f"Successfully assigned {key[0]}/{key[1]} to {NODE}"
        self._event(pod, "Scheduled", assigned, component="default-scheduler")
        self._ips += 1
        pod_ip = f"10.244.0.{self._ips % 250 + 2}"
        minor = self.cluster.admission.server.minor
        pod = self._update(key, lambda p: pod_status.accepted(p, now, HOST_IP, pod_ip, minor))
        for container in pod["spec"]["containers"]:
            self._event(
                pod, "Pulling", f'Pulling image "{container["image"]}"', container=container
            )
        delay = self.timing.container_start + script.start_delay
        self.cluster.scheduler.after(delay, lambda: self._pulled(key, uid, 0))

    def _unschedulable(self, key: Key, pod: Obj, script: PodScript) -> None:
        now, message = self.clock.timestamp(), script.unschedulable
        self._update(
            key,
            lambda p: pod_status.condition(
                p, "PodScheduled", "False", now, "Unschedulable", message
            ),
        )
        self._event(pod, "FailedScheduling", message or "", "Warning", "default-scheduler")
        if script.unschedulable_for is not None:
            uid = pod["metadata"]["uid"]
            self.cluster.scheduler.after(script.unschedulable_for, lambda: self._bind(key, uid))

    def _pulled(self, key: Key, uid: str, epoch: int) -> None:
        """The image is there (the containers start), or it is not (the pod waits)."""
        run, pod = self._current(key, uid, epoch)
        if run is None or pod is None:
            return
        script = run.script
        if not (script.image_pull_error or script.config_error):
            self._start(key, uid, epoch, first=True)
            return
        reason = "ErrImagePull" if script.image_pull_error else "CreateContainerConfigError"
        message = script.image_pull_error or script.config_error or ""
        self._update(key, lambda p: pod_status.waiting(p, reason, message))
        for container in pod["spec"]["containers"]:
            if script.image_pull_error:
                failed = f'Failed to pull image "{container["image"]}": {message}'
                self._event(pod, "Failed", failed, "Warning", container=container)
                self._event(pod, "Failed", "Error: ErrImagePull", "Warning", container=container)
            else:
                self._event(pod, "Failed", f"Error: {message}", "Warning", container=container)
        if script.image_pull_error:
            self.cluster.scheduler.after(
                self.timing.image_pull_backoff, lambda: self._pull_backoff(key, uid, epoch)
            )

    def _pull_backoff(self, key: Key, uid: str, epoch: int) -> None:
        run, pod = self._current(key, uid, epoch)
        if run is None or pod is None:
            return
        for container in pod["spec"]["containers"]:
            message = f'Back-off pulling image "{container["image"]}"'
            self._update(key, lambda p, m=message: pod_status.waiting(p, "ImagePullBackOff", m))
            self._event(pod, "BackOff", message, container=container)
            self._event(pod, "Failed", "Error: ImagePullBackOff", "Warning", container=container)

    def _start(self, key: Key, uid: str, epoch: int, first: bool = False) -> None:
        """The containers run: a new log per container, lines over the run, then the exit."""
        run, pod = self._current(key, uid, epoch)
        if run is None or pod is None:
            return
        now = self.clock.timestamp()
        for container in pod["spec"]["containers"]:
            name, image = container["name"], container["image"]
            if first:
                pulled = (
                    f'Successfully pulled image "{image}" in 1.2s (1.2s including waiting). '
                    "Image size: 45871234 bytes."
                )
                self._event(pod, "Pulled", pulled, container=container)
            self._event(pod, "Created", f"Created container: {name}", container=container)
            self._event(pod, "Started", f"Started container {name}", container=container)
            self.logs.setdefault((*key, name), []).append(LogBuffer())
        self._update(key, lambda p: pod_status.running(p, now))
        script, started = run.script, self.clock.now()
        first_container = pod["spec"]["containers"][0]["name"]
        lines = list(script.logs)
        for index, line in enumerate(lines):
            at = started + (script.duration or 0.0) * index / len(lines)
            self.cluster.scheduler.at(
                at, lambda line=line: self._write(key, first_container, run, epoch, line)
            )
        if script.duration is not None:
            self.cluster.scheduler.at(
                started + script.duration, lambda: self._exit(key, uid, epoch)
            )

    def _write(self, key: Key, container: str, run: _Run, epoch: int, line: str) -> None:
        buffers = self.logs.get((*key, container))
        if buffers and run.epoch == epoch and self._runs.get(key) is run:
            buffers[-1].lines.append((self.clock.now(), line))
            self.store.cond.notify_all()

    def _exit(self, key: Key, uid: str, epoch: int) -> None:
        """The run ends: the pod finishes (Never, or OnFailure after success) or restarts."""
        run, pod = self._current(key, uid, epoch)
        if run is None or pod is None:
            return
        run.epoch += 1
        script, now = run.script, self.clock.timestamp()
        self._close_logs(key)
        message = script.termination_message if script.code == 0 else None
        pod = self._update(
            key, lambda p: pod_status.exited(p, now, script.code, script.reason, message)
        )
        policy = pod["spec"].get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and script.code == 0):
            self._update(key, lambda p: pod_status.finished(p, now))
            return
        restarts = max(s.get("restartCount", 0) for s in pod["status"]["containerStatuses"]) + 1
        timing = self.timing
        delay = timing.backoff(timing.crash_backoff, timing.crash_backoff_cap, restarts)
        self._update(key, lambda p: pod_status.crash_loop(p, now, delay))
        for container in pod["spec"]["containers"]:
            message = (
                f"Back-off restarting failed container {container['name']} in pod "
                f"{key[1]}_{key[0]}({uid})"
            )
            self._event(pod, "BackOff", message, "Warning", container=container)
        if run.registration is not None:
            run.script = run.registration.next()
        next_epoch = run.epoch
        self.cluster.scheduler.after(delay, lambda: self._start(key, uid, next_epoch))

    def _stop(self, key: Key, uid: str) -> None:
        """A deleted pod: its containers stop, then it goes unless a finalizer holds it."""
        pod = self._pod(key, uid)
        if pod is None:
            return
        run = self._runs.get(key)
        if run is not None:
            run.epoch += 1
        self._close_logs(key)
        if pod["status"].get("phase") not in TERMINAL:
            now = self.clock.timestamp()
            pod = self._update(key, lambda p: pod_status.killed(p, now))
        grace = self.timing.termination if pod["spec"].get("nodeName") else 0.0
        self.cluster.scheduler.after(grace, lambda: self._remove(key, uid))

    def _remove(self, key: Key, uid: str) -> None:
        pod = self._pod(key, uid)
        if pod is not None and not pod["metadata"].get("finalizers"):
            self.store.remove("pods", *key)

    # -- plumbing ----------------------------------------------------------------------------

    def _pick(self, pod: Obj) -> tuple[Registration | None, PodScript]:
        names = self.cluster.owner_names(pod)
        registration = self.cluster.scripts.find(pod["metadata"].get("labels") or {}, names)
        if registration is not None:
            return registration, registration.next()
        if pod["spec"].get("restartPolicy", "Always") == "Always":
            return None, RUN_FOREVER
        return None, self.cluster.scripts.default

    def _pod(self, key: Key, uid: str) -> Obj | None:
        pod = self.store.get("pods", *key)
        return pod if pod is not None and pod["metadata"]["uid"] == uid else None

    def _current(self, key: Key, uid: str, epoch: int) -> tuple[_Run | None, Obj | None]:
        """The pod's run if this timer is still about it (same pod, same run, not deleting)."""
        run, pod = self._runs.get(key), self._pod(key, uid)
        if run is None or pod is None or run.epoch != epoch or run.uid != uid:
            return None, None
        if pod["metadata"].get("deletionTimestamp"):
            return None, None
        return run, pod

    def _update(self, key: Key, mutate: Callable[[Obj], Any]) -> Obj:
        return self.store.update("pods", *key, mutate)

    def _event(
        self,
        pod: Obj,
        reason: str,
        message: str,
        kind: str = "Normal",
        component: str = "kubelet",
        container: Obj | None = None,
    ) -> None:
        where = f"spec.containers{{{container['name']}}}" if container else None
        self.cluster.recorder.record(
            pod, reason, message, type=kind, component=component, field_path=where
        )

    def _close_logs(self, key: Key) -> None:
        for log_key, buffers in self.logs.items():
            if log_key[:2] == key:
                buffers[-1].done = True
        self.store.cond.notify_all()


def _bound(pod: Obj, now: str) -> None:
    """The scheduler's binding: the node, and PodScheduled, in one write."""
    pod["spec"]["nodeName"] = NODE
    pod_status.condition(pod, "PodScheduled", "True", now)
