"""One list-then-watch per resource kind, in a thread, feeding a queue: informer-style.

Each `KindWatch` lists its kind with the label selector (one call for every run), hands the
list over as a `Synced` item, then watches from the list's resourceVersion with bookmarks and a
server-side timeout, reconnecting from the last version it saw. A 410 Gone (history compacted)
means list again and resume; connection errors, 429 and 5xx are retried with a capped backoff.
Any other refusal of a core kind (403 when the role may not list or watch Jobs or pods) ends the
observer with `Refused` in the server's words, naming the verb and namespace: the agent logs it
and observes again after its own backoff, so a role fixed on a live cluster is picked up.
A Kubeflow kind the cluster lacks (404) or the role may not read (403) counts as listed and
empty, and is looked for again every `RECHECK_SECONDS`, or at once when `Rediscovery` is asked
(a run of that kind was submitted or stopped): CRDs installed after the agent started are
watched from then on. Objects stay plain dicts as the server sent them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException

from runners.kubernetes.api import (
    REQUEST_TIMEOUT,
    is_transient,
    read_json,
    refusal,
    status_message,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
BACKOFF_START, BACKOFF_CAP = 0.5, 30.0
RECHECK_SECONDS = 10.0  # how often a kind the cluster lacked is looked for again


class Rediscovery:
    """Asks the watches of absent kinds to look again now, by plural."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._asked: dict[str, int] = {}

    def ask(self, plural: str) -> None:
        with self._cond:
            self._asked[plural] = self._asked.get(plural, 0) + 1
            self._cond.notify_all()

    def asked(self, plural: str) -> int:
        with self._cond:
            return self._asked.get(plural, 0)

    def wait(self, plural: str, since: int, timeout: float) -> None:
        """Until `plural` is asked for after `since` (a count from `asked`), or `timeout`."""
        with self._cond:
            self._cond.wait_for(lambda: self._asked.get(plural, 0) != since, timeout)


@dataclass(frozen=True)
class Resource:
    """A kind to watch: its plural and its list call with the arguments before the keywords."""

    plural: str
    namespace: str
    list_call: Callable[..., Any]
    args: tuple[Any, ...]
    optional: bool = False  # a Kubeflow kind: absent or forbidden means "not used here"


@dataclass(frozen=True)
class Synced:
    """A fresh list: every matching object of the kind in the namespace now."""

    plural: str
    namespace: str
    objects: list[Obj]
    relisted: bool = False


@dataclass(frozen=True)
class Changed:
    """One watch event: ADDED, MODIFIED or DELETED."""

    plural: str
    type: str
    obj: Obj


@dataclass(frozen=True)
class Failed:
    """The watch cannot go on (401, 403 on a core kind, a bug): observe() raises it."""

    plural: str
    error: BaseException


class KindWatch(threading.Thread):
    """Lists and watches one kind until `stop()`; puts Synced, Changed and Failed on `out`."""

    def __init__(
        self,
        resource: Resource,
        selector: str,
        out: queue.Queue[Synced | Changed | Failed],
        timeout: int,
        rediscovery: Rediscovery | None = None,
    ) -> None:
        super().__init__(name=f"axon-watch-{resource.plural}", daemon=True)
        self.resource = resource
        self.selector = selector
        self.out = out
        self.timeout = timeout
        self.rediscovery = rediscovery or Rediscovery()
        self._stopping = threading.Event()
        self._stream: Stream | None = None

    def stop(self) -> None:
        self._stopping.set()
        current = self._stream
        if current is not None:
            current.close()

    def run(self) -> None:
        version: str | None = None
        delay, listed, absent, asked = BACKOFF_START, False, False, 0
        while not self._stopping.is_set():
            verb = "list"
            try:
                if version is None:
                    asked = self.rediscovery.asked(self.resource.plural)
                    version = self._list(relisted=listed)
                    listed = True
                verb = "watch"
                version = self._follow(version)
                delay = BACKOFF_START
            except ApiException as exc:
                if self._stopping.is_set():
                    return
                if exc.status == 410:
                    version = None  # history compacted: list again, resume from the new version
                    continue
                if self.resource.optional and exc.status in (403, 404) and not listed:
                    if not absent:
                        why = "not installed" if exc.status == 404 else "not allowed by the role"
                        log.warning("not watching %s yet: %s", self.resource.plural, why)
                        self.out.put(Synced(self.resource.plural, self.resource.namespace, []))
                        absent = True
                    self._look_again(asked)
                    continue
                if not is_transient(exc):
                    where = f"{self.resource.plural} in namespace {self.resource.namespace}"
                    # Not chained: the client's dump of the HTTP exchange says nothing more.
                    self.out.put(
                        Failed(
                            self.resource.plural,
                            refusal(f"kubernetes refused to {verb} {where}", exc),
                        )
                    )
                    return
                log.warning(
                    "watch %s: %s %s", self.resource.plural, exc.status, status_message(exc)
                )
                delay = self._pause(delay)
            except Exception as exc:
                if self._stopping.is_set():
                    return
                if not is_transient(exc):
                    self.out.put(Failed(self.resource.plural, exc))
                    return
                log.warning("watch %s: %s", self.resource.plural, exc)
                delay = self._pause(delay)

    def _look_again(self, asked: int) -> None:
        """Wait until the absent kind is worth another look: asked for, or a while passed."""
        deadline = time.monotonic() + RECHECK_SECONDS
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.rediscovery.asked(self.resource.plural) != asked:
                return
            self.rediscovery.wait(self.resource.plural, asked, min(left, 0.2))

    def _pause(self, delay: float) -> float:
        self._stopping.wait(delay)
        return min(delay * 2, BACKOFF_CAP)

    def _list(self, relisted: bool) -> str:
        found = read_json(
            f"list {self.resource.plural}",
            self.resource.list_call,
            *self.resource.args,
            label_selector=self.selector,
        )
        items = list(found.get("items") or [])
        self.out.put(Synced(self.resource.plural, self.resource.namespace, items, relisted))
        return str(found["metadata"]["resourceVersion"])

    def _follow(self, version: str) -> str:
        """Watch from `version` until the server ends the stream; returns the last version."""
        stream = Stream(
            self.resource.list_call,
            *self.resource.args,
            label_selector=self.selector,
            resource_version=version,
            allow_watch_bookmarks=True,
            watch=True,
            timeout_seconds=self.timeout,
            _request_timeout=(REQUEST_TIMEOUT[0], self.timeout + 30),
        )
        self._stream = stream
        try:
            if self._stopping.is_set():  # stop() came before the stream existed
                return version
            for event in watch_events(stream.lines()):
                version = str(event["object"]["metadata"].get("resourceVersion") or version)
                if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    self.out.put(Changed(self.resource.plural, event["type"], event["object"]))
        finally:
            self._stream = None
            stream.finish()
        return version


