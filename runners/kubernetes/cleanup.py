"""Finished objects stay on the cluster until Axon has recorded their end; then they go.

A Job deleted by its `ttlSecondsAfterFinished` while no agent watched took its pods and their
logs with it, and the run was recorded `failed Missing`. So the server is never given a TTL:
`hold_until_recorded` moves the spec's `termination.ttl` into the annotation
`axon.dev/ttl-seconds`, and once the agent has recorded the run's end and kept its logs it
calls the runner's `recorded(external_id)`, which deletes the main object (its pods and Service
go with it, by the garbage collector) at once, or `ttl` seconds after the run ended when the
spec asked to keep it that long. An agent that starts again sees the finished objects still
there, records what it missed, and deletes them; so finished runs do not pile up to be listed
on every start.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from runners.kubernetes.pod_status import parse_time
from runners.kubernetes.status import RunView, terminal

log = logging.getLogger(__name__)
KEEP = "axon.dev/ttl-seconds"
Obj = dict[str, Any]
Clock = Callable[[], datetime]


def hold_until_recorded(body: Obj) -> Obj:
    """The main object's manifest without a TTL for the server; the TTL as an annotation."""
    spec = body.get("spec") or {}
    ttl = spec.pop("ttlSecondsAfterFinished", None)
    policy = spec.get("runPolicy")  # the Kubeflow kinds keep theirs in runPolicy
    if isinstance(policy, dict):
        ttl = policy.pop("ttlSecondsAfterFinished", ttl)
    if ttl is not None:
        body.setdefault("metadata", {}).setdefault("annotations", {})[KEEP] = str(int(ttl))
    return body


def delete_after(plural: str, obj: Obj, now: datetime) -> datetime:
    """When a recorded run's object may go: now, or `ttl` seconds after the run ended."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        keep = int(annotations.get(KEEP) or 0)
    except ValueError:
        keep = 0
    if keep <= 0:
        return now
    done = terminal(RunView(plural, obj))
    ended = (done.at if done is not None else None) or _completion(obj) or now
    return max(now, ended + timedelta(seconds=keep))


class Reaper:
    """Deletes what is due now at once, and what is due later from one thread, in time order.

    A deletion that fails is logged and left: the next agent to start sees the object again,
    records nothing new, and asks once more.
    """

    def __init__(self, delete: Callable[[str], None], clock: Clock | None = None) -> None:
        self.delete = delete
        self.clock = clock or (lambda: datetime.now(UTC))
        self._due: list[tuple[datetime, str]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def at(self, when: datetime, external_id: str) -> None:
        if when <= self.clock():
            self._delete(external_id)
            return
        with self._wake:
            heapq.heappush(self._due, (when, external_id))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="axon-reaper", daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> list[str]:
        with self._wake:
            return [external_id for _, external_id in sorted(self._due)]

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._due or self._due[0][0] > self.clock()):
                    wait = (self._due[0][0] - self.clock()).total_seconds() if self._due else None
                    self._wake.wait(min(wait, 1.0) if wait is not None else None)
                if self._closed:
                    return
                _, external_id = heapq.heappop(self._due)
            self._delete(external_id)

    def _delete(self, external_id: str) -> None:
        try:
            self.delete(external_id)
        except Exception:  # the next agent start asks again
            log.warning("could not delete the finished run %s", external_id, exc_info=True)


def _completion(obj: Obj) -> datetime | None:
    return parse_time((obj.get("status") or {}).get("completionTime"))
