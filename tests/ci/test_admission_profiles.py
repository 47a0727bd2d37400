"""What an admission skips when a project has no presets and no quota exists, and how a change
written by another process is seen by the next admission: each process's copy is checked against
one version row the database bumps (migration 0020), on PostgreSQL, with two runtimes of their
own connection pools on one database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from ci.config import Settings
from ci.runs import launch, presets, profiles
from ci.runtime import Runtime
from ci.store.db import Database
from ci.store.models import Organization, OrgPreset, Preset, Project, ProjectMember, Run, Team
from tests.ci.quota_runs import held, new_run, project_id, set_quota, status_of
from tests.ci.test_op_start_round_trips import statements, touching
from tests.conftest import drop_database, fresh_database

__all__ = ["held"]
SMALL = {"runPatch": {"container": {"env": [{"name": "PROFILE", "value": "small"}]}}}


@pytest.fixture
def pair(postgres: str, enqueued: list[Any], tmp_path: Any) -> Iterator[tuple[Runtime, Database]]:
    """A worker's runtime, and another process's database on the same PostgreSQL database."""
    url = fresh_database("axon_profiles")
    worker = Runtime(Settings(database_url=url, runs_dir=str(tmp_path)), Database(url), b"k")
    other = Database(url)
    profiles.forget()
    yield worker, other
    profiles.forget()
    worker.db.dispose()
    other.dispose()
    drop_database(url)


def admit(rt: Runtime, run_id: int) -> list[str]:
    """Start the run on the worker: the statements it took."""
    with statements(rt.db) as said, rt.db.session() as session:
        launch.start_run(rt, session, run_id)
    return said


def env_of(db: Database, run_id: int) -> list[dict[str, Any]]:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.compiled is not None
        return list(run.compiled["component"]["run"]["container"].get("env") or [])


def in_org(db: Database, project: str, org: str) -> int:
    """The org's id, the project moved into it."""
    owner = project_id(db, project)
    with db.session() as session:
        row = Organization(name=org)
        session.add(row)
        session.flush()
        session.get(Project, owner).org_id = row.id
        return row.id


def test_an_admission_with_nothing_to_find_reads_no_presets_and_no_quotas(pair, held):
    worker, other = pair
    admit(worker, new_run(other, "vision"))

    said = admit(worker, new_run(other, "vision"))

    assert touching(said, r"\bFROM (quotas|presets|org_presets|organizations|teams)\b") == []
    assert [spec.name for spec in held] == ["train", "train"]


def test_a_project_preset_written_by_another_process_is_merged_by_the_next_admission(pair, held):
    worker, other = pair
    first = new_run(other, "vision")
    admit(worker, first)
    with other.session() as session:
        document = presets.parse("small", SMALL)
        session.add(Preset(project_id=project_id(other, "vision"), name="small", document=document))
        session.flush()
        session.execute(select(Preset)).scalar_one().is_default = True

    second = new_run(other, "vision")
    admit(worker, second)

    assert {"name": "PROFILE", "value": "small"} not in env_of(other, first)
    assert {"name": "PROFILE", "value": "small"} in env_of(other, second)


def test_an_org_preset_written_by_another_process_is_merged_by_the_next_admission(pair, held):
    worker, other = pair
    org_id = in_org(other, "vision", "labs")
    admit(worker, new_run(other, "vision"))
    with other.session() as session:
        document = presets.parse("small", SMALL)
        session.add(OrgPreset(org_id=org_id, name="small", document=document, is_default=True))

    second = new_run(other, "vision")
    admit(worker, second)

    assert {"name": "PROFILE", "value": "small"} in env_of(other, second)


def test_a_preset_deleted_by_another_process_is_no_longer_merged(pair, held):
    worker, other = pair
    with other.session() as session:
        document = presets.parse("small", SMALL)
        owner = project_id(other, "vision")
        session.add(Preset(project_id=owner, name="small", document=document, is_default=True))
    first = new_run(other, "vision")
    admit(worker, first)
    with other.session() as session:
        session.execute(delete(Preset))

    second = new_run(other, "vision")
    said = admit(worker, second)

    assert {"name": "PROFILE", "value": "small"} in env_of(other, first)
    assert {"name": "PROFILE", "value": "small"} not in env_of(other, second)
    assert touching(said, r"\bFROM (presets|org_presets)\b") == [
        "SELECT DISTINCT presets.project_id FROM presets",
        "SELECT DISTINCT org_presets.org_id FROM org_presets",
    ]


def test_a_quota_written_by_another_process_holds_the_next_admission(pair, held):
    worker, other = pair
    admit(worker, new_run(other, "vision"))
    set_quota(other, "project", "vision", runs=1)

    second = new_run(other, "vision")
    admit(worker, second)

    assert status_of(other, second) == (
        "queued",
        "runner local; quota project vision: 1 of 1 concurrent runs in use",
    )


def test_a_team_membership_written_by_another_process_counts_under_the_teams_quota(pair, held):
    worker, other = pair
    org_id = in_org(other, "speech", "labs")
    with other.session() as session:
        team = Team(org_id=org_id, name="ml")
        session.add(team)
        session.flush()
        session.add(
            ProjectMember(project_id=project_id(other, "speech"), team_id=team.id, role="member")
        )
        team_id = team.id
    set_quota(other, "team", "labs/ml", runs=1)
    admit(worker, new_run(other, "speech"))
    admit(worker, new_run(other, "vision"))  # not a member yet: admitted
    with other.session() as session:
        session.add(
            ProjectMember(project_id=project_id(other, "vision"), team_id=team_id, role="member")
        )

    third = new_run(other, "vision")
    admit(worker, third)

    assert status_of(other, third) == (
        "queued",
        "runner local; quota team labs/ml: 2 of 1 concurrent runs in use",
    )
