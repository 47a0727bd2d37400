"""Quotas: a run over its project's (org's, team's) quota waits queued saying why, or is refused."""

from __future__ import annotations

import pytest

from ci.runs import lifecycle, quantities, quotas
from ci.store.models import Organization, Project, ProjectMember, Run, Team
from schemas.status import RunStatus
from tests.ci.conftest import advance, subscription
from tests.ci.quota_runs import held, new_run, project_id, set_quota, status_of
from tests.ci.test_op_start_round_trips import statements

__all__ = ["held"]
S = RunStatus


def test_a_run_over_the_concurrent_runs_quota_waits_queued_naming_the_quota_and_its_usage(
    db, held, start
):
    set_quota(db, "project", "vision", runs=2)
    first, second, third = (new_run(db, "vision") for _ in range(3))

    for run_id in (first, second, third):
        start(run_id)

    assert [status_of(db, r)[0] for r in (first, second, third)] == ["scheduled"] * 2 + ["queued"]
    assert status_of(db, third)[1] == (
        "runner local; quota project vision: 2 of 2 concurrent runs in use"
    )
    assert len(held) == 2


def test_a_waiting_run_starts_when_a_run_of_its_scope_ends(db, held, start, enqueued):
    set_quota(db, "project", "vision", runs=1)
    first, waiting = new_run(db, "vision"), new_run(db, "vision")
    start(first)
    start(waiting)
    start(waiting)  # the sweeper sends it again: it still waits
    enqueued.clear()

    advance(db, first, S.RUNNING, S.SUCCEEDED)
    sent = [args for name, args in enqueued if name == "axon.start_run"]
    start(waiting)

    assert (waiting,) in sent
    assert status_of(db, waiting)[0] == "scheduled"


def end_together(db, *run_ids: int) -> None:
    """The runs end in one transaction, as the agent records a turn's ends."""
    with db.session() as session:
        for run_id in run_ids:
            run = session.get(Run, run_id, with_for_update=True)
            lifecycle.transition(session, run, S.SUCCEEDED, "Completed")


def test_runs_ending_together_wake_every_run_waiting_for_their_room(db, held, start, enqueued):
    set_quota(db, "project", "vision", runs=2)
    first, second, *waiting = (new_run(db, "vision") for _ in range(4))
    for run_id in (first, second, *waiting):
        start(run_id)
    advance(db, first, S.RUNNING)
    advance(db, second, S.RUNNING)
    enqueued.clear()

    end_together(db, first, second)
    sent = [args for name, args in enqueued if name == "axon.start_run"]
    for run_id in waiting:
        start(run_id)

    assert sorted(sent) == [(run_id,) for run_id in waiting]
    assert [status_of(db, r)[0] for r in waiting] == ["scheduled", "scheduled"]


def test_without_quotas_runs_ending_together_look_for_waiting_runs_once(db, held, start):
    ended = [new_run(db, "vision") for _ in range(3)]
    for run_id in ended:
        start(run_id)
        advance(db, run_id, S.RUNNING)

    with statements(db) as said:
        end_together(db, *ended)

    assert len([s for s in said if "FROM quotas" in s]) == 1


def test_cpu_and_memory_requests_count_against_the_quota(db, held, start):
    set_quota(db, "project", "vision", cpu=1.5, memory=2 * 2**30)
    one_cpu = new_run(db, "vision", requests={"cpu": "1", "memory": "512Mi"})
    another = new_run(db, "vision", requests={"cpu": "1000m"})
    light = new_run(db, "vision", requests={"memory": "1Gi"})

    for run_id in (one_cpu, another, light):
        start(run_id)

    assert status_of(db, one_cpu)[0] == "scheduled"
    assert status_of(db, another) == (
        "queued",
        "runner local; quota project vision: 1 of 1.5 CPUs in use, the run asks for 1",
    )
    assert status_of(db, light)[0] == "scheduled"


def test_a_run_that_alone_needs_more_than_the_quota_fails_at_once(db, held, start):
    set_quota(db, "project", "vision", memory=2**30)
    greedy = new_run(db, "vision", requests={"memory": "2Gi"})

    start(greedy)

    assert status_of(db, greedy) == (
        "failed",
        "quota project vision: the run asks for 2Gi memory, more than the whole quota of 1Gi",
    )
    assert held == []


def test_a_subscription_that_says_quota_refuse_fails_a_run_over_quota(axon, db, held, start):
    axon.create_project()
    axon.subscribe(quota="refuse")
    set_quota(db, "project", "vision", runs=1)
    [first] = axon.push()
    [second] = axon.push()

    start(first)
    start(second)

    run = axon.run(second)
    assert run["status"] == "failed"
    assert run["conditions"][-1]["reason"] == "QuotaExceeded"
    assert run["conditions"][-1]["message"] == (
        "quota project vision: 1 of 1 concurrent runs in use"
    )


def test_a_subscription_quota_setting_other_than_wait_or_refuse_is_refused(axon, client):
    axon.create_project()

    answer = client.post(
        "/api/v1/projects/vision/subscriptions", json=subscription(quota="sometimes")
    )

    assert answer.status_code == 422
    assert "quota" in answer.json["error"]["message"]
    assert "expected wait or refuse" in answer.json["error"]["message"]


