"""The background thread that carries a run's reports to Axon: batched, retried, and dropped
(counted, said once on stderr) rather than ever stopping the job.

A call in the training loop only appends to a deque; this thread wakes every
`flush_seconds` (or as soon as a batch is full), sends what is there in as few requests as the
endpoints allow, and retries what failed for want of an answer. An answer that refuses a report
will not change on a retry: that report is dropped.
"""

from __future__ import annotations

import collections
import json
import math
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

MAX_PER_REQUEST = 1_000  # values one metrics request carries (Axon's cap)
MAX_NAME = 128
MAX_QUEUED = 200_000  # reports waiting; beyond that new ones are dropped
RETRIES = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt
TIMEOUT = 10.0
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
SERIES = ("metrics", "system")  # endpoints whose reports travel as a list
MERGED = ("outputs", "inputs")  # endpoints whose reports merge into one object


@dataclass
class Item:
    endpoint: str
    body: Any
    path: str | None = None  # an artifact's local file
    count: int = 1


def _number(value: Any) -> float | str:
    number = float(value)
    if math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def finite(value: Any) -> Any:
    """`value` as strict JSON can carry it: NaN and infinities as strings, numpy numbers and
    other objects with `__float__` as floats."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if hasattr(value, "__float__"):
        return _number(value)
    return str(value)


@dataclass
class Sender:
    api_url: str
    uuid: str
    token: str
    flush_seconds: float = 1.0
    queue: collections.deque[Item] = field(default_factory=collections.deque)
    dropped: int = 0
    sent: int = 0
    told: set[str] = field(default_factory=set)
    wake: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    sample: Any = None  # a callable giving a system sample, or None

    def put(self, item: Item) -> None:
        if len(self.queue) >= MAX_QUEUED:
            self.drop(item.count, "queue", f"more than {MAX_QUEUED} reports wait to be sent")
            return
        self.queue.append(item)
        if self.thread is None and not self.stopping.is_set():
            self.start()

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
                thread = threading.Thread(target=self.loop, name="axon-tracking", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # the interpreter is exiting: `close` sends in its stead
                    return
                self.thread = thread

    def loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(self.flush_seconds)
            self.wake.clear()
            if self.sample is not None:
                self.sample()
            self.flush()
        self.flush()

    def close(self, timeout: float) -> None:
        """Send what waits, for at most `timeout` seconds, then stop the thread."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
        else:  # never started (nothing reported before the end, at interpreter exit)
            self.flush()
        waiting = sum(item.count for item in self.queue)
        if waiting:
            self.queue.clear()
            self.drop(waiting, "exit", f"Axon did not take them within {timeout:g} s of the end")
        if self.dropped:
            _say(f"{self.dropped} report(s) were dropped in all; {self.sent} were sent")

    def flush(self) -> None:
        """Send everything queued now, batched per endpoint, in the order it came."""
        taken: list[Item] = []
        while self.queue:
            taken.append(self.queue.popleft())
        valid = []
        for item in taken:
            problem = _series_problem(item.body) if item.endpoint in SERIES else None
            if problem:  # alone: sent in a batch, it would have the whole batch refused
                self.drop(1, f"invalid:{problem}", f"a report Axon would refuse: {problem}")
            else:
                valid.append(item)
        for item in _batched(valid):
            self.send(item)

    def send(self, item: Item) -> None:
        url = f"{self.api_url}/api/v1/runs/{self.uuid}/{item.endpoint}"
        for attempt in range(RETRIES + 1):
            problem = self._try(url, item)
            if problem is None:
                self.sent += item.count
                return
            retry, reason = problem
            if not retry:
                self.drop(item.count, f"refused:{item.endpoint}", reason)
                return
            if attempt < RETRIES:
                time.sleep(BACKOFF * 2**attempt)
        self.drop(item.count, "unreachable", reason)

    def _try(self, url: str, item: Item) -> tuple[bool, str] | None:
        """None when Axon took the item; else whether to retry, and why not."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if item.path is None:
            data = json.dumps(item.body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
            return self._call(urllib.request.Request(url, data, headers, method="POST"))
        try:
            source = open(item.path, "rb")  # noqa: SIM115 - closed below, after the call
        except OSError as exc:
            return False, f"{item.path} cannot be read: {exc}"
        with source:
            headers["Content-Length"] = str(os.fstat(source.fileno()).st_size)
            headers["Content-Type"] = "application/octet-stream"
            request = urllib.request.Request(url, source, headers, method="PUT")  # type: ignore[arg-type]
            return self._call(request)

    def _call(self, request: urllib.request.Request) -> tuple[bool, str] | None:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT):
                return None
        except urllib.error.HTTPError as exc:
            where = f"{request.get_method()} {request.full_url}"
            return exc.code in RETRYABLE, f"{where}: HTTP {exc.code}: {_detail(exc)}"
        except (OSError, ValueError) as exc:  # URLError, refused, reset, timed out
            return True, f"Axon at {self.api_url} cannot be reached: {exc}"

    def drop(self, count: int, kind: str, reason: str) -> None:
        self.dropped += count
        if kind not in self.told:  # once per kind of trouble: a dead server is not 10^5 lines
            self.told.add(kind)
            _say(f"dropping reports: {reason} (the job goes on; the count is given at the end)")


def _series_problem(body: dict[str, Any]) -> str | None:
    step, values = body.get("step"), body.get("metrics")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        return f"step {step!r} is not a whole number from 0"
    if not isinstance(values, dict) or not values:
        return "no metric values"
    for name, value in values.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            return f"metric name {str(name)[:40]!r} is not 1 to {MAX_NAME} characters"
        if isinstance(value, bool | str) or not hasattr(value, "__float__"):
            return f"metric {name!r} is {type(value).__name__}, not a number"
    return None


def _batched(items: list[Item]) -> list[Item]:
    """Consecutive series reports as lists of at most MAX_PER_REQUEST values, consecutive
    output (or input) reports merged into one, and only the last of consecutive progress
    reports (each replaces the one before)."""
    out: list[Item] = []
    values = 0
    for item in items:
        last = out[-1] if out else None
        if item.endpoint in SERIES:
            size = max(1, len(item.body.get("metrics", {})))
            if (
                last is not None
                and last.endpoint == item.endpoint
                and values + size <= MAX_PER_REQUEST
            ):
                last.body.append(finite(item.body))
                last.count += 1
                values += size
                continue
            out.append(Item(item.endpoint, [finite(item.body)]))
            values = size
        elif (
            item.endpoint in MERGED
            and last is not None
            and last.endpoint == item.endpoint
            and not item.body.get("reset")
        ):
            last.body[item.endpoint].update(finite(item.body[item.endpoint]))
            last.count += 1
        elif item.endpoint == "progress" and last is not None and last.endpoint == "progress":
            out[-1] = Item(item.endpoint, finite(item.body))
        else:
            out.append(Item(item.endpoint, finite(item.body), item.path, item.count))
    return out


def _detail(error: urllib.error.HTTPError) -> str:
    with error:
        text = error.read().decode(errors="replace").strip()
    try:
        answer = json.loads(text)
    except ValueError:
        return text or str(error.reason)
    if isinstance(answer, dict):
        inner = answer.get("error")
        if isinstance(inner, dict):
            return str(inner.get("message") or text)
        return str(answer.get("message") or inner or text)
    return text


def _say(message: str) -> None:
    print(f"axon_tracking: {message}", file=sys.stderr, flush=True)


def quote(path: str) -> str:
    return urllib.parse.quote(path, safe="/")
