"""A project's connections: written with secret values that never come back out, kept
encrypted under keys that rotate, and mounted into a run that names them (here on the local
runner: variables in its environment, files in its run directory)."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from ci import runtime
from ci.agent import recording
from ci.cli import client as cli_client
from ci.cli import commands
from ci.connections import crypto, mounts, rotation
from ci.reporting import reports
from ci.store import migrate
from ci.store.db import make_engine
from ci.store.models import (
    Condition,
    Connection,
    Delivery,
    Notification,
    Project,
    Run,
    Source,
)
from runners.base import RunSpec, SecretMount
from runners.local_mounts import carried
from schemas.status import RunStatus
from tests.ci.cli_transport import Api
from tests.ci.conftest import SECRET, advance, observed_to_end, operation
from tests.ci.test_reporting import notifiers_on_doubles  # noqa: F401  (a fixture)
from tests.conftest import drop_database, fixture_bytes, fresh_database, github_headers

PROJECT = "vision"


@pytest.fixture
def secret_value() -> str:
    return f"s3cr3t-{secrets.token_hex(12)}"


def create(client: Any, project: str = PROJECT, **fields: Any) -> Any:
    return client.post(f"/api/v1/projects/{project}/connections", json=fields)


def bucket(value: str, name: str = "store", **extra: Any) -> dict[str, Any]:
    """An S3 connection whose secret access key is `value`."""
    return {
        "name": name,
        "kind": "s3",
        "schema": {"bucket": "models", "endpoint_url": "http://minio:9000"},
        "secret": {"AWS_ACCESS_KEY_ID": "AKIA-EXAMPLE", "AWS_SECRET_ACCESS_KEY": value},
        **extra,
    }


def with_keys(rt: runtime.Runtime, keys: str) -> runtime.Runtime:
    """The same process with AXON_SECRETS_KEY set to `keys`."""
    return dataclasses.replace(rt, settings=rt.settings.model_copy(update={"secrets_key": keys}))


# -- the API -----------------------------------------------------------------------------------


def test_no_answer_of_the_api_carries_a_secret_value(axon, client, secret_value):
    axon.create_project()
    created = create(client, **bucket(secret_value))
    changed = client.patch(
        f"/api/v1/projects/{PROJECT}/connections/store",
        json={"secret": {"AWS_SESSION_TOKEN": secret_value + "-session"}},
    )
    answers = [
        created,
        changed,
        client.get(f"/api/v1/projects/{PROJECT}/connections"),
        client.get(f"/api/v1/projects/{PROJECT}/connections/store"),
        create(client, **bucket(secret_value)),  # 409: the name is taken
    ]

    assert [a.status_code for a in answers] == [201, 200, 200, 200, 409]
    for answer in answers:
        assert secret_value not in answer.get_data(as_text=True)
    assert created.json["secret_keys"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert created.json["schema"] == {"bucket": "models", "endpoint_url": "http://minio:9000"}
    assert changed.json["secret_keys"] == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]


def test_the_database_holds_the_secret_values_encrypted_only(rt, db, axon, client, secret_value):
    axon.create_project()
    create(client, **bucket(secret_value))

    with db.session() as session:
        row = session.scalar(select(Connection).where(Connection.name == "store"))
        stored = f"{row.secret} {row.schema} {row.env} {row.secret_keys}"
        opened = crypto.unseal(rt, row.secret, "store")

    assert secret_value not in stored
    assert opened["AWS_SECRET_ACCESS_KEY"] == secret_value


@pytest.mark.parametrize(
    ("fields", "path", "reason"),
    [
        ({"kind": "ftp"}, "kind", "required, one of git, s3"),
        ({"name": "Has Spaces"}, "name", "lowercase letters"),
        ({"schema": {}}, "schema.bucket", "required for a s3 connection"),
        ({"secret": ["x"]}, "secret", "expected an object"),
        ({"secret": {"TOKEN": 42}}, "secret.TOKEN", "expected text"),
        ({"secret": {"../etc": "x"}}, "secret", "each name"),
        ({"mount_path": "relative/dir"}, "mount_path", "expected an absolute path"),
        ({"mount_path": "/etc/../root"}, "mount_path", "without '..'"),
        ({"env": {"KEY": "MISSING"}}, "env.KEY", "not a key of its secret"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_a_bad_field_is_refused_422_naming_it_and_never_echoing_a_value(
    axon, client, secret_value, fields, path, reason
):
    axon.create_project()

    response = create(client, **{**bucket(secret_value), **fields})

    assert response.status_code == 422
    [problem] = response.json["error"]["errors"]
    assert problem["path"] == path
    assert reason in problem["reason"]
    assert secret_value not in response.get_data(as_text=True)


def test_a_connection_is_deleted_and_then_unknown(axon, client, secret_value):
    axon.create_project()
    create(client, **bucket(secret_value))

    deleted = client.delete(f"/api/v1/projects/{PROJECT}/connections/store")
    again = client.get(f"/api/v1/projects/{PROJECT}/connections/store")

    assert (deleted.status_code, again.status_code) == (204, 404)
    assert again.json["error"]["message"] == "no connection named 'store' in project 'vision'"


# -- keys ----------------------------------------------------------------------------------


def test_rows_sealed_under_one_key_are_read_under_the_next_after_rotation(
    rt, db, axon, client, secret_value
):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    runtime.get().settings = with_keys(rt, key_a).settings
    axon.create_project()  # the app's process writes under A
    for index in range(3):
        assert (
            create(client, **bucket(f"{secret_value}-{index}", name=f"store-{index}")).status_code
            == 201
        )

    rotated = rotation.rotate(with_keys(rt, f"{key_b},{key_a}"))

    only_b = with_keys(rt, key_b)
    with db.session() as session:
        rows = session.scalars(select(Connection).order_by(Connection.name)).all()
        opened = [crypto.unseal(only_b, row.secret, row.name) for row in rows]
    assert rotated == 4  # and the project's webhook source
    assert [o["AWS_SECRET_ACCESS_KEY"] for o in opened] == [
        f"{secret_value}-{index}" for index in range(3)
    ]
    with pytest.raises(crypto.SecretsKeyError) as refused:
        crypto.unseal(with_keys(rt, key_a), rows[0].secret, "store-0")
    assert "no key of AXON_SECRETS_KEY opens" in str(refused.value)


def test_rotating_with_a_key_list_that_lacks_the_old_key_changes_no_row(
    rt, db, axon, client, secret_value
):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    runtime.get().settings = with_keys(rt, key_a).settings
    axon.create_project()
    create(client, **bucket(secret_value))

    with pytest.raises(crypto.SecretsKeyError) as refused:
        rotation.rotate(with_keys(rt, key_b))

    assert "connection vision/store" in str(refused.value)
    with db.session() as session:
        row = session.scalar(select(Connection))
        assert crypto.unseal(with_keys(rt, key_a), row.secret, "store")


def test_the_rotate_key_command_reencrypts_every_row(
    rt, db, axon, client, secret_value, monkeypatch
):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    runtime.get().settings = with_keys(rt, key_a).settings
    axon.create_project()
    create(client, **bucket(secret_value))
    monkeypatch.setattr(runtime, "init", lambda settings=None: with_keys(rt, f"{key_b},{key_a}"))

    result = CliRunner().invoke(commands.main, ["connections", "rotate-key"])

    assert result.exit_code == 0, result.output
    assert result.output == "re-encrypted 2 connection(s) and source(s) with the newest key\n"
    with db.session() as session:
        row = session.scalar(select(Connection))
        assert (
            crypto.unseal(with_keys(rt, key_b), row.secret, "store")["AWS_SECRET_ACCESS_KEY"]
            == secret_value
        )


def test_without_a_secrets_key_the_key_is_derived_from_the_secret_key(rt):
    sealed = crypto.seal(rt, {"TOKEN": "x"})

    derived = with_keys(rt, crypto.derived_key(rt.secret_key).decode())

    assert crypto.unseal(derived, sealed, "t") == {"TOKEN": "x"}


def test_a_secrets_key_that_is_not_a_fernet_key_is_named(rt):
    with pytest.raises(crypto.SecretsKeyError) as refused:
        crypto.seal(with_keys(rt, f"{Fernet.generate_key().decode()},not-a-key"), {"A": "b"})

    assert str(refused.value).startswith("AXON_SECRETS_KEY: key 2 is not a Fernet key")


# -- a run that names connections ---------------------------------------------------------

WRITE_ENV_AND_FILE = """
import os, stat, pathlib
out = pathlib.Path({out!r})
folder = pathlib.Path(os.environ["AXON_CONNECTION_CREDS_PATH"])
token = folder / "token"
out.write_text(os.environ["AWS_SECRET_ACCESS_KEY"] + "\\n" + token.read_text() + "\\n"
               + oct(stat.S_IMODE(token.stat().st_mode)))
