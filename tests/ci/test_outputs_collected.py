"""A local run's outputs directory ($AXON_OUTPUTS_PATH) is collected into the artifacts store
under `outputs/` when its job ends, whatever the end; once, however often the end is seen; and
what cannot be collected is said in the run's events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ci.agent import recording
from ci.artifacts import collect, store
from ci.runs import launch
from ci.store.models import Run
from runners.kubernetes.outputs import OUTPUTS
from runners.local import LocalRunner
from tests.ci.conftest import observed_to_end, operation

WRITE = (
    "import os, pathlib, sys\n"
    "out = pathlib.Path(os.environ['AXON_OUTPUTS_PATH'])\n"
    "(out / 'model.txt').write_text('weights')\n"
    "assert os.environ['POLYAXON_RUN_OUTPUTS_PATH'] == str(out)\n"
)


def run_job(axon: Any, start: Any, runner: LocalRunner, rt: Any, code: str) -> dict[str, Any]:
    """Push, start the run on the local runner and record what the agent sees to its end."""
    axon.create_project()
    axon.subscribe(operation=operation(code=code))
    [run_id] = axon.push()
    start(run_id)
    found = axon.run(run_id)
    for observation in observed_to_end(runner, found["external_id"]):
        recording.apply(rt, runner, observation)
    return dict(axon.run(run_id))


def outputs_listed(client: Any, uuid: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/runs/{uuid}/artifacts")
    assert answer.status_code == 200, answer.json
    return [a for a in answer.json if a["path"].startswith("outputs/")]


def test_a_file_the_job_writes_to_its_outputs_path_is_listed_and_downloadable_after_success(
    axon, start, local_runner, rt, client
):
    run = run_job(axon, start, local_runner, rt, WRITE)

    assert run["status"] == "succeeded"
    assert outputs_listed(client, run["uuid"]) == [{"path": "outputs/model.txt", "size": 7}]
    download = client.get(f"/api/v1/runs/{run['uuid']}/artifacts/outputs/model.txt")
    assert (download.status_code, download.data) == (200, b"weights")


def test_a_failed_runs_outputs_are_collected_too(axon, start, local_runner, rt, client):
    run = run_job(axon, start, local_runner, rt, WRITE + "sys.exit(3)\n")

    assert run["status"] == "failed"
    assert outputs_listed(client, run["uuid"]) == [{"path": "outputs/model.txt", "size": 7}]


def test_an_agent_stopped_halfway_collects_everything_again_and_only_once(
    axon, start, local_runner, rt, client, monkeypatch
):
    code = (
        WRITE + "(out / 'metrics' ).mkdir()\n(out / 'metrics' / 'loss.csv').write_text('1,0.5')\n"
    )
    put = store.ArtifactStore.put
    down = [True]  # the store fails after the first file, until the agent starts again
    stored: list[str] = []

    def failing_after_one(self: store.ArtifactStore, uuid: str, path: str, *args: Any) -> int:
        if down[0] and stored:
            raise OSError("the store went away")
        stored.append(path)
        return put(self, uuid, path, *args)

    monkeypatch.setattr(store.ArtifactStore, "put", failing_after_one)
    run = run_job(axon, start, local_runner, rt, code)
    assert outputs_listed(client, run["uuid"]) == [{"path": "outputs/metrics/loss.csv", "size": 5}]

    # Another agent starts with the store back, and sees the run's end again, twice.
    down[0] = False
    stored.clear()
    for _ in range(2):
        for observation in observed_to_end(local_runner, run["external_id"]):
            recording.apply(rt, local_runner, observation)

    assert outputs_listed(client, run["uuid"]) == [
        {"path": "outputs/metrics/loss.csv", "size": 5},
        {"path": "outputs/model.txt", "size": 7},
    ]
    assert stored == ["outputs/metrics/loss.csv", "outputs/model.txt"]  # once, not twice
    events = client.get(f"/api/v1/runs/{run['uuid']}/job-events").json
    assert [e["data"] for e in events if e["name"] == "outputs"] == [{"files": 2, "bytes": 12}]


def test_files_beyond_the_limits_and_links_are_named_in_the_runs_events(
    axon, start, local_runner, rt, client, monkeypatch
):
    monkeypatch.setattr(collect, "MAX_FILES", 2)
    code = (
        WRITE
        + "(out / 'big.bin').write_bytes(b'x' * 100)\n"
        + "(out / 'extra.txt').write_text('more')\n"
        + "(out / 'passwd').symlink_to('/etc/passwd')\n"
    )
    monkeypatch.setattr(rt, "settings", rt.settings.model_copy(update={"artifact_max_bytes": 50}))
    run = run_job(axon, start, local_runner, rt, code)

    assert [a["path"] for a in outputs_listed(client, run["uuid"])] == ["outputs/extra.txt"]
    [event] = [
        e
        for e in client.get(f"/api/v1/runs/{run['uuid']}/job-events").json
        if e["name"] == "outputs"
    ]
    assert event["data"] == {
        "files": 1,
        "bytes": 4,
        "refused": [
            "outputs/passwd: a symbolic link, not collected",
            "outputs/big.bin: 100 bytes, more than the 50 an artifact may have",
            "outputs/model.txt: more than 2 files in the outputs directory",
        ],
        "refused_count": 3,
    }


def test_a_run_the_local_runner_never_ran_has_no_outputs_directory(local_runner):
    assert local_runner.outputs("0f6c1f2e9c5b4c3a8d7e6f5a4b3c2d1e.1") is None
    assert local_runner.outputs(".launcher") is None


def test_each_try_of_a_retried_run_is_collected_the_last_files_winning(
    axon, start, local_runner, rt, client
):
    code = (
        "import os, pathlib, sys\n"
        "out = pathlib.Path(os.environ['AXON_OUTPUTS_PATH'])\n"
        "first = not (out / 'first.txt').exists()\n"
        "(out / ('first.txt' if first else 'second.txt')).write_text('x')\n"
        "(out / 'model.txt').write_text('try 1' if first else 'try 2')\n"
        "sys.exit(3 if first else 0)\n"
    )
    op = operation(code=code)
    op["component"]["termination"] = {"timeout": 30, "maxRetries": 1}
    axon.create_project()
    axon.subscribe(operation=op)
    [run_id] = axon.push()

    def one_try() -> dict[str, Any]:
        start(run_id)
        for observation in observed_to_end(local_runner, axon.run(run_id)["external_id"]):
            recording.apply(rt, local_runner, observation)
        return dict(axon.run(run_id))

    run = one_try()
    assert run["status"] == "retrying"
    listed = outputs_listed(client, run["uuid"])
    assert [a["path"] for a in listed] == ["outputs/first.txt", "outputs/model.txt"]

    run = one_try()
    assert (run["status"], run["external_id"]) == ("succeeded", f"{run['uuid']}.1")
    assert [a["path"] for a in outputs_listed(client, run["uuid"])] == [
        "outputs/first.txt",
        "outputs/model.txt",
        "outputs/second.txt",
    ]
    model = client.get(f"/api/v1/runs/{run['uuid']}/artifacts/outputs/model.txt")
    assert model.data == b"try 2"


def test_globals_run_outputs_path_names_the_directory_each_runner_collects(axon, rt, db):
    op = operation()
    op["component"]["run"]["container"]["args"] = ["--out={{ globals.run_outputs_path }}"]
    axon.create_project()
    axon.subscribe(operation=op)
    compiled = {}
    for runner in ("local", "kubernetes"):
        [run_id] = axon.push()
        with db.session() as session:
            run = session.get(Run, run_id)
            run.runner = runner
            launch.compile_run(rt, session, run)
            compiled[runner] = (run.uuid, run.compiled["command"][-1])

    uuid, local = compiled["local"]
    assert local == f"--out={Path(rt.settings.runs_dir) / uuid / 'outputs'}"
    assert compiled["kubernetes"][1] == f"--out={OUTPUTS}"
