"""Report a run's outputs to Axon from inside the job; standard library only.

Usage, in a job Axon started (it sets AXON_RUN_UUID, AXON_API_URL and AXON_RUN_TOKEN)::

    import axon_tracking

    axon_tracking.log_outputs(accuracy=0.93, model="s3://bucket/model.pt")

    for step in range(3):
        axon_tracking.log_metrics(step=step, loss=1.0 / (step + 1))

A metric is a series of numbers, each at a step: Axon keeps every report (a re-sent step
replaces its value), shows the latest as an output, and judges early stopping on the series.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["Run", "TrackingError", "log_metrics", "log_outputs"]

RETRIES = 3
BACKOFF = 0.5  # seconds, doubled after each failed attempt


class TrackingError(Exception):
    """Axon refused the report, or could not be reached after the retries."""


class Run:
    """One Axon run; the arguments default to the environment Axon gives the job."""

    def __init__(
        self, uuid: str | None = None, api_url: str | None = None, token: str | None = None
    ) -> None:
        self.uuid = uuid or _env("AXON_RUN_UUID")
        self.api_url = (api_url or _env("AXON_API_URL")).rstrip("/")
        self.token = token if token is not None else os.environ.get("AXON_RUN_TOKEN", "")

    def log_outputs(self, **outputs: Any) -> None:
        self._post("outputs", {"outputs": outputs})

    def log_metrics(self, step: int | None = None, **metrics: float) -> None:
        """Numbers taken at `step` (an epoch, a batch: a whole number from 0); without a step,
        the report counts after the one before it. Early stopping compares runs by step."""
        body: dict[str, Any] = {"metrics": metrics}
        if step is not None:
            body["step"] = step
        self._post("metrics", body)

    def _post(self, endpoint: str, body: dict[str, Any]) -> None:
        url = f"{self.api_url}/api/v1/runs/{self.uuid}/{endpoint}"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        for attempt in range(RETRIES + 1):
            try:
                with urllib.request.urlopen(request, timeout=30):
                    return
            except urllib.error.HTTPError as exc:  # an answer: retrying will not change it
                raise TrackingError(f"POST {url}: HTTP {exc.code}: {_detail(exc)}") from exc
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == RETRIES:
                    raise TrackingError(f"POST {url}: Axon unreachable: {exc}") from exc
                time.sleep(BACKOFF * 2**attempt)


def log_outputs(**outputs: Any) -> None:
    """Send outputs for the run this job belongs to, as named by the environment."""
    Run().log_outputs(**outputs)


def log_metrics(step: int | None = None, **metrics: float) -> None:
    """Send metric values taken at `step` for the run this job belongs to."""
    Run().log_metrics(step, **metrics)


def _detail(error: urllib.error.HTTPError) -> str:
    with error:
        text = error.read().decode(errors="replace").strip()
    try:
        answer = json.loads(text)
    except ValueError:
        return text or str(error.reason)
    if isinstance(answer, dict):
        return str(answer.get("message") or answer.get("error") or text)
    return text


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise TrackingError(f"{name} is not set; is this job running under Axon?")
    return value
