"""A local job's resources sampled from outside it by its supervisor: CPU, memory and the number
of processes of the job's process tree (psutil), and each GPU's use and memory (nvidia-ml-py,
only where it imports), posted to the run's system series as the job's own client posts them.

Features: one thread per run, started once the job runs and stopped when it ends, so no sample
outlives the job; the figures and their names are `axon_tracking.system`'s, so a chart reads the
same whichever side measured; Axon unreachable or refusing costs the job nothing (the samples are
dropped, said once in `supervisor.log`).
Config: spec.json's `system_metrics_interval` (the runner's `AXON_SYSTEM_METRICS_INTERVAL`,
seconds, 0 for none) and its env's `AXON_API_URL` and `AXON_RUN_TOKEN` (the job's own).
"""

# Posted with the run's token rather than left in a file for the agent to forward: the
# supervisor already holds the URL and the token it hands the job, and the tracking endpoint
# already checks them, stores samples in the series and refuses them once the run is done. A
# file would need a new capability on every runner and a loop in the agent reading it, and
# would show nothing while no agent observes the root.

from __future__ import annotations

import threading
import time

# Names for annotations only: importing `typing` would cost a spawned supervisor's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_INTERVAL = 10.0  # seconds, when spec.json names none (written before the setting)
SETTLE = 1.0  # seconds a job runs before its sampling is set up: shorter jobs have no samples
STOP_PATIENCE = 2.0  # seconds the supervisor waits for a sample being sent when the job ends


class SystemMetrics:
    """Samples the process tree of `pid` every `interval` seconds until `stop()`."""

    def __init__(self, pid: int, interval: float, api_url: str, uuid: str, token: str) -> None:
        self.pid, self.interval = pid, interval
        self.api_url, self.uuid, self.token = api_url.rstrip("/"), uuid, token
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="axon-system-metrics", daemon=True)

    def start(self) -> SystemMetrics:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        # The last sample reaches Axon before the run's end makes it refuse more; but when Axon
        # is slow, it is left to the daemon thread rather than holding the outcome back long.
        self.thread.join(STOP_PATIENCE)

    def _run(self) -> None:
        try:
            self._sample_until_stopped()
        except Exception as exc:  # noqa: BLE001 - the job must go on whatever sampling meets
            print(f"[axon] system metrics stopped: {exc!r}", flush=True)

    def _sample_until_stopped(self) -> None:
        # Site-packages, psutil and urllib cost about 0.1 s of CPU: a job that ends within
        # SETTLE never pays it (a pipeline of a thousand short ops would pay it a thousand
        # times over), and here, on this thread, a longer one's start is not held up by it.
        if self.stopping.wait(min(SETTLE, self.interval)):
            return
        with_site_packages()
        from axon_tracking.sender import Item, Sender
        from axon_tracking.system import Sampler

        # Interval 0 for the sampler: this loop keeps the time, so every call samples.
        sampler = Sampler(0, pid=self.pid)
        if not sampler.available:
            print("[axon] no system metrics: psutil is not installed", flush=True)
            return
        sender = Sender(self.api_url, self.uuid, self.token)
        # A process's first CPU reading is always 0: this one only sets the baseline.
        sampler.sample()
        while not self.stopping.wait(self.interval):
            found = sampler.sample()
            if found:
                sender.queue.append(Item("system", {"metrics": found, "time": time.time()}))
                sender.flush()


def with_site_packages() -> None:
    """Make psutil (and nvidia-ml-py) importable in a supervisor started without `site`."""
    import sys

    # Supervisors run with `python -S` (runners.local_launcher) to start fast; `site.main()`
    # adds the interpreter's (or its virtualenv's) site-packages after the paths it has.
    if sys.flags.no_site:
        import site

        site.main()


def samples(spec: dict[str, Any]) -> bool:
    """Whether the supervisor of this spec samples its job (an interval and a place to send)."""
    interval = float(spec.get("system_metrics_interval", DEFAULT_INTERVAL))
    env: dict[str, str] = spec.get("env") or {}
    return interval > 0 and bool(env.get("AXON_API_URL"))


def start(spec: dict[str, Any], pid: int) -> SystemMetrics | None:
    """The job `pid`'s sampling, started; None when it is off or has nowhere to go."""
    if not samples(spec):
        return None
    interval = float(spec.get("system_metrics_interval", DEFAULT_INTERVAL))
    env: dict[str, str] = spec.get("env") or {}
    api_url = env["AXON_API_URL"]
    token = env.get("AXON_RUN_TOKEN", "")
    return SystemMetrics(pid, interval, api_url, spec["uuid"], token).start()
