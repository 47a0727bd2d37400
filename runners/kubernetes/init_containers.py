"""Init containers: the event's git checkout, files, artifacts copied from the store, and the
spec's own containers; every one mounts the context volume the main container reads.

Each script is a constant; every value (a URL, a sha, a file's content) is passed as a
positional argument ("$1"…), so no value, however hostile, is ever parsed as shell. Git
credentials come from a Secret as environment variables (GIT_USERNAME and GIT_PASSWORD, or
GIT_TOKEN), answered through a credential helper: they never enter the manifest.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runners.base import GitCheckout
from runners.kubernetes import dockerfiles

CONTEXT = "/axon/context"  # an emptyDir the init steps fill and every container mounts
CODE = f"{CONTEXT}/code"  # where the event's commit is checked out: the main container's workdir
STORE = "/axon/store"  # the artifacts store's claim, read-only, for `init: artifacts`
CONTEXT_VOLUME, STORE_VOLUME = "axon-context", "axon-artifacts-store"

GIT_SCRIPT = """set -eu
dest="$1" url="$2" revision="$3"; shift 3
helper='!f() { test "$1" = get || exit 0; echo "username=${GIT_USERNAME:-x-access-token}";'
helper="$helper"' echo "password=${GIT_PASSWORD:-${GIT_TOKEN:-}}"; }; f'
if [ -z "$revision" ]; then
  git -c credential.helper="$helper" clone -q --depth 1 "$@" "$url" "$dest"; cd "$dest"
else
  git init -q "$dest"; cd "$dest"
  git remote add origin "$url"; git config credential.helper "$helper"
  if git fetch -q --depth 1 "$@" origin "$revision"; then git checkout -q FETCH_HEAD
  else git fetch -q "$@" origin; git checkout -q "$revision"; fi