class Stream:
    """One streaming answer (a watch, a followed log) read as lines; `close()` from another
    thread unblocks the reader at once."""

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.response = function(*args, _preload_content=False, **kwargs)
        self.closed = False

    def lines(self) -> Iterator[str]:
        """Complete lines, without their newline; bad UTF-8 becomes U+FFFD."""
        buffer = bytearray()
        try:
            for chunk in self._chunks():
                buffer.extend(chunk)
                *complete, rest = buffer.split(b"\n")
                buffer = bytearray(rest)
                for line in complete:
                    yield line.decode("utf-8", errors="replace")
        except Exception:
            if not self.closed:
                raise
            return
        if buffer and not self.closed:
            yield buffer.decode("utf-8", errors="replace")

    def _chunks(self) -> Iterator[bytes]:
        if self.response.chunked:
            yield from self.response.stream(None, decode_content=False)
            return
        while chunk := self.response.read1(65536):
            yield chunk

    def close(self) -> None:
        """Stop reading: shut the socket down under the reader."""
        self.closed = True
        try:
            self.response.shutdown()
        except (OSError, ValueError, RuntimeError):
            pass  # already closed or released

    def finish(self) -> None:
        self.response.close()
        self.response.release_conn()


def watch_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Watch events from JSON lines, BOOKMARKs (a version, no object) included. An ERROR event
    raises ApiException with its code (410: the version asked for is older than the server's
    history). Blank lines are skipped."""
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("type") == "ERROR":
            status = event.get("object") or {}
            reason = f"{status.get('reason', '')}: {status.get('message', '')}"
            raise ApiException(status=int(status.get("code") or 500), reason=reason)
        yield event


@dataclass
class Pump:
    """Runs a blocking iterator in a thread so its consumer can give up at any moment."""

    produce: Callable[[], Iterator[Any]]
    on_stop: Callable[[], None] = lambda: None
    items: queue.Queue[Any] = field(default_factory=queue.Queue)
    done: threading.Event = field(default_factory=threading.Event)

    END = object()

    def start(self) -> Pump:
        threading.Thread(target=self._run, name="axon-pump", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            for item in self.produce():
                self.items.put(item)
                if self.done.is_set():
                    break
        except Exception as exc:
            self.items.put(exc)
        finally:
            self.items.put(self.END)

    def get(self, stop: threading.Event, tick: float = 1.0) -> Any:
        """The next item, END when the iterator ended, or END once `stop` is set.

        An item wakes the wait at once; `tick` only bounds how late `stop` is noticed. Every
        followed run's log has a pump, so a short tick is thousands of wake-ups a second that
        contend for the interpreter with the agent's recording for nothing."""
        while not stop.is_set():
            try:
                item = self.items.get(timeout=tick)
            except queue.Empty:
                continue
            if isinstance(item, Exception):
                raise item
            return item
        return self.END

    def close(self) -> None:
        self.done.set()
        self.on_stop()
