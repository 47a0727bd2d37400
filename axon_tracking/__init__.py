"""Report a run's params, metrics, outputs, artifacts and progress to Axon from inside the
job; the standard library only (psutil and nvidia-ml-py, when the image has them, add CPU,
memory and GPU samples).

The names are those of Polyaxon's `tracking` module, so a training script moves over by its
import line. In a job Axon started (it sets AXON_RUN_UUID, AXON_API_URL and AXON_RUN_TOKEN)::

    import axon_tracking

    axon_tracking.init()                       # optional: the first call does it
    axon_tracking.log_inputs(lr=0.01)
    for step in range(1000):
        axon_tracking.log_metrics(step=step, loss=1.0 / (step + 1))
        axon_tracking.log_progress(epoch=step, of=1000)
    axon_tracking.log_model("model.pt")
    axon_tracking.log_outputs(accuracy=0.93)
    axon_tracking.end()                        # optional: done when the interpreter exits

Every call queues its report and returns in microseconds; a background thread sends the
queue in batches and retries what found no answer. When Axon cannot be reached, or refuses a
report, the job goes on: the client says so once on stderr and counts what it dropped
(`run.dropped`, and a line at the end).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from axon_tracking.run import Run, TrackingError

__all__ = [
    "Run",
    "TrackingError",
    "end",
    "get_or_create_run",
    "init",
    "log_artifact",
    "log_event",
    "log_inputs",
    "log_metrics",
    "log_model",
    "log_outputs",
    "log_progress",
    "log_tags",
    "set_description",
]

_current: Run | None = None
_lock = threading.Lock()


def init(
    uuid: str | None = None, api_url: str | None = None, token: str | None = None, **options: Any
) -> Run:
    """The run the module-level calls report to (a new one replaces any before it)."""
    global _current
    with _lock:
        if _current is not None:
            _current.end()
        _current = Run(uuid, api_url, token, **options)
        return _current


def get_or_create_run() -> Run:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = Run()
    return _current


def log_metrics(step: int | None = None, timestamp: float | None = None, **metrics: Any) -> None:
    """Metric values taken at `step`."""
    get_or_create_run().log_metrics(step, timestamp, **metrics)


def log_inputs(reset: bool = False, **inputs: Any) -> None:
    get_or_create_run().log_inputs(reset, **inputs)


def log_outputs(reset: bool = False, **outputs: Any) -> None:
    get_or_create_run().log_outputs(reset, **outputs)


def log_tags(tags: str | list[str], reset: bool = False) -> None:
    get_or_create_run().log_tags(tags, reset)


def set_description(description: str) -> None:
    get_or_create_run().set_description(description)


def log_event(name: str, timestamp: float | None = None, **data: Any) -> None:
    get_or_create_run().log_event(name, timestamp, **data)


def log_progress(value: float | None = None, of: float | None = None, **fields: Any) -> None:
    get_or_create_run().log_progress(value, of, **fields)


def log_artifact(path: str | os.PathLike[str], name: str | None = None, kind: str = "file") -> None:
    get_or_create_run().log_artifact(path, name, kind)


def log_model(
    path: str | os.PathLike[str], name: str | None = None, framework: str | None = None
) -> None:
    get_or_create_run().log_model(path, name, framework)


def end(timeout: float | None = None) -> None:
    """Send what is queued and stop; the interpreter's exit does it too."""
    global _current
    with _lock:
        if _current is not None:
            if timeout is None:
                _current.end()
            else:
                _current.end(timeout)
            _current = None
