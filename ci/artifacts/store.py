"""The artifacts store: files of a run under `<root>/<run uuid>/<path>`, through fsspec.

`AXON_ARTIFACTS_URL` picks the filesystem (a directory by default; `s3://bucket/prefix`,
`gs://...`, `az://...`), `AXON_ARTIFACTS_OPTIONS` its storage options (an S3-compatible
store's `endpoint_url`, credentials). A run's files are uploaded by its job (`log_artifact`,
`log_model`, its outputs directory at the end), its finished logs are written by the agent,
and all of it is deleted with the run.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import fsspec

from ci.config import Settings
from schemas.settings import SettingsError

COPY_BLOCK = 1024 * 1024
MAX_PATH = 512
# A run's uuid names its folder; anything else could reach another run's files.
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ArtifactError(ValueError):
    """A path or upload the store refuses; `status` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, order=True)
class Artifact:
    path: str  # relative to the run's folder, with "/"
    size: int


def clean_path(path: str) -> str:
    """`path` as a relative path inside a run's folder; ArtifactError if it would leave it."""
    if not path or len(path) > MAX_PATH:
        raise ArtifactError(f"path: expected 1 to {MAX_PATH} characters")
    if "\\" in path or "\x00" in path or path.startswith("/"):
        raise ArtifactError(f"path {path[:80]!r}: expected a relative path with '/' separators")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ArtifactError(f"path {path[:80]!r}: empty, '.' and '..' parts are not allowed")
    return "/".join(parts)


class ArtifactStore:
    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        options = dict(options or {})
        if "://" not in url or url.startswith("file://"):
            options.setdefault("auto_mkdir", True)
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **options)
        self.root = self.root.rstrip("/")

    def folder(self, uuid: str) -> str:
        if not RUN_ID.match(uuid):
            raise ArtifactError(f"run {uuid[:40]!r}: not a run uuid")
        return f"{self.root}/{uuid}"

    def location(self, uuid: str, path: str) -> str:
        return f"{self.folder(uuid)}/{clean_path(path)}"

    def put(self, uuid: str, path: str, stream: IO[bytes], most: int) -> int:
        """Copy `stream` to the run's `path`; ArtifactError(413) past `most` bytes (nothing
        is kept then)."""
        target = self.location(uuid, path)
        size = 0
        with self.fs.open(target, "wb") as out:
            while block := stream.read(COPY_BLOCK):
                size += len(block)
                if size > most:
                    break
                out.write(block)
        if size > most:
            self.fs.rm(target)
            raise ArtifactError(f"an artifact has at most {most} bytes", 413)
        return size

    def put_bytes(self, uuid: str, path: str, data: bytes) -> None:
        with self.fs.open(self.location(uuid, path), "wb") as out:
            out.write(data)

    def put_tree(self, uuid: str, local: Path, under: str) -> int:
        """Upload every file below `local` to `<under>/<its relative path>`; how many."""
        count = 0
        for found in sorted(local.rglob("*")):
            if found.is_file() and not found.is_symlink():
                relative = found.relative_to(local).as_posix()
                with found.open("rb") as source:
                    self.put(uuid, f"{under}/{relative}", source, most=2**62)
                count += 1
        return count

    def files(self, uuid: str) -> list[Artifact]:
        folder = self.folder(uuid)
        # Other processes write the store: a listing cached by fsspec may be stale.
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(folder, detail=True)
        except FileNotFoundError:
            return []
        return sorted(
            Artifact(posixpath.relpath(_plain(name), _plain(folder)), int(info.get("size") or 0))
            for name, info in found.items()
            if info.get("type") != "directory"
        )

    def size(self, uuid: str, path: str) -> int:
        target = self.location(uuid, path)
        self.fs.invalidate_cache()
        if not self.fs.isfile(target):
            raise ArtifactError(f"run {uuid} has no artifact {path!r}", 404)
        return int(self.fs.size(target) or 0)

    def read(self, uuid: str, path: str) -> Iterator[bytes]:
        """The artifact's bytes in blocks (a download never holds a whole file in memory)."""
        with self.fs.open(self.location(uuid, path), "rb") as source:
            while block := source.read(COPY_BLOCK):
                yield block

    def delete(self, uuid: str) -> None:
        folder = self.folder(uuid)
        self.fs.invalidate_cache()
        try:
            self.fs.rm(folder, recursive=True)
        except FileNotFoundError:
            pass  # nothing was ever uploaded


def _plain(name: str) -> str:
    return name.split("://", 1)[-1].rstrip("/")


@lru_cache(maxsize=8)
def _store(url: str, options: str) -> ArtifactStore:
    return ArtifactStore(url, json.loads(options) if options else None)


def for_settings(settings: Settings) -> ArtifactStore:
    """The store `settings` name (one per URL and options in a process)."""
    url = settings.artifacts_url or str(Path(settings.home) / "artifacts")
    if settings.artifacts_options:
        try:
            parsed = json.loads(settings.artifacts_options)
        except ValueError as exc:
            raise SettingsError(f"AXON_ARTIFACTS_OPTIONS: expected a JSON object: {exc}") from None
        if not isinstance(parsed, dict):
            raise SettingsError("AXON_ARTIFACTS_OPTIONS: expected a JSON object")
    return _store(url, settings.artifacts_options)
