"""`axon users`, `orgs`, `teams`, `members`, `tokens` and `audit` against the app, in process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from ci.cli import client as cli_client
from ci.cli.commands import main
from tests.ci.cli_transport import Api


@pytest.fixture
def axon(monkeypatch: pytest.MonkeyPatch, client: Any, db: Any, enqueued: Any) -> Any:
    """`axon ARGS...` with the API token; fails the test on a non-zero exit."""
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_a_team_made_with_the_command_reaches_its_project(axon):
    axon("orgs", "create", "acme")
    axon("users", "create", "ada", "--email", "ada@example.com")
    axon("orgs", "add", "acme", "ada", "--role", "member")
    axon("teams", "create", "acme", "ml")
    axon("teams", "add", "acme", "ml", "ada")
    axon("projects", "create", "vision", "--org", "acme")
    axon("members", "set", "vision", "--team", "ml", "--role", "viewer")

    assert "ada" in axon("users", "ls")
    assert "ml" in axon("teams", "ls", "acme") and "ada" in axon("teams", "ls", "acme")
    assert "team:ml" in axon("members", "ls", "vision")
    assert "ada" in axon("orgs", "members", "acme")


def test_a_token_is_printed_once_then_listed_by_its_prefix_and_revoked(axon):
    axon("users", "create", "bob")

    made = axon("tokens", "create", "--user", "bob", "--name", "ci", "--action", "read")
    token = made.strip().splitlines()[-1]
    revoked = axon("tokens", "revoke", made.split()[1])

    assert token.startswith("axp_")
    assert "revoked token" in revoked
    entries = axon("audit", "-o", "json")
    assert "identity_api.create_token" in entries and token not in entries


def test_a_user_is_disabled_and_enabled_again_with_the_command(axon):
    axon("users", "create", "carol")

    disabled = json.loads(axon("users", "disable", "carol"))
    listed = {u["name"]: u["disabled_at"] for u in json.loads(axon("users", "ls", "-o", "json"))}
    enabled = json.loads(axon("users", "enable", "carol"))

    assert disabled["name"] == "carol" and disabled["disabled_at"] is not None
    assert listed["carol"] == disabled["disabled_at"]
    assert (enabled["name"], enabled["disabled_at"]) == ("carol", None)
    assert "DISABLED" in axon("users", "ls")
