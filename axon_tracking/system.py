"""Samples of the job's resources, when the job's image has the libraries to read them:
CPU and memory of the job's process tree with psutil, each GPU with nvidia-ml-py (pynvml).
Without them there are no samples, and nothing fails.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class Sampler:
    """`sample()` gives `{"cpu_percent": ..., "memory_rss_bytes": ..., "gpu0_utilization":
    ...}` at most every `interval` seconds, else None."""

    def __init__(self, interval: float, pid: int | None = None) -> None:
        self.interval = interval
        self.psutil = _optional("psutil")
        self.root = self.psutil.Process(pid or os.getpid()) if self.psutil else None
        self.known: dict[int, Any] = {}  # processes seen, so cpu_percent has a previous reading
        self.nvml = self._nvml()
        self.due = 0.0

    @property
    def available(self) -> bool:
        return self.root is not None or self.nvml is not None

    def _nvml(self) -> Any:
        pynvml = _optional("pynvml")
        if pynvml is None:
            return None
        try:
            pynvml.nvmlInit()
        except Exception:  # noqa: BLE001 - no driver, no GPU: the library raises its own errors
            return None
        return pynvml

    def sample(self) -> dict[str, float] | None:
        now = time.monotonic()
        if not self.available or now < self.due:
            return None
        self.due = now + self.interval
        found: dict[str, float] = {}
        if self.root is not None:
            found.update(self._tree())
        if self.nvml is not None:
            found.update(self._gpus())
        return found or None

    def _tree(self) -> dict[str, float]:
        psutil, root = self.psutil, self.root
        if root is None:
            return {}
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return {}
        cpu = rss = 0.0
        alive = {}
        for process in processes:
            known = self.known.get(process.pid, process)
            try:
                with known.oneshot():
                    cpu += known.cpu_percent(None)
                    rss += known.memory_info().rss
            except psutil.Error:
                continue
            alive[process.pid] = known
        self.known = alive
        total = psutil.virtual_memory().total or 1
        return {
            "cpu_percent": cpu,
            "memory_rss_bytes": rss,
            "memory_percent": 100.0 * rss / total,
            "processes": float(len(alive)),
        }

    def _gpus(self) -> dict[str, float]:
        nvml = self.nvml
        found: dict[str, float] = {}
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                found[f"gpu{index}_utilization"] = float(rates.gpu)
                found[f"gpu{index}_memory_used_bytes"] = float(memory.used)
                found[f"gpu{index}_memory_percent"] = 100.0 * memory.used / (memory.total or 1)
        except Exception:  # noqa: BLE001 - a GPU gone or a driver error: no GPU figures
            return {}
        return found