print("wrote what the connections gave")
"""


def connected_operation(out: Path) -> dict[str, Any]:
    doc = operation(code=WRITE_ENV_AND_FILE.format(out=str(out)))
    doc["component"]["run"]["connections"] = ["store", "creds"]
    return doc


def test_a_run_gets_its_connections_and_no_record_of_it_holds_a_value(
    rt,
    db,
    axon,
    client,
    local_runner,
    start,
    slack,
    secret_value,
    tmp_path,
    caplog,
    capfd,
    notifiers_on_doubles,  # noqa: F811
):
    caplog.set_level(logging.DEBUG)
    file_value = secret_value + "-file"
    out = tmp_path / "seen.txt"
    axon.create_project()
    create(client, **bucket(secret_value))
    create(
        client, name="creds", kind="secret", secret={"token": file_value}, mount_path="/etc/creds"
    )
    slack.expect_message(times=1)
    axon.subscribe(operation=connected_operation(out), report={"slack": {}})
    [run_id] = axon.push()

    start(run_id)
    run = axon.run(run_id)
    for observation in observed_to_end(local_runner, run["external_id"]):
        recording.apply(rt, local_runner, observation)
    reports.report_run(rt, run_id)

    env_value, file_seen, mode = out.read_text().split("\n")
    assert (env_value, file_seen, mode) == (secret_value, file_value, "0o600")
    uuid = run["uuid"]
    said = [
        client.get(f"/api/v1/runs/{uuid}").get_data(as_text=True),
        client.get(f"/api/v1/runs/{uuid}/logs").get_data(as_text=True),
        client.get(f"/api/v1/runs/{uuid}/events").get_data(as_text=True),
        client.get(f"/api/v1/runs/{uuid}/notifications").get_data(as_text=True),
        local_runner.logs(run["external_id"]),
        caplog.text,
        *capfd.readouterr(),
        *(r.text for r in slack.requests),
    ]
    with db.session() as session:
        row = session.get(Run, run_id)
        said += [str(row.compiled), str(row.spec), str(row.logs), str(row.status)]
        said += [f"{c.reason} {c.message}" for c in session.scalars(select(Condition))]
        said += [str(vars(n)) for n in session.scalars(select(Notification))]
    assert axon.run(run_id)["status"] == "succeeded"
    assert "wrote what the connections gave" in said[1]
    assert '"state": "sent"' in said[3].replace('":"', '": "') and slack.requests
    assert [text for text in said if secret_value in text] == []


def test_a_connection_the_project_lacks_is_refused_on_the_local_runner_naming_it(
    axon, client, start, submitted, secret_value, tmp_path
):
    axon.create_project()
    create(client, **bucket(secret_value))
    doc = operation()
    doc["component"]["run"]["connections"] = ["store", "elsewhere"]
    axon.subscribe(operation=doc)
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert "component.run.connections: the local runner cannot resolve connections" in str(run)
    assert submitted == []


def test_a_run_of_another_project_does_not_get_a_connection_of_the_same_name(
    rt, db, axon, client, secret_value
):
    axon.create_project()
    axon.create_project("other", source="gh-other")
    create(client, **bucket(secret_value))
    component = {"run": {"kind": "job", "connections": ["store"]}}

    with db.session() as session:
        ids = dict(session.execute(select(Project.name, Project.id)).all())
        mine = mounts.resolve(rt, session, ids[PROJECT], component)
        theirs = mounts.resolve(rt, session, ids["other"], component)

    assert mine[0] == {"run": {"kind": "job"}}
    assert mine[1][0].env["AWS_SECRET_ACCESS_KEY"] == secret_value
    assert secret_value not in repr(mine[1])
    assert theirs == (component, ())


def test_the_job_s_files_directory_is_only_its_user_s(tmp_path):
    mount = SecretMount("creds", env={"A": "1"}, files={"token": "t"}, path="/etc/creds")
    spec = carried(RunSpec(uuid="u", name="n", project="p", command=[], mounts=(mount,)), tmp_path)

    folder = Path(spec.env["AXON_CONNECTION_CREDS_PATH"])
    assert folder == tmp_path / "connections" / "creds"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "token").st_mode) == 0o600
    assert (spec.env["A"], spec.mounts) == ("1", ())


# -- the command -----------------------------------------------------------------------------


def test_the_command_creates_lists_and_removes_a_connection_showing_no_value(
    axon, client, db, monkeypatch, secret_value, tmp_path
):
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))
    axon.create_project()
    key_file = tmp_path / "key.pem"
    key_file.write_text(secret_value + "-file")
    runner = CliRunner()

    made = runner.invoke(
        commands.main,
        [
            "connections", "create", PROJECT, "creds", "--kind", "git",
            "--schema", "url=https://github.com/acme/models",
            "--secret", f"GIT_TOKEN={secret_value}", "--secret-file", f"key.pem={key_file}",
            "--env", "TOKEN=GIT_TOKEN",
        ],
    )  # fmt: skip
    listed = runner.invoke(commands.main, ["connections", "ls", PROJECT])
    removed = runner.invoke(commands.main, ["connections", "rm", PROJECT, "creds"])
    after = runner.invoke(commands.main, ["connections", "ls", PROJECT, "-o", "json"])

    assert [made.exit_code, listed.exit_code, removed.exit_code] == [0, 0, 0], made.output
    assert listed.output.splitlines() == [
        "NAME   KIND  SECRET KEYS        MOUNTED",
        "creds  git   GIT_TOKEN,key.pem  env",
    ]
    assert removed.output == "deleted connection creds\n"
    assert after.output.strip() == "[]"
    assert all(secret_value not in r.output for r in (made, listed, removed))


def test_the_command_names_the_field_the_api_refused(axon, client, db, monkeypatch):
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))
    axon.create_project()

    result = CliRunner().invoke(
        commands.main, ["connections", "create", PROJECT, "data", "--kind", "s3"]
    )

    assert result.exit_code == 1
    assert "schema.bucket: required for a s3 connection" in result.output


def test_an_init_git_step_naming_a_connection_takes_its_url_and_its_token(
    rt, db, axon, client, secret_value
):
    axon.create_project()
    repo = {"name": "repo", "kind": "git", "schema": {"url": "https://github.com/acme/models"}}
    create(client, **repo, secret={"GIT_TOKEN": secret_value})
    component = {"run": {"kind": "job", "init": [{"git": {}, "connection": "repo"}]}}

    with db.session() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == PROJECT))
        rest, [mount] = mounts.resolve(rt, session, project_id, component)

    assert rest["run"]["init"] == [{"git": {"url": "https://github.com/acme/models"}}]
    assert (mount.name, mount.main, mount.init_steps) == ("repo", False, (0,))
    assert mount.env == {"GIT_TOKEN": secret_value}
    assert component["run"]["init"][0] == {"git": {}, "connection": "repo"}  # left as it was


# -- a webhook source's secret -----------------------------------------------------------------


def source_secret(db: Any) -> str:
    with db.session() as session:
        return session.scalars(select(Source.secret)).one()


def test_a_source_s_secret_is_stored_encrypted_and_deliveries_are_verified_with_it(
    rt, db, axon, client
):
    axon.create_project()

    stored = source_secret(db)
    axon.deliver_push()  # answered 202: verified with the opened secret
    body = fixture_bytes("webhooks/github/push_branch_commits.json")
    forged = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, "guessed")
    )

    assert SECRET not in stored
    assert crypto.unseal_text(rt, stored, "gh") == SECRET
    assert forged.status_code == 401


def test_rotation_reencrypts_sources_too_and_a_secret_no_key_opens_answers_503(
    rt, db, app, axon, client
):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    runtime.get().settings = with_keys(rt, key_a).settings
    axon.create_project()

    rotation.rotate(with_keys(rt, f"{key_b},{key_a}"))
    runtime.get().settings = with_keys(rt, key_b).settings
    app.extensions.pop("axon.sources", None)  # the app's copy of the sources, kept for seconds
    axon.deliver_push()
    runtime.get().settings = with_keys(rt, key_a).settings
    app.extensions.pop("axon.sources", None)
    body = fixture_bytes("webhooks/github/push_branch_commits.json")
    unreadable = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, SECRET)
    )

    assert unreadable.status_code == 503
    assert unreadable.json["message"] == "the source's secret cannot be read; retry later"
    with db.session() as session:
        reasons = session.scalars(select(Delivery.reason).where(Delivery.status == "rejected"))
        assert list(reasons) == ["github source 'gh': no key of AXON_SECRETS_KEY opens its secret"]


def test_the_migration_encrypts_the_secrets_sources_had_and_downgrading_decrypts_them(rt, postgres):
    url = fresh_database("axon_sources")
    engine = make_engine(url)
    try:
        migrate.downgrade(engine, "0010")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO projects (name, description, created_at) "
                    "VALUES ('vision', '', now())"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO sources (project_id, name, provider, secret, "
                    "allow_legacy_signatures, created_at) SELECT id, 'gh', 'github', :secret, "
                    "false, now() FROM projects"
                ),
                {"secret": SECRET},
            )

        migrate.upgrade(engine)
        with engine.connect() as connection:
            upgraded = connection.execute(text("SELECT secret FROM sources")).scalar_one()
        migrate.downgrade(engine, "0010")
        with engine.connect() as connection:
            downgraded = connection.execute(text("SELECT secret FROM sources")).scalar_one()
    finally:
        engine.dispose()
        drop_database(url)

    assert SECRET not in upgraded
    assert crypto.unseal_text(rt, upgraded, "gh") == SECRET
    assert downgraded == SECRET


# -- a report target that names a connection ------------------------------------------------


def test_a_report_target_naming_a_connection_is_sent_with_its_secret_url_and_never_shows_it(
    rt, db, axon, client, slack, start, caplog
):
    caplog.set_level(logging.DEBUG)
    rt.settings = rt.settings.model_copy(update={"allow_private_urls": True})
    axon.create_project()
    alerts = {"name": "alerts", "kind": "slack", "secret": {"webhook_url": slack.webhook_url}}
    assert create(client, **alerts).status_code == 201
    slack.expect_message(times=1)
    doc = operation()
    doc["hooks"] = [{"hubRef": "slack", "connection": "alerts", "trigger": "succeeded"}]
    axon.subscribe(operation=doc, report={"slack": {"connection": "alerts"}})
    [run_id] = axon.push()
    start(run_id)  # compiled (its hooks with it), queued, scheduled on the local runner
    advance(db, run_id, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED)

    reports.report_run(rt, run_id)

    uuid = axon.run(run_id)["uuid"]
    log = client.get(f"/api/v1/runs/{uuid}/notifications")
    assert [(e["target"], e["via"], e["state"]) for e in log.json] == [
        ("alerts", "hooks[0]", "sent")
    ]
    assert len(slack.requests_to("POST", slack.path)) == 1
    shown = [
        log.get_data(as_text=True),
        client.get(f"/api/v1/runs/{uuid}").get_data(as_text=True),
        client.get(f"/api/v1/projects/{PROJECT}/connections").get_data(as_text=True),
        caplog.text,
    ]
    assert [text for text in shown if slack.secret in text] == []


def test_rows_sealed_with_the_derived_key_move_to_a_key_of_one_s_own(
    rt, db, axon, client, secret_value
):
    own = Fernet.generate_key().decode()
    axon.create_project()  # AXON_SECRETS_KEY unset: the derived key
    create(client, **bucket(secret_value))

    rotation.rotate(with_keys(rt, f"{own},derived"))

    with db.session() as session:
        row = session.scalar(select(Connection))
        opened = crypto.unseal(with_keys(rt, own), row.secret, "store")
    assert opened["AWS_SECRET_ACCESS_KEY"] == secret_value


@pytest.mark.parametrize(
    ("method", "path", "sent", "status"),
    [
        ("POST", "/connections", [1, 2], 400),
        ("POST", "/connections", "text", 400),
        ("POST", "/connections", {"name": None, "kind": None}, 422),
        ("POST", "/connections", {"name": "x", "kind": "secret", "schema": [1]}, 422),
        ("POST", "/connections", {"name": "x", "kind": "secret", "env": "A"}, 422),
        ("POST", "/connections", {"name": "x", "kind": "secret", "mount_path": 7}, 422),
        ("PATCH", "/connections/store", {"name": "other"}, 422),
        ("PATCH", "/connections/store", {"kind": "git"}, 422),  # a git connection needs a url
        ("PATCH", "/connections/store", {"secret": {"AWS_SECRET_ACCESS_KEY": None}}, 200),
        ("PATCH", "/connections/missing", {}, 404),
        ("DELETE", "/connections/missing", None, 404),
    ],
)
def test_odd_requests_get_a_4xx_naming_the_problem_never_a_5xx(
    axon, client, secret_value, method, path, sent, status
):
    axon.create_project()
    create(client, **bucket(secret_value))

    answer = client.open(f"/api/v1/projects/{PROJECT}{path}", method=method, json=sent)

    assert answer.status_code == status, answer.json
    assert secret_value not in answer.get_data(as_text=True)
    if status >= 400:
        assert answer.json["error"]["message"]
