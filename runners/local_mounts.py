"""A local run's connections: files in its run directory, variables in its environment.

Each connection's files go to `<run dir>/connections/<name>/` (the directory 0700, each file
0600: only the worker's user, whose processes the jobs are, can read them), and its
`AXON_CONNECTION_<NAME>_PATH` variable says where; a Kubernetes mount path means nothing on the
host. The variables join the job's own (which win on a clash) in spec.json, itself owner-only.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from runners.base import RunSpec

DIRECTORY = "connections"


def carried(spec: RunSpec, run_dir: Path) -> RunSpec:
    """`spec` with its mounts' files written under `run_dir` and their variables in its env."""
    if not spec.mounts:
        return spec
    env: dict[str, str] = {}
    for mount in (m for m in spec.mounts if m.main):
        env.update(mount.env)
        if mount.files:
            env[mount.path_variable] = str(_write(run_dir / DIRECTORY / mount.name, mount.files))
    return dataclasses.replace(spec, env={**env, **spec.env}, mounts=())


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, content in files.items():
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(content)
        # A file left by an earlier attempt keeps its mode; make sure of it.
        os.chmod(directory / name, 0o600)
    return directory
