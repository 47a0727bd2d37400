"""A hook's `presets:` are looked up like an operation's (the project's, then its org's) and
reach the hook through their params; a preset that would patch a run is refused for a hook,
naming its fields, and an unknown one names the known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from ci.cli.spec import check
from ci.reporting import run_hooks
from ci.store.models import Run
from tests.ci.conftest import operation
from tests.ci.test_presets import add_preset

ALERTS = {"params": {"channel": {"value": "#ml-alerts"}}}


def hooked(*presets: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    hook: dict[str, Any] = {"hubRef": "slack", "trigger": "failed", "presets": list(presets)}
    if params:
        hook["params"] = params
    return {**operation(), "hooks": [hook]}


def test_a_hooks_preset_gives_the_hook_its_params(axon, client, db, start):
    axon.create_project()
    add_preset(client, "alerts", ALERTS)
    axon.subscribe(operation=hooked("alerts", params={"username": {"value": "axon"}}))
    [run_id] = axon.push()

    start(run_id)

    with db.session() as session:
        run = session.get(Run, run_id)
        assert run.status == "scheduled"
        [hook] = run_hooks.hooks_of(run.compiled)
    assert (hook.connection, hook.trigger) == ("slack", "failed")
    assert hook.params == {"channel": "#ml-alerts", "username": "axon"}


def test_an_org_preset_reaches_a_hook_and_pre_merge_keeps_the_hooks_own(axon, client, db, start):
    axon.create_project()
    preset = {**ALERTS, "patchStrategy": "pre_merge"}
    client.post("/api/v1/orgs/default/presets", json={"name": "alerts", "preset": preset})
    axon.subscribe(operation=hooked("alerts", params={"channel": {"value": "#mine"}}))
    [run_id] = axon.push()

    start(run_id)

    with db.session() as session:
        [hook] = run_hooks.hooks_of(session.get(Run, run_id).compiled)
    assert hook.params == {"channel": "#mine"}


def test_a_preset_that_patches_a_run_is_refused_for_a_hook_naming_its_fields(axon, client, start):
    axon.create_project()
    add_preset(client, "gpu", {"queue": "gpu", **ALERTS})
    axon.subscribe(operation=hooked("gpu"))
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert run["conditions"][-1]["message"] == (
        "hooks[0].presets: preset 'gpu' sets queue, which a hook does not use: a hook sends a "
        "report and starts no run, so only a preset's params reach it"
    )


def test_an_unknown_hook_preset_fails_the_run_naming_the_known_ones(axon, client, start):
    axon.create_project()
    add_preset(client, "alerts", ALERTS)
    axon.subscribe(operation=hooked("pager"))
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert run["conditions"][-1]["message"] == (
        "hooks[0].presets: unknown preset 'pager'; known: alerts"
    )


def test_axon_check_resolves_a_hooks_preset_from_a_presets_dir_and_warns_without(
    tmp_path: Path,
):
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump(hooked("alerts"), sort_keys=False))
    presets = tmp_path / "presets"
    presets.mkdir()
    document = {"version": 1.1, "kind": "operation", "isPreset": True, **ALERTS}
    (presets / "alerts.yaml").write_text(yaml.safe_dump(document))

    offline = CliRunner().invoke(check, ["-f", str(path)])
    found = CliRunner().invoke(check, ["-f", str(path), "--presets-dir", str(presets)])

    assert offline.exit_code == 0, offline.output
    assert "hooks[0].presets: preset 'alerts': not looked up" in offline.stderr
    assert found.exit_code == 0, found.output
    assert "presets" not in found.stderr


def test_a_hook_of_a_hub_component_naming_a_preset_is_refused_at_the_reference(
    axon, rt, client, start, tmp_path: Path
):
    hub = tmp_path / "hub" / "trainer"
    hub.mkdir(parents=True)
    hook = {"hubRef": "slack", "presets": ["alerts"]}
    (hub / "v1.yaml").write_text(yaml.safe_dump({**operation()["component"], "hooks": [hook]}))
    rt.settings = rt.settings.model_copy(update={"hub_dir": str(tmp_path / "hub")})
    by_hub = {"version": 1.1, "kind": "operation", "hubRef": "trainer:v1"}
    by_hub["params"] = operation()["params"]
    axon.create_project()
    add_preset(client, "alerts", ALERTS)
    axon.subscribe(operation=by_hub)
    [run_id] = axon.push()

    start(run_id)

    last = axon.run(run_id)["conditions"][-1]
    assert last["reason"] == "CompilationError"
    assert last["message"].startswith(
        "hubRef: a hook of its component: preset 'alerts': presets named inside a component "
        "found by reference are not applied"
    )
