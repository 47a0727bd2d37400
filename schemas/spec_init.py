"""What is prepared before the main container starts (V1Init) and the typed values it uses."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from schemas.spec_base import SpecModel, located_error
from schemas.spec_container import V1K8sContainer

PathList = list[str | list[str]]


class V1GitType(SpecModel):
    """A repository to clone: `{url, revision, flags}`; without a url, a connection says where."""

    url: str | None = None
    revision: str | None = None
    flags: list[str] | None = None


class V1ArtifactsType(SpecModel):
    """Files and directories of an artifacts store: `{files: [...], dirs: [...]}`."""

    files: PathList | None = None
    dirs: PathList | None = None
    workers: int | None = None
    connection: str | None = None


class V1FileType(SpecModel):
    """A file to write: `{filename, content, chmod}`."""

    filename: str | None = None
    content: str
    kind: str | None = None
    chmod: str | None = None


class V1DockerfileType(SpecModel):
    """A Dockerfile to generate from an image and a few steps."""

    image: str
    env: dict[str, Any] | list[Any] | None = None
    path: list[str] | None = None
    # `copy` is a BaseModel method, so the field has another name and reads the key `copy`.
    copy_: PathList | None = Field(default=None, alias="copy")
    post_run_copy: PathList | None = None
    run: list[str] | None = None
    lang_env: str | None = None
    uid: int | None = None
    gid: int | None = None
    username: str | None = None
    filename: str | None = None
    workdir: str | None = None
    workdir_path: str | None = None
    shell: str | None = None


# The built-in handlers of an init entry; one entry uses at most one of them.
HANDLERS = (
    "artifacts", "paths", "git", "dockerfile", "file", "lineageRef", "modelRef", "artifactRef",
)  # fmt: skip


class V1Init(SpecModel):
    """One init step: a built-in handler (git, artifacts, paths, file, dockerfile, a lineage,
    model or artifact ref), a connection to initialize, or a custom container."""

    artifacts: V1ArtifactsType | None = None
    paths: PathList | None = None
    git: V1GitType | None = None
    dockerfile: V1DockerfileType | None = None
    file: V1FileType | None = None
    lineage_ref: str | None = None
    model_ref: str | None = None
    artifact_ref: str | None = None
    connection: str | None = None
    path: str | None = None
    container: V1K8sContainer | None = None

    @model_validator(mode="after")
    def _one_handler(self) -> Self:
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        given = [key for key in HANDLERS if key in dumped]
        if len(given) > 1:
            reason = f"one init entry takes one of {', '.join(HANDLERS)}; found {given}"
            raise located_error((given[1],), reason)
        if self.git is not None and not self.git.url and not self.connection:
            raise located_error(("git", "url"), "a git init without a url needs a connection")
        return self
