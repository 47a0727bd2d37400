"""The image a builder pod pushed, read from its main container's termination message.

kaniko, run with `--digest-file=/dev/termination-log` (the container's default
terminationMessagePath), writes the pushed image's digest there; the kubelet reports it as the
ended container's `state.terminated.message`. A run whose main container did so gets the output
`image`: `<destination>@<digest>`, the reference its downstream ops run on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from runners.kubernetes.manifests import MAIN

DIGEST_FILE = "--digest-file=/dev/termination-log"
DESTINATION = "--destination="
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

Obj = Mapping[str, Any]


def built_image(pods: Iterable[Obj]) -> dict[str, Any] | None:
    """`{"image": "<destination>@<digest>"}` from the first builder pod that pushed one."""
    for pod in pods:
        args = _main_args(pod)
        if DIGEST_FILE not in args:
            continue
        destination = next((a[len(DESTINATION) :] for a in args if a.startswith(DESTINATION)), "")
        digest = _digest(pod)
        if destination and digest:
            return {"image": f"{destination}@{digest}"}
    return None


def is_builder(pods: Iterable[Obj]) -> bool:
    """Whether any of the pods runs a builder that reports its digest this way."""
    return any(DIGEST_FILE in _main_args(pod) for pod in pods)


def _main_args(pod: Obj) -> list[str]:
    containers = (pod.get("spec") or {}).get("containers") or ()
    main = next((c for c in containers if c.get("name") == MAIN), None)
    if main is None:
        return []
    return [str(a) for a in [*(main.get("command") or ()), *(main.get("args") or ())]]


def _digest(pod: Obj) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") != MAIN:
            continue
        ended = (status.get("state") or {}).get("terminated") or {}
        message = str(ended.get("message") or "").strip()
        if ended.get("exitCode") == 0 and _DIGEST.match(message):
            return message
    return ""
