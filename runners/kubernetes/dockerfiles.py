"""`init: [{dockerfile: ...}]` (Polyaxon's V1DockerfileType) rendered as a Dockerfile's text.

The init step writes it into the pod's context volume (`<path or /axon/context>/<filename or
Dockerfile>`), where a builder in the main container reads it (kaniko's `--dockerfile`). As in
Polyaxon: `FROM image`, the language variables (`langEnv`), `env`, `path` added to PATH,
`WORKDIR workdir` (default /code), `copy`, `run`, then `postRunCopy`. A value is written as
given: a Dockerfile is the user's own build recipe, run by the builder, not by Axon. Fields
that would need a user created in the image (`uid`, `gid`, `username`) and `workdirPath` are
refused with the reason, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

DEFAULT_WORKDIR = "/code"
REFUSED = {
    "uid": "creating a user in the image is not supported yet; add a `run` step that does",
    "gid": "creating a group in the image is not supported yet; add a `run` step that does",
    "username": "creating a user in the image is not supported yet; add a `run` step that does",
    "workdirPath": "copying a host path into the image is not supported; use `copy`",
}


def refusals(dockerfile: Mapping[str, Any], at: str) -> list[str]:
    """`<at>.<field>: <reason>` for each field the rendering would have to ignore."""
    return [f"{at}.{key}: {why}" for key, why in REFUSED.items() if dockerfile.get(key)]


def render(dockerfile: Mapping[str, Any]) -> str:
    """The Dockerfile's text, one instruction a line."""
    workdir = str(dockerfile.get("workdir") or DEFAULT_WORKDIR)
    lines = [f"FROM {dockerfile['image']}"]
    if dockerfile.get("shell"):
        lines.append(f"SHELL {json.dumps([str(dockerfile['shell']), '-c'])}")
    lang = dockerfile.get("langEnv")
    if lang:
        lines.append(f"ENV LC_ALL={lang} LANG={lang} LANGUAGE={lang}")
    for name, value in _pairs(dockerfile.get("env")):
        lines.append(f"ENV {name}={json.dumps(str(value))}")
    for entry in dockerfile.get("path") or ():
        lines.append(f'ENV PATH="${{PATH}}:{entry}"')
    lines.append(f"WORKDIR {workdir}")
    lines += _copies(dockerfile.get("copy"), workdir)
    lines += [f"RUN {command}" for command in dockerfile.get("run") or ()]
    lines += _copies(dockerfile.get("postRunCopy"), workdir)
    return "\n".join(lines) + "\n"


def filename(dockerfile: Mapping[str, Any]) -> str:
    return str(dockerfile.get("filename") or "Dockerfile")


def _pairs(env: Any) -> list[tuple[str, Any]]:
    """`env` as a mapping, or as Polyaxon's list of `[name, value]` pairs."""
    if isinstance(env, Mapping):
        return list(env.items())
    return [(str(pair[0]), pair[1]) for pair in env or () if len(pair) == 2]


def _copies(entries: Any, workdir: str) -> list[str]:
    """`COPY src dest`: an entry is a path (copied into the workdir) or `[src, dest]`."""
    lines = []
    for entry in entries or ():
        source, dest = (entry, workdir) if isinstance(entry, str) else (entry[0], entry[-1])
        lines.append(f"COPY {source} {dest}")
    return lines
