"""Runs' artifacts in the store chosen by setting: a directory by default, S3 through fsspec
against a real S3-compatible server (moto's server mode, started on loopback by the tests).
Uploads take the run's token or the API token, reads the API token; a finished run's logs are
kept there; the files go when the run is deleted."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from ci import runtime
from ci.agent import recording
from ci.artifacts import store
from ci.runs import lifecycle
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.ci.conftest import observed_to_end, operation
from tests.conftest import API_TOKEN
from tests.waiting import wait_for

S = RunStatus
RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
S3_KEYS = {"key": "testing", "secret": "testing"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server in its own process on loopback, with a bucket `axon-artifacts`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(url), timeout=60, message=f"moto's server at {url}")
        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="axon-artifacts")
        yield url
    finally:
        server.terminate()
        server.wait(30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.ConnectionError:
        return False


def use_settings(**update: Any) -> None:
    """Change the settings of the app under test (the runtime it made for itself)."""
    current = runtime.get()
    current.settings = current.settings.model_copy(update=update)


def artifacts() -> store.ArtifactStore:
    return store.for_settings(runtime.get().settings)


@pytest.fixture(params=["directory", "s3"])
def kind(request: pytest.FixtureRequest, client: Any) -> str:
    """Each test runs once against the default directory store and once against S3."""
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_server")
        options = json.dumps({**S3_KEYS, "endpoint_url": endpoint})
        use_settings(artifacts_url="s3://axon-artifacts/runs", artifacts_options=options)
    assert artifacts().url.startswith("s3://" if request.param == "s3" else "/")
    return str(request.param)


def add_run(db: Any, *path: S, parent: int | None = None) -> Run:
    with db.session() as session:
        project = session.query(Project).filter_by(name="vision").one_or_none()
        project = project or Project(name="vision")
        run = Run(project=project, name="train", runner="local", parent_id=parent)
        if parent is not None:
            run.op_name = f"op-{parent}"
        lifecycle.create(session, run)
        session.flush()
        for status in path:
            if status == S.SCHEDULED:
                run.external_id = f"local-{run.uuid}"
            lifecycle.transition(session, run, status)
        session.flush()
        session.expunge(run)
        return run


def upload(client: Any, run: Run, path: str, data: bytes, token: str | None = None) -> Any:
    token = runtime.get().run_token(run.uuid) if token is None else token
    return client.put(
        f"/api/v1/runs/{run.uuid}/artifacts/{path}",
        data=data,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_job_uploads_files_and_a_user_lists_and_downloads_them(kind, db, client):
    run = add_run(db, *RUNNING)

    answers = [
        upload(client, run, "models/model.pt", b"\x00weights\xff"),
        upload(client, run, "artifacts/report.html", b"<h1>accuracy 0.93</h1>"),
    ]
    listed = client.get(f"/api/v1/runs/{run.uuid}/artifacts")
    model = client.get(f"/api/v1/runs/{run.uuid}/artifacts/models/model.pt")

    assert [a.status_code for a in answers] == [201, 201], [a.json for a in answers]
    assert answers[0].json == {"path": "models/model.pt", "size": 9}
    assert listed.json == [
        {"path": "artifacts/report.html", "size": 22},
        {"path": "models/model.pt", "size": 9},
    ]
    assert model.status_code == 200
    assert model.data == b"\x00weights\xff"
    assert "filename*=UTF-8''model.pt" in model.headers["Content-Disposition"]


def test_an_upload_replaces_a_file_of_the_same_path(kind, db, client):
    run = add_run(db, *RUNNING)
    upload(client, run, "artifacts/notes.txt", b"first")
    upload(client, run, "artifacts/notes.txt", b"second")

    assert client.get(f"/api/v1/runs/{run.uuid}/artifacts/artifacts/notes.txt").data == b"second"
    assert len(client.get(f"/api/v1/runs/{run.uuid}/artifacts").json) == 1


def test_deleting_a_run_deletes_its_files_and_those_of_the_runs_below_it(kind, db, client):
    parent = add_run(db, *RUNNING)
    child = add_run(db, *RUNNING, parent=parent.id)
    other = add_run(db, *RUNNING)
    for run in (parent, child, other):
        upload(client, run, "artifacts/a.txt", b"a")
    with db.session() as session:
        for run_id in (child.id, parent.id):
            lifecycle.transition(session, session.get(Run, run_id), S.SUCCEEDED)

    answer = client.delete(f"/api/v1/runs/{parent.uuid}")

    assert answer.status_code == 204, answer.json
    assert artifacts().files(parent.uuid) == [] and artifacts().files(child.uuid) == []
    assert [a.path for a in artifacts().files(other.uuid)] == ["artifacts/a.txt"]


def test_a_finished_runs_logs_are_kept_whole_in_the_store(kind, db, client):
    run = add_run(db, *RUNNING)
    logs = "".join(f"epoch {n}: loss {1 / (n + 1):.4f}\n" for n in range(5000))

    recording.keep_logs(runtime.get(), run.uuid, 0, logs)

    kept = client.get(f"/api/v1/runs/{run.uuid}/artifacts/logs/attempt-0.log")
    assert kept.status_code == 200
    assert kept.data.decode() == logs


def test_only_the_runs_token_or_the_api_token_may_upload_and_reads_need_the_api_token(
    kind, db, client, anonymous_client, rt
):
    run, other = add_run(db, *RUNNING), add_run(db, *RUNNING)

    refused = [
        upload(anonymous_client, run, "a.txt", b"x", token=rt.run_token(other.uuid)),
        upload(anonymous_client, run, "a.txt", b"x", token="nothing"),
    ]
    by_user = upload(anonymous_client, run, "b.txt", b"y", token=API_TOKEN)
    read_with_run_token = anonymous_client.get(
        f"/api/v1/runs/{run.uuid}/artifacts",
        headers={"Authorization": f"Bearer {rt.run_token(run.uuid)}"},
    )

    assert [answer.status_code for answer in refused] == [401, 401]
    assert by_user.status_code == 201
    assert read_with_run_token.status_code == 401
    assert [a["path"] for a in client.get(f"/api/v1/runs/{run.uuid}/artifacts").json] == ["b.txt"]


@pytest.mark.parametrize("path", ["../other/secret", "a//b", "./a", "a/../../b"])
def test_a_path_that_would_leave_the_runs_folder_is_refused(db, client, path):
    run = add_run(db, *RUNNING)

    answer = upload(client, run, path, b"x")

    assert answer.status_code in (400, 404), answer.data
    assert client.get(f"/api/v1/runs/{run.uuid}/artifacts").json == []


def test_a_finished_runs_artifacts_are_final_and_a_missing_one_is_404(db, client):
    run = add_run(db, *RUNNING, S.SUCCEEDED)

    late = upload(client, run, "artifacts/late.txt", b"x")
    missing = client.get(f"/api/v1/runs/{run.uuid}/artifacts/artifacts/none.txt")

    assert late.status_code == 409
    assert "its artifacts are final" in late.json["error"]["message"]
    assert missing.status_code == 404


def test_an_upload_beyond_the_cap_is_refused_and_keeps_nothing(db, client):
    use_settings(artifact_max_bytes=10)
    run = add_run(db, *RUNNING)

    answer = upload(client, run, "big.bin", b"x" * 11)

    assert answer.status_code == 413
    assert client.get(f"/api/v1/runs/{run.uuid}/artifacts").json == []


def test_bad_store_options_name_their_variable(rt):
    settings = rt.settings.model_copy(update={"artifacts_options": "{not json"})

    with pytest.raises(Exception, match="AXON_ARTIFACTS_OPTIONS: expected a JSON object"):
        store.for_settings(settings)


def test_the_agent_keeps_a_local_runs_whole_logs_in_the_store_when_it_records_the_end(
    axon, start, local_runner, rt
):
    axon.create_project()
    axon.subscribe(operation=operation(code="print('training epoch 1')"))
    [run_id] = axon.push()
    start(run_id)
    found = axon.run(run_id)

    for observation in observed_to_end(local_runner, found["external_id"]):
        recording.apply(rt, local_runner, observation)

    assert axon.run(run_id)["status"] == "succeeded"
    kept = store.for_settings(rt.settings)
    assert [a.path for a in kept.files(found["uuid"])] == ["logs/attempt-0.log"]
    logs = b"".join(kept.read(found["uuid"], "logs/attempt-0.log")).decode()
    assert "training epoch 1" in logs
