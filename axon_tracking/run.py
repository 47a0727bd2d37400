"""One Axon run as its job sees it: Polyaxon's tracking calls, each queued for the background
sender (`axon_tracking.sender`) so that none holds up the job for more than a few microseconds.
"""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path
from typing import Any

from axon_tracking.sender import Item, Sender, quote
from axon_tracking.system import Sampler

END_TIMEOUT = 30.0  # seconds the end of the job waits for Axon to take what is queued


class TrackingError(Exception):
    """The job's environment does not name an Axon run."""


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise TrackingError(f"{name} is not set; is this job running under Axon?")
    return value


class Run:
    """One Axon run; the arguments default to the environment Axon gives the job
    (AXON_RUN_UUID, AXON_API_URL, AXON_RUN_TOKEN; AXON_OUTPUTS_PATH, if set, is a directory
    uploaded as the run's `outputs/` when it ends).

    `system_interval`: seconds between samples of the job's CPU, memory (with psutil) and GPUs
    (with nvidia-ml-py); 0 turns them off. Where the runner samples the job from outside
    (AXON_SYSTEM_SAMPLED_BY is set, as the local runner does), the client leaves it to it.
    """

    def __init__(
        self,
        uuid: str | None = None,
        api_url: str | None = None,
        token: str | None = None,
        *,
        flush_seconds: float = 1.0,
        system_interval: float = 10.0,
        outputs_path: str | None = None,
    ) -> None:
        self.uuid = uuid or _env("AXON_RUN_UUID")
        self.api_url = (api_url or _env("AXON_API_URL")).rstrip("/")
        self.token = token if token is not None else os.environ.get("AXON_RUN_TOKEN", "")
        self.outputs_path = outputs_path or os.environ.get("AXON_OUTPUTS_PATH") or None
        self._sender = Sender(self.api_url, self.uuid, self.token, flush_seconds)
        self._ended = False
        if system_interval > 0 and not os.environ.get("AXON_SYSTEM_SAMPLED_BY"):
            sampler = Sampler(system_interval)
            if sampler.available:
                self._sender.sample = lambda: self._sample(sampler)
                self._sender.start()
        atexit.register(self.end)

    @property
    def dropped(self) -> int:
        """Reports that did not reach Axon (it refused them, or could not be reached)."""
        return self._sender.dropped

    def log_metrics(
        self, step: int | None = None, timestamp: float | None = None, **metrics: Any
    ) -> None:
        """Numbers taken at `step` (an epoch, a batch: a whole number from 0); without a step,
        the report goes after the highest step so far. NaN and infinities are kept."""
        body = {"metrics": metrics, "time": timestamp or time.time()}
        if step is not None:
            body["step"] = step
        self._sender.put(Item("metrics", body))

    def log_inputs(self, reset: bool = False, **inputs: Any) -> None:
        """Params the job chose itself, added to the run's inputs."""
        self._sender.put(Item("inputs", {"inputs": inputs, "reset": reset}))

    def log_outputs(self, reset: bool = False, **outputs: Any) -> None:
        self._sender.put(Item("outputs", {"outputs": outputs, "reset": reset}))

    def log_tags(self, tags: str | list[str], reset: bool = False) -> None:
        self._sender.put(
            Item("tags", {"tags": [tags] if isinstance(tags, str) else list(tags), "reset": reset})
        )

    def set_description(self, description: str) -> None:
        self._sender.put(Item("description", {"description": description}))

    def log_event(self, name: str, timestamp: float | None = None, **data: Any) -> None:
        """Something that happened (a checkpoint saved, a phase begun), with its data."""
        event = {"name": name, "data": data, "time": timestamp or time.time()}
        self._sender.put(Item("job-events", {"events": [event]}))

    def log_progress(
        self, value: float | None = None, of: float | None = None, **fields: Any
    ) -> None:
        """`log_progress(0.3)`: a fraction done, as Polyaxon's. `log_progress(epoch=3, of=10,
        loss=0.2)`: the first field counts towards `of` (its name is the unit), the others are
        figures shown beside it."""
        if of is None:
            if value is None:
                raise ValueError("log_progress: give a fraction, or a count and `of`")
            body: dict[str, Any] = {"value": value, "figures": fields}
        else:
            unit = None
            if value is None:
                if not fields:
                    raise ValueError("log_progress: `of` needs a count, e.g. epoch=3, of=10")
                unit = next(iter(fields))
                value = fields.pop(unit)
            body = {"current": value, "total": of, "unit": unit, "figures": fields}
        self._sender.put(Item("progress", body))

    def log_artifact(
        self, path: str | os.PathLike[str], name: str | None = None, kind: str = "file"
    ) -> None:
        """Upload a file, or each file of a directory, as `artifacts/<name>` (default: its own
        name). It is read when it is sent, a moment later."""
        self._upload(Path(path), f"artifacts/{name or Path(path).name}", kind)

    def log_model(
        self, path: str | os.PathLike[str], name: str | None = None, framework: str | None = None
    ) -> None:
        """Upload a model file or directory as `models/<name>`."""
        self._upload(Path(path), f"models/{name or Path(path).name}", "model", framework=framework)

    def _upload(self, local: Path, target: str, kind: str, **data: Any) -> None:
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for found in files:
            relative = (
                target if found == local else f"{target}/{found.relative_to(local).as_posix()}"
            )
            self._sender.put(Item(f"artifacts/{quote(relative)}", None, path=str(found)))
        self.log_event(kind, path=target, files=len(files), **data)

    def end(self, timeout: float = END_TIMEOUT) -> None:
        """Upload the outputs directory, send what is queued (waiting at most `timeout`
        seconds) and stop; called by itself when the job's interpreter exits."""
        if self._ended:
            return
        self._ended = True
        atexit.unregister(self.end)
        if self.outputs_path and Path(self.outputs_path).is_dir():
            self._upload(Path(self.outputs_path), "outputs", "outputs")
        self._sender.close(timeout)

    def _sample(self, sampler: Sampler) -> None:
        found = sampler.sample()
        if found:
            self._sender.queue.append(Item("system", {"metrics": found, "time": time.time()}))