fi
echo "checked out $(git rev-parse HEAD)"
"""
FILE_SCRIPT = 'set -eu; mkdir -p "$(dirname "$2")"; printf "%s" "$1" > "$2"; '
FILE_SCRIPT += '[ -z "$3" ] || chmod "$3" "$2"; echo "wrote $2"'
COPY_SCRIPT = 'set -eu; dest="$1"; shift; mkdir -p "$dest"; '
COPY_SCRIPT += 'while [ $# -gt 1 ]; do mkdir -p "$(dirname "$dest/$2")"; '
COPY_SCRIPT += f'cp -R "{STORE}/$1" "$dest/$2"; echo "copied $1"; shift 2; done'
UNSUPPORTED_INIT = ("lineageRef", "modelRef", "artifactRef")


class ManifestError(ValueError):
    """The run cannot be expressed on Kubernetes; the message names the spec field and why."""


@dataclass(frozen=True)
class PodOptions:
    """Runner config that shapes every pod: helper images and where credentials live."""

    git_image: str = "alpine/git:2.47.2"
    helper_image: str = "busybox:1.37"
    git_secret: str = ""  # a Secret with GIT_USERNAME/GIT_PASSWORD or GIT_TOKEN for checkouts
    artifacts_claim: str = ""  # a PersistentVolumeClaim holding the artifacts store
    # The API server's (major, minor), which decides what a pod may use; None: not known.
    server: tuple[int, int] | None = None
    # A job's outputs directory and its collector (`runners.kubernetes.outputs`).
    collect_outputs: bool = True
    outputs_image: str = "python:3.12-alpine"


def init_containers(
    section: Mapping[str, Any], git: GitCheckout | None, where: str, options: PodOptions
) -> list[dict[str, Any]]:
    """The init containers of a pod: the event's checkout, then the spec's `init` steps."""
    steps: list[dict[str, Any]] = []
    if git is not None:
        revision = git.sha or git.ref
        steps.append(_git("git-checkout", CODE, git.url, revision, (), options.git_secret, options))
    for index, step in enumerate(section.get("init") or ()):
        steps.append(_step(index, step, f"{where}.init[{index}]", options))
    for step in steps:
        mount(step, CONTEXT_VOLUME, CONTEXT)
    return steps


def _step(index: int, step: Mapping[str, Any], at: str, options: PodOptions) -> dict[str, Any]:
    for key in UNSUPPORTED_INIT:
        if key in step:
            raise ManifestError(f"{at}.{key}: not supported by the kubernetes runner")
    if "git" in step:
        repo = step["git"]
        if not repo.get("url"):
            raise ManifestError(f"{at}.git.url: required by the kubernetes runner")
        dest = step.get("path") or posixpath.join(CONTEXT, _repo_name(repo["url"]))
        revision, flags = repo.get("revision") or "", repo.get("flags") or ()
        secret = step.get("connection") or ""
        return _git(f"init-{index}-git", dest, repo["url"], revision, flags, secret, options)
    if "dockerfile" in step:  # written as a file, for a builder in the main container
        refused = dockerfiles.refusals(step["dockerfile"], f"{at}.dockerfile")
        if refused:
            raise ManifestError("; ".join(refused))
        generated = {"content": dockerfiles.render(step["dockerfile"])}
        generated["filename"] = dockerfiles.filename(step["dockerfile"])
        return _file(index, {**step, "file": generated}, options)
    if "file" in step:
        return _file(index, step, options)
    if "artifacts" in step or "paths" in step:
        return _copy(index, step, at, options)
    if "container" in step:
        container = clean(step["container"])
        container.setdefault("name", f"init-{index}")
        if not container.get("image"):
            raise ManifestError(f"{at}.container.image: required")
        return container
    raise ManifestError(f"{at}: nothing the kubernetes runner can initialize")


def _git(
    name: str,
    dest: str,
    url: str,
    revision: str,
    flags: Sequence[str],
    secret: str,
    options: PodOptions,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": options.git_image,
        "command": ["sh", "-c", GIT_SCRIPT, "git-checkout", dest, url, revision, *flags],
    }
    if secret:
        container["envFrom"] = [{"secretRef": {"name": secret}}]
    return container


def _file(index: int, step: Mapping[str, Any], options: PodOptions) -> dict[str, Any]:
    file = step["file"]
    dest = posixpath.join(step.get("path") or CONTEXT, file.get("filename") or "file")
    return {
        "name": f"init-{index}-file",
        "image": options.helper_image,
        "command": [
            "sh",
            "-c",
            FILE_SCRIPT,
            "write-file",
            file["content"],
            dest,
            file.get("chmod") or "",
        ],
    }


def _copy(index: int, step: Mapping[str, Any], where: str, options: PodOptions) -> dict[str, Any]:
    if not options.artifacts_claim:
        key = "artifacts" if "artifacts" in step else "paths"
        raise ManifestError(
            f"{where}.{key}: needs an artifacts store (runner config artifacts_claim)"
        )
    artifacts = step.get("artifacts") or {}
    entries = [
        *(artifacts.get("files") or ()),
        *(artifacts.get("dirs") or ()),
        *(step.get("paths") or ()),
    ]
    pairs: list[str] = []
    for entry in entries:
        source, target = (entry[0], entry[1]) if isinstance(entry, list) else (entry, entry)
        pairs += [source.lstrip("/"), target.lstrip("/")]
    container = {
        "name": f"init-{index}-artifacts",
        "image": options.helper_image,
        "command": ["sh", "-c", COPY_SCRIPT, "copy", step.get("path") or CONTEXT, *pairs],
    }
    mount(container, STORE_VOLUME, STORE, read_only=True)
    return container


def uses_store(step: Mapping[str, Any]) -> bool:
    return "artifacts" in step or "paths" in step


def mount(container: dict[str, Any], volume: str, path: str, read_only: bool = False) -> None:
    mounts = container.setdefault("volumeMounts", [])
    if any(m.get("mountPath") == path for m in mounts):
        return
    entry: dict[str, Any] = {"name": volume, "mountPath": path}
    if read_only:
        entry["readOnly"] = True
    mounts.append(entry)


def clean(container: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in container.items() if v is not None}


def _repo_name(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name.removesuffix(".git") or "repo"
