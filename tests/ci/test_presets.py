"""Presets: a project's partial operations, merged at compile by name or by default."""

from __future__ import annotations

from typing import Any

from ci.runs import launch, lifecycle
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.ci.conftest import operation
from tests.ci.test_pipelines import Pipeline, dag, op

SMALL = {
    "version": 1.1,
    "kind": "operation",
    "isPreset": True,
    "queue": "fast",
    "runPatch": {
        "container": {
            "env": [{"name": "PROFILE", "value": "small"}],
            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
        }
    },
}
GPU_NODES = {
    "runPatch": {
        "environment": {
            "nodeSelector": {"accelerator": "a100"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
        "container": {"resources": {"limits": {"nvidia.com/gpu": 2}}},
    }
}


def with_presets(*names: str) -> dict[str, Any]:
    op = operation()
    op["presets"] = list(names)
    return op


def add_preset(client: Any, name: str, preset: Any, project: str = "vision", **more: Any) -> Any:
    return client.post(
        f"/api/v1/projects/{project}/presets", json={"name": name, "preset": preset, **more}
    )


def container_of(run: Run) -> dict[str, Any]:
    return run.compiled["component"]["run"]["container"]


def test_a_preset_named_in_presets_is_merged_into_the_operation(axon, client, db, submitted, start):
    axon.create_project()
    assert add_preset(client, "small", SMALL).status_code == 201
    axon.subscribe(operation=with_presets("small"))
    [run_id] = axon.push()

    start(run_id)

    with db.session() as session:
        run = session.get(Run, run_id)
        assert run.status == RunStatus.SCHEDULED
        assert run.compiled["queue"] == "fast"
        assert {"name": "PROFILE", "value": "small"} in container_of(run)["env"]
        assert container_of(run)["resources"]["requests"] == {"cpu": "500m", "memory": "256Mi"}
    assert submitted[0].env["PROFILE"] == "small"


def test_an_unknown_preset_fails_the_run_naming_it_and_the_known_ones(axon, client, start):
    axon.create_project()
    add_preset(client, "small", SMALL)
    axon.subscribe(operation=with_presets("huge"))
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert "unknown preset 'huge'; known: small" in run["conditions"][-1]["message"]


def test_a_projects_default_preset_applies_to_every_operation(axon, client, db, start):
    axon.create_project()
    assert add_preset(client, "small", SMALL, default=True).status_code == 201
    axon.subscribe()
    [run_id] = axon.push()

    start(run_id)

    with db.session() as session:
        run = session.get(Run, run_id)
        assert run.compiled["queue"] == "fast"
        assert {"name": "PROFILE", "value": "small"} in container_of(run)["env"]


def test_a_pre_merge_preset_leaves_the_operations_own_values(axon, client, db, start):
    axon.create_project()
    add_preset(client, "fallback", {**SMALL, "patchStrategy": "pre_merge", "queue": "slow"})
    op = with_presets("fallback")
    op["queue"] = "mine"
    axon.subscribe(operation=op)
    [run_id] = axon.push()

    start(run_id)

    with db.session() as session:
        assert session.get(Run, run_id).compiled["queue"] == "mine"


def test_node_selector_tolerations_and_gpus_reach_a_kubernetes_run(rt, axon, client, db):
    axon.create_project()
    add_preset(client, "gpu-nodes", GPU_NODES)
    with db.session() as session:
        project = session.query(Project).filter_by(name="vision").one()
        run = Run(project_id=project.id, name="train", spec=with_presets("gpu-nodes"))
        run.runner = "kubernetes"
        run.event = {"sha": "abc123"}
        lifecycle.create(session, run)
        session.flush()
        launch.compile_run(rt, session, run)
        assert run.status == RunStatus.COMPILED, run.conditions[-1].message
        environment = run.compiled["component"]["run"]["environment"]
        assert environment["nodeSelector"] == {"accelerator": "a100"}
        assert environment["tolerations"][0]["key"] == "gpu"
        assert container_of(run)["resources"]["limits"] == {"nvidia.com/gpu": 2}


def test_presets_are_listed_shown_changed_and_deleted(axon, client):
    axon.create_project()
    add_preset(client, "small", SMALL)
    base = "/api/v1/projects/vision/presets"

    assert [p["name"] for p in client.get(base).json] == ["small"]
    assert client.get(f"{base}/small").json["preset"]["queue"] == "fast"
    changed = client.put(
        f"{base}/small", json={"preset": {**SMALL, "queue": "slow"}, "default": True}
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["preset"]["queue"], changed.json["default"]) == ("slow", True)
    assert client.delete(f"{base}/small").status_code == 204
    assert client.get(f"{base}/small").status_code == 404


def test_a_second_preset_of_the_same_name_is_refused_409(axon, client):
    axon.create_project()
    add_preset(client, "small", SMALL)

    assert add_preset(client, "small", SMALL).status_code == 409


def test_a_bad_preset_is_refused_naming_the_field_and_the_reason(axon, client):
    axon.create_project()

    bad_field = add_preset(client, "bad", {"queue": "fast", "termination": {"maxRetries": "many"}})
    unknown_key = client.post(
        "/api/v1/projects/vision/presets", json={"name": "x", "preset": SMALL, "colour": "red"}
    )
    no_name = client.post("/api/v1/projects/vision/presets", json={"preset": SMALL})

    assert bad_field.status_code == 422
    assert bad_field.json["error"]["errors"][0]["path"] == "preset.termination.maxRetries"
    assert unknown_key.status_code == 422
    assert unknown_key.json["error"]["errors"][0]["path"] == "colour"
    assert (no_name.status_code, no_name.json["error"]["errors"][0]["path"]) == (422, "name")


def test_a_queue_gets_a_priority_and_is_listed_highest_first(axon, client):
    axon.create_project()
    base = "/api/v1/projects/vision/queues"

    assert client.put(f"{base}/batch", json={"priority": -5}).status_code == 200
    assert client.put(f"{base}/urgent", json={"priority": 10}).status_code == 200
    refused = client.put(f"{base}/odd", json={"priority": "high"})

    assert client.get(base).json == [
        {"name": "urgent", "priority": 10},
        {"name": "batch", "priority": -5},
    ]
    assert (refused.status_code, refused.json["error"]["errors"][0]["path"]) == (422, "priority")


def test_a_preset_named_in_a_project_without_presets_is_unknown(axon, start):
    axon.create_project()
    axon.subscribe(operation=with_presets("small"))
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert "unknown preset 'small'; known: none" in run["conditions"][-1]["message"]


def test_a_dag_ops_preset_is_merged_into_that_op_when_it_starts(
    rt, axon, client, enqueued, submitted, local_runner
):
    axon.create_project()
    add_preset(client, "small", SMALL)
    axon.subscribe(operation=dag(op("a"), op("b", "a", presets=["small"])))
    [run_id] = axon.push()
    pipeline = Pipeline(rt, axon.db, axon, enqueued)
    enqueued.append(("axon.start_run", (run_id,)))
    pipeline.work()

    pipeline.end(run_id, "a", RunStatus.SUCCEEDED)

    assert pipeline.statuses(run_id)["b"] == "scheduled"
    by_name = {spec.name: spec for spec in submitted}
    assert by_name["b"].env["PROFILE"] == "small"
    assert "PROFILE" not in by_name["a"].env
