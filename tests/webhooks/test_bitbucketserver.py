"""Bitbucket Data Center deliveries: signatures against the vectors, pushes and pull requests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from schemas.errors import PayloadError, SignatureError
from tests.conftest import fixture_bytes, load_json, sign
from tests.contracts.webhook import WebhookProviderContract
from tests.webhooks.conftest import signature_vectors, vector_body, without
from webhooks.bitbucketserver import BitbucketServerProvider

VECTORS = signature_vectors("bitbucket-server")
ZERO_SHA = "0" * 40
SOURCE_SHA = "50a8ee1fae3abf75738a85f9039b4b2de4947174"


def server_headers(event_key: str | None, body: bytes, secret: str = "topsecret") -> dict[str, str]:
    """Headers as Bitbucket Data Center sends them (see tests/fixtures/README.md)."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Request-Id": str(uuid.uuid4()),
        "X-Hub-Signature": sign(secret, body),
    }
    if event_key is not None:
        headers["X-Event-Key"] = event_key
    return headers


def parse(event_key: str | None, payload: dict[str, Any]) -> list:
    body = json.dumps(payload).encode()
    return BitbucketServerProvider().parse(server_headers(event_key, body), body)


def recorded_push(name: str = "server_repo_refs_changed_stash") -> dict[str, Any]:
    return load_json(f"webhooks/bitbucket/{name}.json")


def repository(project: str = "PRJ", slug: str = "my-repo") -> dict[str, Any]:
    base = f"https://bitbucket.example.com/scm/{project.lower()}/{slug}.git"
    ssh = f"ssh://git@bitbucket.example.com:7999/{project}/{slug}.git"
    return {
        "slug": slug,
        "name": slug,
        "project": {"key": project, "name": project, "type": "NORMAL"},
        "links": {
            "clone": [
                {"href": ssh, "name": "ssh"},
                {"href": base, "name": "http"},
            ]
        },
    }


def pull_request(event_key: str, source: dict[str, Any] | None = None, **extra: Any) -> dict:
    """A pull request event in the shape of Atlassian's "Event payload" page."""
    return {
        "eventKey": event_key,
        "date": "2024-05-02T10:08:35+0100",
        "actor": {"name": "jcitizen", "slug": "jcitizen", "displayName": "Jane Citizen"},
        "pullRequest": {
            "id": 7,
            "version": 0,
            "title": "Tune the learning rate",
            "state": "OPEN",
            "draft": False,
            "fromRef": {
                "id": "refs/heads/feature/lr",
                "displayId": "feature/lr",
                "latestCommit": SOURCE_SHA,
                "repository": source or repository(),
            },
            "toRef": {
                "id": "refs/heads/main",
                "displayId": "main",
                "latestCommit": "038e7b67735e54f6de8f1c5d533c6751df524f6c",
                "repository": repository(),
            },
            "links": {
                "self": [{"href": "https://bitbucket.example.com/projects/PRJ/pull-requests/7"}]
            },
        },
        **extra,
    }


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_every_bitbucket_server_signature_vector_is_judged_as_published(vector):
    headers = {vector["header"]: vector["expected"]}
    if vector["valid"]:
        BitbucketServerProvider().verify(headers, vector_body(vector), vector["secret"])
    else:
        with pytest.raises(SignatureError):
            BitbucketServerProvider().verify(headers, vector_body(vector), vector["secret"])


def test_there_are_bitbucket_server_vectors_of_both_kinds():
    assert {v["valid"] for v in VECTORS} == {True, False}


def test_a_push_becomes_a_push_event_in_project_slash_slug():
    [event] = parse("repo:refs_changed", recorded_push())
    assert (event.kind, event.repo, event.ref, event.branch) == (
        "push",
        "PRJ/my-repo",
        "refs/heads/master",
        "master",
    )
    assert event.sha == "823b2230a56056231c9425d63758fa87078a66b4"
    assert event.before == "5c64a07cd6c0f21b753bf261ef059c7e7633c50a"
    assert (event.actor, event.created, event.deleted) == ("jcitizen", False, False)
    assert event.changed_paths is None


def test_a_deleted_branch_in_a_personal_repository_is_marked_deleted():
    [event] = parse("repo:refs_changed", recorded_push("server_repo_refs_changed"))
    assert (event.repo, event.branch, event.deleted, event.sha) == (
        "~gopher/webhook-test",
        "feature/wip",
        True,
        ZERO_SHA,
    )
    assert event.clone_url == "https://server.bitbucket.local/scm/~gopher/webhook-test.git"


def test_without_the_header_the_event_key_is_read_from_the_body():
    [event] = parse(None, recorded_push())
    assert event.kind == "push"


