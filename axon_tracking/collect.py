"""Upload a run's outputs directory to Axon once the job has ended: the collector beside a job.

`python -m axon_tracking.collect <directory> [--now]` waits for SIGTERM (a native sidecar gets
it once the pod's main container has exited) and then PUTs every file below `<directory>` to
`/api/v1/runs/<uuid>/artifacts/outputs/<its relative path>` with the run's token (AXON_RUN_UUID,
AXON_API_URL, AXON_RUN_TOKEN, as Axon gives every job); `--now` uploads at once. A file of the
same path replaces the one before, so collecting twice never keeps two. What is not uploaded
(more than AXON_OUTPUTS_MAX_FILES files, a link, a file Axon refuses, such as one past its size
limit) is named in a job event `outputs`, and on stderr. It imports only the standard library
and nothing of its package, so it also runs as `python -c <this file's text>` in any image with
Python 3.8 or later.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import IO

MAX_FILES = 1000
MAX_REASONS = 20  # refusals named one by one in the event; the rest are counted
RETRIES = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt
TIMEOUT = 30.0
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class Collector:
    def __init__(self, directory: str, api_url: str, uuid: str, token: str, most: int) -> None:
        self.directory = directory
        self.base = f"{api_url.rstrip('/')}/api/v1/runs/{uuid}"
        self.token = token
        self.most = most
        self.files = 0
        self.size = 0
        self.refused: list[str] = []

    def run(self) -> None:
        found = self.walk()
        for index, (relative, size) in enumerate(found):
            where = f"outputs/{relative}"
            if index >= self.most:
                self.refused.append(
                    f"{where}: more than {self.most} files in the outputs directory"
                )
                continue
            problem = self.put(where, os.path.join(self.directory, relative), size)
            if problem:
                self.refused.append(f"{where}: {problem}")
            else:
                self.files, self.size = self.files + 1, self.size + size
        say(f"uploaded {self.files} files ({self.size} bytes) of {self.directory}")
        if self.refused:
            for reason in self.refused[:MAX_REASONS]:
                say(f"not uploaded: {reason}")
            self.tell()

    def walk(self) -> list[tuple[str, int]]:
        found = []
        for top, dirs, names in os.walk(self.directory):
            for name in sorted(dirs) + sorted(names):
                path = os.path.join(top, name)
                relative = os.path.relpath(path, self.directory).replace(os.sep, "/")
                if os.path.islink(path):
                    self.refused.append(f"outputs/{relative}: a symbolic link, not collected")
                elif name in names and os.path.isfile(path):
                    found.append((relative, os.path.getsize(path)))
        return sorted(found)

    def put(self, where: str, path: str, size: int) -> str | None:
        """None once Axon took the file; else why it did not."""
        url = f"{self.base}/artifacts/{urllib.parse.quote(where, safe='/')}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        problem = ""
        for attempt in range(RETRIES + 1):
            try:
                with open(path, "rb") as body:
                    problem, retry = self.call(url, "PUT", body, headers)
            except OSError as exc:  # the file went away, or cannot be read
                return f"cannot be read: {exc}"
            if not problem or not retry:
                return problem or None
            if attempt < RETRIES:
                time.sleep(BACKOFF * 2**attempt)
        return problem

    def tell(self) -> None:
        data = {"files": self.files, "bytes": self.size, "refused": self.refused[:MAX_REASONS]}
        data["refused_count"] = len(self.refused)
        event = {"events": [{"name": "outputs", "data": data, "time": time.time()}]}
        body = json.dumps(event).encode()
        problem, _ = self.call(
            f"{self.base}/job-events", "POST", body, {"Content-Type": "application/json"}
        )
        if problem:
            say(f"the outputs event was not recorded: {problem}")

    def call(
        self, url: str, method: str, body: bytes | IO[bytes], headers: dict[str, str]
    ) -> tuple[str, bool]:
        """('', False) when Axon answered 2xx; else the problem and whether to try again."""
        headers = {**headers, "Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(url, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT):
                return "", False
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {detail(exc)}", exc.code in RETRYABLE
        except (OSError, ValueError) as exc:  # refused, reset, timed out
            return f"Axon cannot be reached: {exc}", True


def detail(error: urllib.error.HTTPError) -> str:
    text = error.read().decode(errors="replace")[:500]
    try:
        answer = json.loads(text)
    except ValueError:
        return text.strip() or str(error.reason)
    if isinstance(answer, dict):
        inner = answer.get("error")
        if isinstance(inner, dict):
            inner = inner.get("message")
        return str(answer.get("message") or inner or text)
    return text


def say(message: str) -> None:
    print(f"axon collect: {message}", file=sys.stderr, flush=True)


def wait_for_end(directory: str) -> None:
    """Until SIGTERM or SIGINT: the kubelet stops a native sidecar once the main container ends."""
    ended = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: ended.set())
    say(f"collecting {directory} when the job ends")
    while not ended.wait(1.0):
        pass


def main(argv: list[str]) -> int:
    now = "--now" in argv
    paths = [arg for arg in argv if arg != "--now"]
    if len(paths) != 1:
        say("usage: python -m axon_tracking.collect <directory> [--now]")
        return 2
    missing = [k for k in ("AXON_RUN_UUID", "AXON_API_URL") if not os.environ.get(k)]
    if missing:
        say(f"{', '.join(missing)} not set: nowhere to upload")
        return 2
    try:
        most = int(os.environ.get("AXON_OUTPUTS_MAX_FILES") or MAX_FILES)
    except ValueError:
        say("AXON_OUTPUTS_MAX_FILES: expected a whole number")
        return 2
    if not now:
        wait_for_end(paths[0])
    collector = Collector(
        paths[0],
        os.environ["AXON_API_URL"],
        os.environ["AXON_RUN_UUID"],
        os.environ.get("AXON_RUN_TOKEN", ""),
        most,
    )
    collector.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
