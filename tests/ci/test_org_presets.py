"""Org presets: an org's partial operations, named by every project of the org; a project
preset of the same name overrides the org's, and an org default reaches every project's runs."""

from __future__ import annotations

from typing import Any

from ci.store.models import Run
from tests.ci.conftest import operation
from tests.ci.test_presets import SMALL, add_preset, container_of, with_presets

GPU = {"queue": "gpu", "runPatch": {"container": {"env": [{"name": "PROFILE", "value": "org"}]}}}
OWN = {"queue": "mine", "runPatch": {"container": {"env": [{"name": "PROFILE", "value": "own"}]}}}


def add_org_preset(client: Any, name: str, preset: Any, org: str = "default", **more: Any) -> Any:
    return client.post(f"/api/v1/orgs/{org}/presets", json={"name": name, "preset": preset, **more})


def compiled(db: Any, run_id: int) -> dict[str, Any]:
    with db.session() as session:
        run = session.get(Run, run_id)
        return {"queue": run.compiled.get("queue"), "env": container_of(run).get("env") or []}


def test_an_org_preset_is_named_by_a_project_of_the_org(axon, client, db, start):
    axon.create_project()
    assert add_org_preset(client, "gpu", GPU).status_code == 201
    axon.subscribe(operation=with_presets("gpu"))
    [run_id] = axon.push()

    start(run_id)

    found = compiled(db, run_id)
    assert found["queue"] == "gpu"
    assert {"name": "PROFILE", "value": "org"} in found["env"]


def test_a_project_preset_overrides_the_org_preset_of_the_same_name(axon, client, db, start):
    axon.create_project()
    add_org_preset(client, "gpu", GPU)
    assert add_preset(client, "gpu", OWN).status_code == 201
    axon.subscribe(operation=with_presets("gpu"))
    [run_id] = axon.push()

    start(run_id)

    found = compiled(db, run_id)
    assert found["queue"] == "mine"
    assert {"name": "PROFILE", "value": "own"} in found["env"]
    assert {"name": "PROFILE", "value": "org"} not in found["env"]


def test_an_org_default_preset_applies_to_every_run_of_its_projects(axon, client, db, start):
    axon.create_project()
    add_org_preset(client, "small", SMALL, default=True)
    axon.subscribe(operation=operation())
    [run_id] = axon.push()

    start(run_id)

    found = compiled(db, run_id)
    assert found["queue"] == "fast"
    assert {"name": "PROFILE", "value": "small"} in found["env"]


def test_a_project_preset_of_the_same_name_stops_the_org_default(axon, client, db, start):
    axon.create_project()
    add_org_preset(client, "small", SMALL, default=True)
    add_preset(client, "small", OWN, default=False)
    axon.subscribe(operation=operation())
    [run_id] = axon.push()

    start(run_id)

    found = compiled(db, run_id)
    assert found["queue"] != "fast"
    assert {"name": "PROFILE", "value": "small"} not in found["env"]


def test_a_project_default_is_merged_after_the_org_default(axon, client, db, start):
    axon.create_project()
    add_org_preset(client, "org-wide", GPU, default=True)
    add_preset(client, "team", OWN, default=True)
    axon.subscribe(operation=operation())
    [run_id] = axon.push()

    start(run_id)

    assert compiled(db, run_id)["queue"] == "mine"


def test_an_unknown_preset_names_the_org_presets_among_the_known(axon, client, start):
    axon.create_project()
    add_org_preset(client, "gpu", GPU)
    add_preset(client, "small", SMALL)
    axon.subscribe(operation=with_presets("huge"))
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert "unknown preset 'huge'; known: gpu, small" in run["conditions"][-1]["message"]


def test_org_presets_are_listed_shown_changed_and_deleted(client):
    assert add_org_preset(client, "gpu", GPU).status_code == 201

    assert [p["name"] for p in client.get("/api/v1/orgs/default/presets").json] == ["gpu"]
    shown = client.get("/api/v1/orgs/default/presets/gpu").json
    assert (shown["scope"], shown["preset"]["queue"], shown["default"]) == ("org", "gpu", False)
    changed = client.put(
        "/api/v1/orgs/default/presets/gpu", json={"preset": {"queue": "a100"}, "default": True}
    )
    assert (changed.json["preset"]["queue"], changed.json["default"]) == ("a100", True)
    assert client.delete("/api/v1/orgs/default/presets/gpu").status_code == 204
    assert client.get("/api/v1/orgs/default/presets/gpu").status_code == 404


def test_a_projects_inherited_presets_list_what_its_runs_may_name(axon, client):
    axon.create_project()
    add_org_preset(client, "gpu", GPU)
    add_org_preset(client, "small", SMALL, default=True)
    add_preset(client, "small", OWN)

    own = client.get("/api/v1/projects/vision/presets").json
    every = client.get("/api/v1/projects/vision/presets?inherited=true").json

    assert [(p["name"], p["scope"]) for p in own] == [("small", "project")]
    assert [(p["name"], p["scope"], p["default"]) for p in every] == [
        ("gpu", "org", False),
        ("small", "project", False),
    ]
    bad = client.get("/api/v1/projects/vision/presets?inherited=maybe")
    assert bad.status_code == 400
    assert bad.json["error"]["message"] == "inherited: expected true or false, not 'maybe'"


def test_an_org_preset_is_refused_naming_the_field_and_the_reason(client):
    wrong = add_org_preset(client, "bad", {"termination": {"maxRetries": "many"}})
    twice = [add_org_preset(client, "gpu", GPU).status_code for _ in range(2)]
    nowhere = add_org_preset(client, "gpu", GPU, org="no-such-org")

    assert wrong.status_code == 422
    assert wrong.json["error"]["errors"][0]["path"] == "preset.termination.maxRetries"
    assert twice == [201, 409]
    assert nowhere.status_code in (403, 404)