def test_an_added_tag_becomes_a_created_tag_event():
    payload = recorded_push()
    payload["changes"][0].update(refId="refs/tags/v1.2", type="ADD", fromHash=ZERO_SHA)
    [event] = parse("repo:refs_changed", payload)
    assert (event.kind, event.tag, event.branch, event.created) == ("tag", "v1.2", "", True)


def test_the_pushed_tip_lends_its_message_only_to_its_own_ref():
    payload = recorded_push()
    sha = payload["changes"][0]["toHash"]
    payload["toCommit"] = {"id": sha, "message": "Retrain [skip ci]"}
    [event] = parse("repo:refs_changed", payload)
    assert event.message == "Retrain [skip ci]"
    payload["toCommit"]["id"] = ZERO_SHA
    [event] = parse("repo:refs_changed", payload)
    assert event.message == ""


def test_a_push_without_to_hash_names_the_missing_field():
    payload = recorded_push()
    del payload["changes"][0]["toHash"]
    with pytest.raises(PayloadError) as raised:
        parse("repo:refs_changed", payload)
    assert str(raised.value) == (
        "bitbucketserver repo:refs_changed: field 'changes[0].toHash' missing"
    )


def test_a_push_without_a_project_key_names_the_missing_field():
    with pytest.raises(PayloadError, match="field 'repository.project.key' missing"):
        parse("repo:refs_changed", without(recorded_push(), "repository.project"))


def test_an_opened_pull_request_becomes_a_pull_request_event():
    [event] = parse("pr:opened", pull_request("pr:opened"))
    pr = event.pull_request
    assert (event.kind, event.repo, event.branch, event.sha) == (
        "pull_request",
        "PRJ/my-repo",
        "main",
        SOURCE_SHA,
    )
    assert (pr.number, pr.action, pr.base, pr.head) == (7, "opened", "main", "feature/lr")
    assert (pr.draft, pr.fork, pr.merged) == (False, False, False)
    assert event.ref == "refs/pull-requests/7/from"
    assert event.clone_url == "https://bitbucket.example.com/scm/prj/my-repo.git"
    assert (event.actor, event.message) == ("jcitizen", "Tune the learning rate")


def test_new_commits_on_the_source_branch_synchronize_and_keep_the_previous_hash():
    payload = pull_request("pr:from_ref_updated", previousFromHash="a" * 40)
    [event] = parse("pr:from_ref_updated", payload)
    assert (event.pull_request.action, event.before) == ("synchronize", "a" * 40)


@pytest.mark.parametrize(("event_key", "merged"), [("pr:merged", True), ("pr:declined", False)])
def test_a_merged_or_declined_pull_request_is_closed(event_key, merged):
    [event] = parse(event_key, pull_request(event_key))
    assert (event.pull_request.action, event.pull_request.merged) == ("closed", merged)


def test_a_pull_request_from_a_personal_fork_is_a_fork_fetched_from_the_target():
    payload = pull_request("pr:opened", source=repository("~mallory", "my-repo"))
    [event] = parse("pr:opened", payload)
    assert event.pull_request.fork
    assert event.clone_url == "https://bitbucket.example.com/scm/prj/my-repo.git"


def test_a_pull_request_comment_becomes_a_comment_event_with_its_text():
    payload = pull_request("pr:comment:added", comment={"id": 167, "text": "/retrain"})
    [event] = parse("pr:comment:added", payload)
    assert (event.kind, event.comment, event.pull_request.action) == (
        "comment",
        "/retrain",
        "comment",
    )


def test_a_pull_request_without_its_source_commit_names_the_missing_field():
    payload = without(pull_request("pr:opened"), "pullRequest.fromRef.latestCommit")
    with pytest.raises(PayloadError, match="field 'pullRequest.fromRef.latestCommit' missing"):
        parse("pr:opened", payload)


def test_the_test_connection_ping_starts_nothing():
    assert parse("diagnostics:ping", {"test": True}) == []


def test_a_delivery_naming_no_event_is_a_payload_error():
    with pytest.raises(PayloadError, match="'X-Event-Key' and field 'eventKey' missing"):
        parse(None, {"changes": []})


def test_the_delivery_id_is_the_request_id():
    headers = server_headers("repo:refs_changed", b"{}")
    assert BitbucketServerProvider().delivery_id(headers) == headers["X-Request-Id"]


class TestBitbucketServerProviderContract(WebhookProviderContract):
    @pytest.fixture
    def provider(self):
        return BitbucketServerProvider()

    @pytest.fixture
    def signed(self):
        return lambda body: {"X-Hub-Signature": sign("topsecret", body)}

    @pytest.fixture
    def sample(self):
        body = fixture_bytes("webhooks/bitbucket/server_repo_refs_changed_stash.json")
        return server_headers("repo:refs_changed", body), body
