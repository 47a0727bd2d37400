"""The two long answers: a watch (chunked JSON lines) and a followed pod log (chunked text).

A watch writes one `{"type": …, "object": …}` line per event and flushes it: no blank line
ever. Without a resourceVersion (or with "0") it starts with ADDED for what exists; from an
RV it replays the changes after it, or sends one ERROR 410 Expired when they are compacted.
It ends cleanly at timeoutSeconds (the server's default when none is given), with a BOOKMARK
first when bookmarks were asked for. An object that stops matching the selectors is DELETED
for this watch; one that starts matching is ADDED.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from tests.fakes.kubernetes import status
from tests.fakes.kubernetes.kubelet import LogBuffer
from tests.fakes.kubernetes.params import flag, number, resource_version
from tests.fakes.kubernetes.selectors import FieldSelector, LabelSelector
from tests.fakes.kubernetes.store import RESOURCES, Change, Expired, Obj
from tests.fakes.kubernetes.versions import BOOKMARKS, WATCH_LIST

if TYPE_CHECKING:
    from tests.fakes.kubernetes.server import ApiServer, Route

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")


def _line(kind: str, obj: Obj) -> bytes:
    return (json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n").encode()


class WatchStream:
    def __init__(
        self,
        server: ApiServer,
        route: Route,
        args: Any,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> None:
        self.server, self.store, self.route = server, server.store, route
        self.labels, self.fields = labels, fields
        version = server.cluster.admission.server
        self.asked_bookmarks = flag(args, "allowWatchBookmarks")
        self.bookmarks_always = version.has(BOOKMARKS)
        initial = flag(args, "sendInitialEvents") and version.has(WATCH_LIST)
        timeout = number(args, "timeoutSeconds")
        self.timeout = float(timeout) if timeout else server.watch_timeout
        rv = args.get("resourceVersion") or ""
        if rv:
            resource_version(rv)
        self.error: str | None = None
        self.initial: list[Obj] | None = None
        self.initial_bookmark = initial and self.bookmarks
        with self.store.cond:
            self.kills = server.kills
            if rv in ("", "0") or initial:
                self.cursor = self.store.rv
                objects = self.store.list(route.resource.plural, route.namespace)
                self.initial = [obj for obj in objects if self._matches(obj)]
            else:
                self.cursor = int(rv)
                try:
                    self.store.changes_after(self.cursor)
                except Expired as expired:
                    self.error = str(expired)

    @property
    def bookmarks(self) -> bool:
        """Whether bookmarks are sent now: asked for, and (before 1.21, as a real 1.20's watch
        cache does) only once the resource has changed since the server started."""
        if not self.asked_bookmarks:
            return False
        return self.bookmarks_always or self.route.resource.plural in self.store.touched

    def response(self) -> Response:
        return Response(
            self._events(), 200, content_type="application/json", direct_passthrough=True
        )

    def _events(self) -> Iterator[bytes]:
        yield b""  # the status line and headers go out now, before any event
        if self.error is not None:
            yield _line("ERROR", status.expired(self.error).body())
            return
        for obj in self.initial or ():
            yield _line("ADDED", obj)
        if self.initial_bookmark:
            yield _line("BOOKMARK", self._bookmark({INITIAL_EVENTS_END: "true"}))
        clock = self.server.cluster.clock
        deadline = time.monotonic() + clock.wall(self.timeout)
        interval = clock.wall(self.server.bookmark_interval)
        next_bookmark = time.monotonic() + interval
        while True:
            batch, ended, bookmark = self._next(deadline, next_bookmark)
            if batch is None:
                return
            yield from batch
            if bookmark:
                yield _line("BOOKMARK", self._bookmark())
                next_bookmark = time.monotonic() + interval
            if ended:
                return

    def _next(self, deadline: float, next_bookmark: float) -> tuple[list[bytes] | None, bool, bool]:
        """The next lines to send, whether the watch is over, whether a bookmark is due."""
        with self.store.cond:
            while True:
                if self.server.stopping.is_set() or self.server.kills != self.kills:
                    return None, True, False
                try:
                    changes = self.store.changes_after(self.cursor, live=True)
                except Expired as expired:
                    return [_line("ERROR", status.expired(str(expired)).body())], True, False
                now = time.monotonic()
                ended = now >= deadline
                due = self.bookmarks and (ended or now >= next_bookmark)
                if changes or ended or due:
                    break
                wake = min(deadline, next_bookmark) if self.bookmarks else deadline
                self.store.cond.wait(max(wake - now, 0.001))
            lines = []
            for change in changes:
                self.cursor = change.rv
                event = self._event(change)
                if event is not None:
                    lines.append(_line(*event))
            if due and not changes:
                self.cursor = max(self.cursor, self.store.rv)
            return lines, ended and not changes, due and not changes

    def _event(self, change: Change) -> tuple[str, Obj] | None:
        if change.resource.plural != self.route.resource.plural:
            return None
        namespace = change.obj["metadata"].get("namespace")
        if self.route.namespace is not None and namespace != self.route.namespace:
            return None
        if change.type == "DELETED":
            return ("DELETED", change.obj) if self._matches(change.old or change.obj) else None
        now = self._matches(change.obj)
        before = change.old is not None and self._matches(change.old)
        if change.type == "ADDED" or not before:
            return ("ADDED", change.obj) if now else None
        return ("MODIFIED" if now else "DELETED", change.obj)

    def _matches(self, obj: Obj) -> bool:
        return self.labels.matches(obj["metadata"].get("labels")) and self.fields.matches(obj)

    def _bookmark(self, annotations: dict[str, str] | None = None) -> Obj:
        resource = self.route.resource
        metadata: dict[str, Any] = {"resourceVersion": str(self.cursor)}
        if annotations:
            metadata["annotations"] = annotations
        return {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata}


class LogStream:
    """GET …/pods/{name}/log: what the container wrote, and with follow=true, what it writes."""

    def __init__(self, server: ApiServer, namespace: str, name: str, args: Any) -> None:
        self.server, self.store, self.clock = server, server.store, server.cluster.clock
        self.follow = flag(args, "follow")
        self.timestamps = flag(args, "timestamps")
        self.limit = number(args, "limitBytes")
        tail, since = number(args, "tailLines"), number(args, "sinceSeconds")
        with self.store.cond:
            self.kills = server.kills
            self.buffer = self._buffer(
                namespace, name, args.get("container"), flag(args, "previous")
            )
            lines = self.buffer.lines
            start = 0
            if since is not None:
                cutoff = self.clock.now() - since
                start = next((i for i, (t, _) in enumerate(lines) if t >= cutoff), len(lines))
            if tail is not None:
                start = max(start, len(lines) - tail)
            self.position = start

    def _buffer(
        self, namespace: str, name: str, container: str | None, previous: bool
    ) -> LogBuffer:
        pod = self.store.get("pods", namespace, name)
        if pod is None:
            raise status.not_found(RESOURCES["pods"], name)
        mains = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
        if container is None:
            if len(mains) != 1:
                extra = f" or one of the init containers: [{' '.join(inits)}]" if inits else ""
                raise status.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(mains)}]{extra}"
                )
            container = mains[0]
        if container not in mains + inits:
            raise status.bad_request(f"container {container} is not valid for pod {name}")
        buffers = self.server.cluster.kubelet.logs.get((namespace, name, container), [])
        if previous:
            if len(buffers) < 2:
                raise status.bad_request(
                    f'previous terminated container "{container}" in pod "{name}" not found'
                )
            return buffers[-2]
        if buffers:
            return buffers[-1]
        if container in inits:
            return LogBuffer(done=True)
        if not pod["spec"].get("nodeName"):
            raise status.bad_request(f"pod {name} does not have a host assigned")
        statuses = pod["status"].get("containerStatuses") or []
        found = next((s for s in statuses if s["name"] == container), {})
        reason = (found.get("state") or {}).get("waiting", {}).get("reason", "ContainerCreating")
        if reason in _PULL_FAILURES:
            reason = "trying and failing to pull image"
        raise status.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: {reason}'
        )

    def response(self) -> Response:
        if self.follow:
            return Response(self._follow(), 200, content_type="text/plain", direct_passthrough=True)
        with self.store.cond:
            text = b"".join(self._take())
        return Response(text, 200, content_type="text/plain")

    def _take(self) -> list[bytes]:
        chunks = []
        for moment, line in self.buffer.lines[self.position :]:
            prefix = f"{self.clock.precise(moment)} " if self.timestamps else ""
            chunk = f"{prefix}{line}\n".encode()
            if self.limit is not None:
                chunk, self.limit = chunk[: self.limit], self.limit - len(chunk[: self.limit])
            if chunk:
                chunks.append(chunk)
        self.position = len(self.buffer.lines)
        return chunks

    def _follow(self) -> Iterator[bytes]:
        yield b""
        while True:
            with self.store.cond:
                while self.position == len(self.buffer.lines) and not self.buffer.done:
                    if self.server.stopping.is_set() or self.server.kills != self.kills:
                        return
                    self.store.cond.wait(0.5)
                chunks, done = self._take(), self.buffer.done
            yield from chunks
            if (done and self.position == len(self.buffer.lines)) or self.limit == 0:
                return
