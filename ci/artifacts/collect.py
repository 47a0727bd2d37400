"""A run's outputs directory, collected into the artifacts store under `outputs/` once its job
has ended.

The core collects, not the runner: runners never touch our database or the store's credentials
(a local run's supervisor gets a scrubbed environment, so it could not reach an S3 store), and
the agent that records a local run's end runs beside the runner's directories. So on recording
an end the agent asks the runner where the job left its outputs (`Runner.outputs`) and copies
them here. A backend whose jobs run elsewhere (Kubernetes) reports none: its pods upload their
own through the tracking API (`axon_tracking.collect`).

Once and idempotently: each file goes to the same path every time (a second copy replaces the
first, never adds one), and the attempt is marked collected beside the directory only after its
last file is stored, so an agent stopped halfway copies the whole directory again when it sees
the end again, and an end seen again after that costs one read of the marker. What is refused
(too many files, a file too large, a link, a path the store refuses) is said in the run's
events, named `outputs`, with the reason for each.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ci.artifacts import store
from ci.runtime import Runtime
from ci.store.models import Run, RunEvent
from runners.base import Runner

log = logging.getLogger(__name__)
MAX_FILES = 1000  # files of one outputs directory collected; beyond it each is named as refused
MAX_REASONS = 20  # refusals named one by one in the event; the rest are counted
MARKER = "outputs.collected"  # beside the directory: one line per attempt collected
PREFIX = "outputs"


@dataclass
class Collected:
    files: int = 0
    size: int = 0
    refused: list[str] = field(default_factory=list)


def collect(rt: Runtime, runner: Runner, external_id: str, uuid: str | None = None) -> None:
    """Copy the ended attempt `external_id`'s outputs into its run's store folder, unless done.

    `uuid`: the run's, when the caller has it (a retried run's row already names its next
    attempt). A store that fails leaves the attempt unmarked, to be collected when its end is
    seen again.
    """
    directory = runner.outputs(external_id)
    if directory is None or collected(directory, external_id):
        return
    uuid = uuid or _run_uuid(rt, runner, external_id)
    if uuid is None:
        return
    artifacts = store.for_settings(rt.settings)
    try:
        done = copy_tree(artifacts, uuid, directory, rt.settings.artifact_max_bytes)
    except (OSError, store.ArtifactError) as exc:
        log.warning("outputs of run %s were not collected: %s", uuid, exc)
        return
    if done.files or done.refused:
        _tell(rt, uuid, done)
    _mark(directory, external_id)


def copy_tree(artifacts: store.ArtifactStore, uuid: str, directory: Path, most: int) -> Collected:
    """Every regular file below `directory` to `outputs/<its relative path>`, within limits."""
    done = Collected()
    found = sorted(_files(directory, done))
    for index, (relative, size) in enumerate(found):
        where = f"{PREFIX}/{relative}"
        if index >= MAX_FILES:
            done.refused.append(f"{where}: more than {MAX_FILES} files in the outputs directory")
        elif size > most:
            done.refused.append(f"{where}: {size} bytes, more than the {most} an artifact may have")
        else:
            try:
                with (directory / relative).open("rb") as source:
                    done.size += artifacts.put(uuid, where, source, most)
            except store.ArtifactError as exc:
                done.refused.append(f"{where[:120]}: {exc}")
                continue
            done.files += 1
    return done


def collected(directory: Path, external_id: str) -> bool:
    try:
        return external_id in (directory.parent / MARKER).read_text().split()
    except OSError:
        return False


def _files(directory: Path, done: Collected) -> list[tuple[str, int]]:
    files = []
    for top, dirs, names in os.walk(directory):
        here = Path(top)
        for name in [*dirs, *names]:
            path = here / name
            relative = path.relative_to(directory).as_posix()
            if path.is_symlink():
                # A link could lead anywhere the agent may read; only the job's own files go.
                done.refused.append(f"{PREFIX}/{relative}: a symbolic link, not collected")
            elif name in names and path.is_file():
                files.append((relative, path.stat().st_size))
    return files


def _run_uuid(rt: Runtime, runner: Runner, external_id: str) -> str | None:
    with rt.db.session() as session:
        found = session.scalar(
            select(Run.uuid).where(Run.runner == runner.name, Run.external_id == external_id)
        )
        return str(found) if found else None


def _tell(rt: Runtime, uuid: str, done: Collected) -> None:
    data: dict[str, object] = {"files": done.files, "bytes": done.size}
    if done.refused:
        data["refused"] = done.refused[:MAX_REASONS]
        data["refused_count"] = len(done.refused)
        log.warning("run %s: outputs not collected: %s", uuid, "; ".join(done.refused[:3]))
    with rt.db.session() as session:
        run_id = session.scalar(select(Run.id).where(Run.uuid == uuid))
        if run_id is not None:
            session.add(RunEvent(run_id=run_id, name="outputs", data=data))


def _mark(directory: Path, external_id: str) -> None:
    with (directory.parent / MARKER).open("a") as marker:
        marker.write(f"{external_id}\n")
