"""What the double does differently by the Kubernetes version it is given.

Each feature names the minor version it came in (on by default) upstream; the double behaves
as a server of its `version` would, so a test can hold Axon to an old server as well as a new
one. Checked against a real 1.20.2 (tests/kube_real/test_double_agrees.py).

Feature (the minor version it came in): what a server before it does instead.
- Server-side field validation (1.25): unknown fields are dropped with a `Warning` header, or
  refused (422) with `fieldValidation=Strict`. Before: dropped silently, whatever was asked.
- Job `completionMode` and `suspend`, defaulted (1.21). Before: unknown fields.
- Job `status.uncountedTerminatedPods` (1.21), `status.ready` (1.24). Before: absent.
- Job `podReplacementPolicy`, defaulted, and `status.terminating` (1.29). Before: absent.
- Pods tracked by the `batch.kubernetes.io/job-tracking` finalizer (1.26): a pod deleted
  before it finished counts as failed. Before: no finalizer; such a pod is only replaced.
- Pod labels `batch.kubernetes.io/job-name` and `…/controller-uid`, the selector on the latter
  (1.27). Before: `job-name` and `controller-uid` only.
- Interim conditions `FailureTarget` / `SuccessCriteriaMet` before `Failed` / `Complete`
  (1.31). Before: the terminal condition at once.
- Sidecars, an init container's `restartPolicy: Always` (1.29). Before: an unknown field,
  dropped as above.
- Watch bookmarks (1.21 here): every `bookmark_interval`. Before: as a real 1.20.2's watch
  cache, only for a resource changed since the server started (pods, once a pod had come and
  gone, got two in a 15 s watch); for one untouched since, not one in a 130 s watch with
  `allowWatchBookmarks`, nor at its end. (When they began to be sent unasked-for progress is
  not measured here; real servers send about one a minute.)
- WatchList, `sendInitialEvents` (1.27). Before: ignored, the watch is as its
  `resourceVersion` says.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

FIELD_VALIDATION, JOB_SUSPEND, UNCOUNTED, READY = 25, 21, 21, 24
BOOKMARKS, WATCH_LIST = 21, 27
REPLACEMENT_POLICY, TRACKING_FINALIZER, PREFIXED_LABELS, INTERIM_CONDITIONS = 29, 26, 27, 31


@dataclass(frozen=True)
class ServerVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ServerVersion:
        """`1.20`, `1.20.2` or `v1.20.2`."""
        found = re.match(r"v?(\d+)\.(\d+)", text)
        if found is None:
            raise ValueError(f"not a Kubernetes version: {text!r}")
        return cls(int(found.group(1)), int(found.group(2)))

    def has(self, minor: int) -> bool:
        """Whether a feature that came in 1.`minor` is here."""
        return (self.major, self.minor) >= (1, minor)


class FieldValidation:
    """The `fieldValidation` of the request being answered, and the warnings it gathers: set by
    the server per request, read by admission (both on the request's thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def begin(self, mode: str | None) -> None:
        self._local.mode = mode or "Warn"
        self._local.warnings = []

    @property
    def mode(self) -> str:
        return str(getattr(self._local, "mode", "Warn"))

    def warn(self, text: str) -> None:
        if not hasattr(self._local, "warnings"):
            self._local.warnings = []
        self._local.warnings.append(text)

    def warnings(self) -> list[str]:
        return list(getattr(self._local, "warnings", []))


# Fields in the oldest schema kubernetes-validate has (1.25) that older servers lack, by kind:
# (the minor version each came in, its path).
_NEWER_FIELDS = {
    "Job": ((21, "spec.suspend"), (21, "spec.completionMode"), (25, "spec.podFailurePolicy")),
}


def too_new(obj: dict[str, object], server: ServerVersion) -> list[str]:
    """The paths of the object's fields that a server of this version does not know yet."""
    found = []
    for minor, path in _NEWER_FIELDS.get(str(obj.get("kind") or ""), ()):
        parent, _, name = path.rpartition(".")
        node: object = obj
        for step in parent.split("."):
            node = node.get(step) if isinstance(node, dict) else None
        if not server.has(minor) and isinstance(node, dict) and name in node:
            found.append(path)
    return found


def drop_field(obj: dict[str, object], path: str) -> None:
    """Remove the field a cause names (`spec.template.spec.containers[0].bogus`)."""
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indices = re.split(r"\[(\d+)\]", part)
        if name:
            steps.append(name)
        steps += [int(i) for i in indices if i != ""]
    node: object = obj
    for step in steps[:-1]:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return
    last = steps[-1] if steps else None
    if isinstance(node, dict) and isinstance(last, str):
        node.pop(last, None)
