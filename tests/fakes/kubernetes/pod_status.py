"""Edits of a pod's status as the kubelet makes them: conditions, container states, phase."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.fakes.kubernetes.store import Obj

_CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
_CONDITION_ORDER += ("PodScheduled", "DisruptionTarget")
TERMINAL = ("Succeeded", "Failed")


def condition(
    pod: Obj,
    kind: str,
    status: str,
    now: str,
    reason: str | None = None,
    message: str | None = None,
) -> None:
    """Set a condition; its lastTransitionTime moves only when its status changes."""
    conditions = pod["status"].setdefault("conditions", [])
    found = next((c for c in conditions if c["type"] == kind), None)
    entry: dict[str, Any] = {"type": kind, "status": status, "lastProbeTime": None}
    moved = found is None or found["status"] != status
    entry["lastTransitionTime"] = now if found is None or moved else found["lastTransitionTime"]
    if reason:
        entry["reason"] = reason
    if message:
        entry["message"] = message
    if found is not None:
        conditions.remove(found)
    conditions.append(entry)
    conditions.sort(key=lambda c: _CONDITION_ORDER.index(c["type"]))


def image_name(image: str) -> str:
    """The image as the runtime reports it: docker.io/library/python:3.11."""
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        image = f"docker.io/{image if rest else 'library/' + image}"
    tail = image.rsplit("/", 1)[-1]
    return image if ":" in tail or "@" in tail else image + ":latest"


def accepted(pod: Obj, now: str, host_ip: str, pod_ip: str, minor: int = 99) -> None:
    """The kubelet took the pod: IPs, start time, containers waiting to be created. `minor`:
    the server's minor version (`hostIPs` came in 1.28, `PodReadyToStartContainers` in 1.29)."""
    spec, status = pod["spec"], pod["status"]
    init = [c["name"] for c in spec.get("initContainers") or []]
    status.update(hostIP=host_ip, podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    if minor >= 28:
        status["hostIPs"] = [{"ip": host_ip}]
    status["startTime"] = now
    if minor >= 29:
        condition(pod, "PodReadyToStartContainers", "True", now)
    if init:
        waiting = f"containers with incomplete status: [{' '.join(init)}]"
        condition(pod, "Initialized", "False", now, "ContainersNotInitialized", waiting)
        status["initContainerStatuses"] = [
            _waiting(c, "PodInitializing") for c in spec["initContainers"]
        ]
    else:
        condition(pod, "Initialized", "True", now)
    _unready(pod, now)
    reason = "PodInitializing" if init else "ContainerCreating"
    status["containerStatuses"] = [_waiting(c, reason) for c in spec["containers"]]


def waiting(pod: Obj, reason: str, message: str | None) -> None:
    for status in pod["status"]["containerStatuses"]:
        status["state"] = {"waiting": _reason(reason, message)}


def running(pod: Obj, now: str) -> None:
    """Init containers done, every container running and ready."""
    status = pod["status"]
    for init in status.get("initContainerStatuses") or []:
        init.update(ready=True, started=False, imageID=_digest(init["image"]))
        _terminated(init, now, 0, "Completed")
    for container in status["containerStatuses"]:
        container["imageID"] = _digest(container["image"])
        container["containerID"] = _container_id(container)
        container.update(ready=True, started=True, state={"running": {"startedAt": now}})
    status["phase"] = "Running"
    for kind in ("Initialized", "Ready", "ContainersReady"):
        condition(pod, kind, "True", now)


def exited(pod: Obj, now: str, code: int, reason: str, message: str | None = None) -> None:
    """Every container exits; the first one's `message` is its termination message."""
    for index, container in enumerate(pod["status"]["containerStatuses"]):
        _terminated(container, now, code, reason)
        if index == 0 and message:
            container["state"]["terminated"]["message"] = message


def finished(pod: Obj, now: str) -> None:
    """The pod's terminal phase: Succeeded when every container exited 0, else Failed."""
    codes = [c["state"]["terminated"]["exitCode"] for c in pod["status"]["containerStatuses"]]
    succeeded = all(code == 0 for code in codes)
    pod["status"]["phase"] = "Succeeded" if succeeded else "Failed"
    reason = "PodCompleted" if succeeded else "PodFailed"
    condition(pod, "PodReadyToStartContainers", "False", now)
    condition(pod, "Ready", "False", now, reason)
    condition(pod, "ContainersReady", "False", now, reason)


def crash_loop(pod: Obj, now: str, delay: float) -> None:
    """A container that exited waits to restart: lastState, restartCount, CrashLoopBackOff."""
    uid, name, namespace = (pod["metadata"][k] for k in ("uid", "name", "namespace"))
    for container in pod["status"]["containerStatuses"]:
        container["lastState"] = container["state"]
        container["restartCount"] = container.get("restartCount", 0) + 1
        message = (
            f"back-off {max(int(delay), 10)}s restarting failed "
            f"container={container['name']} pod={name}_{namespace}({uid})"
        )
        container["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    _unready(pod, now)


def killed(pod: Obj, now: str) -> None:
    """A deleted pod: running containers stop (SIGTERM: 143), the phase is Failed."""
    status = pod["status"]
    if not pod["spec"].get("nodeName"):
        condition(
            pod, "DisruptionTarget", "True", now, "DeletionByPodGC", "PodGC: node no longer exists"
        )
    for container in status.get("containerStatuses") or []:
        if "running" in container["state"]:
            _terminated(container, now, 143, "Error")
    status["phase"] = "Failed"
    if status.get("containerStatuses"):
        condition(pod, "Ready", "False", now, "PodFailed")


def _unready(pod: Obj, now: str) -> None:
    names = " ".join(c["name"] for c in pod["spec"]["containers"])
    message = f"containers with unready status: [{names}]"
    condition(pod, "Ready", "False", now, "ContainersNotReady", message)
    condition(pod, "ContainersReady", "False", now, "ContainersNotReady", message)


def _waiting(container: Obj, reason: str) -> Obj:
    return {
        "name": container["name"],
        "image": image_name(container["image"]),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": reason}},
    }


def _terminated(container: Obj, now: str, code: int, reason: str) -> None:
    started = container["state"].get("running", {}).get("startedAt", now)
    container["state"] = {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": now,
            "containerID": container.get("containerID") or _container_id(container),
        }
    }
    container.update(ready=False, started=False)


def _reason(reason: str, message: str | None) -> Obj:
    return {"reason": reason, "message": message} if message else {"reason": reason}


def _digest(image: str) -> str:
    return f"{image.rsplit(':', 1)[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _container_id(container: Obj) -> str:
    return "containerd://" + hashlib.sha256(repr(container).encode()).hexdigest()