def test_a_higher_priority_queue_is_admitted_first(db, client, held, start, enqueued):
    project_id(db, "vision")
    client.put("/api/v1/projects/vision/queues/urgent", json={"priority": 10})
    set_quota(db, "project", "vision", runs=1)
    holder = new_run(db, "vision", queue="batch")
    batch = new_run(db, "vision", queue="batch")
    urgent = new_run(db, "vision", queue="urgent")
    for run_id in (holder, batch, urgent):
        start(run_id)
    enqueued.clear()

    advance(db, holder, S.RUNNING, S.SUCCEEDED)
    sent = [args[0] for name, args in enqueued if name == "axon.start_run"]
    start(batch)  # the sweeper may send the older run's start first: it lets the urgent go
    start(urgent)

    assert sent[0] == urgent
    assert status_of(db, batch)[0] == "queued"
    assert status_of(db, urgent)[0] == "scheduled"


def test_an_orgs_quota_counts_the_runs_of_all_its_projects(db, held, start):
    with db.session() as session:
        org = Organization(name="acme")
        session.add(org)
        session.flush()
        for name in ("vision", "speech"):
            session.get(Project, project_id(db, name)).org_id = org.id
    set_quota(db, "org", "acme", runs=1)
    seen, heard = new_run(db, "vision"), new_run(db, "speech")

    start(seen)
    start(heard)

    assert status_of(db, heard) == (
        "queued",
        "runner local; quota org acme: 1 of 1 concurrent runs in use",
    )


def test_the_projects_quotas_answer_shows_limits_and_usage(db, client, held, start):
    set_quota(db, "project", "vision", runs=4, gpu=2)
    start(new_run(db, "vision", requests={"cpu": "2", "memory": "1Gi"}))

    answer = client.get("/api/v1/projects/vision/quotas").json

    assert answer["usage"] == {"runs": 1, "cpu": 2.0, "memory": 2**30, "gpu": 0}
    assert answer["quotas"] == [
        {
            "scope": {"kind": "project", "name": "vision"},
            "limits": {"runs": 4, "cpu": None, "memory": None, "gpu": 2},
            "usage": {"runs": 1, "cpu": 2.0, "memory": 2**30, "gpu": 0},
            "waiting": 0,
        }
    ]


def test_a_quota_is_set_with_quantities_and_refused_naming_a_bad_field(db, client):
    project_id(db, "vision")
    base = "/api/v1/projects/vision/quota"

    good = client.put(base, json={"runs": 8, "cpu": "500m", "memory": "16Gi"})
    bad_memory = client.put(base, json={"memory": "lots"})
    unknown = client.put(base, json={"disk": 3})
    negative = client.put(base, json={"gpu": -1})
    team = client.put("/api/v1/quotas/team/research", json={"runs": 1})

    assert good.status_code == 200, good.json
    assert (good.json["cpu"], good.json["memory"]) == (0.5, 16 * 2**30)
    for answer, field in ((bad_memory, "memory"), (unknown, "disk"), (negative, "gpu")):
        assert answer.status_code == 422
        assert answer.json["error"]["errors"][0]["path"] == field
    assert team.status_code == 422
    assert "<org>/<team>" in team.json["error"]["message"]
    assert client.delete(base).status_code == 204
    assert client.delete(base).status_code == 404


def test_a_distributed_runs_demand_counts_every_replica_and_its_gpus():
    compiled = {
        "component": {
            "run": {
                "kind": "pytorchjob",
                "master": {"replicas": 1, "container": {"resources": {"limits": {"cpu": 2}}}},
                "worker": {
                    "replicas": 3,
                    "container": {
                        "resources": {
                            "requests": {"cpu": "500m", "memory": "1Gi"},
                            "limits": {"nvidia.com/gpu": 1},
                        }
                    },
                },
            }
        }
    }

    assert quotas.demand(compiled) == quotas.Demand(runs=1, cpu=3.5, memory=3 * 2**30, gpu=3)


def test_a_run_without_resources_counts_one_run_and_nothing_else():
    assert quotas.demand({"component": {"run": {"kind": "job", "container": {}}}}) == (
        quotas.Demand(runs=1)
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", 0.5), ("2", 2.0), ("1Ki", 1024.0), ("1e3", 1000.0), ("1.5G", 1.5e9)],
)
def test_kubernetes_quantities_are_read_as_numbers(text, value):
    assert float(quantities.parse(text)) == value


def test_a_value_that_is_not_a_quantity_is_refused_with_the_form_expected():
    with pytest.raises(quantities.QuantityError, match="'12XB' is not a quantity"):
        quantities.parse("12XB")


def test_a_queued_run_is_counted_as_waiting_not_as_in_use(db, held, start, client):
    set_quota(db, "project", "vision", runs=1)
    start(new_run(db, "vision"))
    start(new_run(db, "vision"))

    [quota] = client.get("/api/v1/projects/vision/quotas").json["quotas"]

    assert (quota["usage"]["runs"], quota["waiting"]) == (1, 1)
    with db.session() as session:
        assert session.query(Run).filter_by(status=S.QUEUED).count() == 1


def test_a_teams_quota_counts_the_runs_of_the_projects_it_is_a_member_of(db, held, start):
    with db.session() as session:
        org = Organization(name="labs")
        session.add(org)
        session.flush()
        team = Team(org_id=org.id, name="ml")
        session.add(team)
        session.flush()
        for name in ("vision", "speech"):
            session.add(
                ProjectMember(project_id=project_id(db, name), team_id=team.id, role="member")
            )
    set_quota(db, "team", "labs/ml", runs=1)
    seen, heard = new_run(db, "vision"), new_run(db, "speech")

    start(seen)
    start(heard)

    assert status_of(db, heard) == (
        "queued",
        "runner local; quota team labs/ml: 1 of 1 concurrent runs in use",
    )
