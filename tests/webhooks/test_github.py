"""GitHub deliveries: signatures against the published vectors, pushes into Events."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from schemas.errors import PayloadError, SignatureError
from tests.conftest import FIXTURES, fixture_bytes, github_headers, load_json, sign
from tests.contracts.webhook import WebhookProviderContract
from webhooks.github import GitHubProvider

VECTORS = [v for v in load_json("signatures/vectors.json")["vectors"] if v["provider"] == "github"]


def _vector_body(vector: dict) -> bytes:
    if vector.get("body_file"):
        return (FIXTURES / vector["body_file"]).read_bytes()
    return vector["body"].encode(vector.get("body_encoding", "utf-8"))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_every_github_signature_vector_is_judged_as_published(vector):
    provider = GitHubProvider(allow_legacy_signatures=True)
    headers = {vector["header"]: vector["expected"]}
    if vector["valid"]:
        provider.verify(headers, _vector_body(vector), vector["secret"])
    else:
        with pytest.raises(SignatureError):
            provider.verify(headers, _vector_body(vector), vector["secret"])


def test_there_are_github_vectors_of_both_kinds():
    assert {v["valid"] for v in VECTORS} == {True, False}


def test_a_sha1_only_signature_is_refused_unless_the_source_allows_legacy():
    [vector] = [v for v in VECTORS if v["id"] == "go-scm-github-push-sha1"]
    headers = {vector["header"]: vector["expected"]}
    with pytest.raises(SignatureError, match="requires SHA-256"):
        GitHubProvider().verify(headers, _vector_body(vector), vector["secret"])


def test_a_source_without_a_secret_verifies_nothing():
    body = b"{}"
    with pytest.raises(SignatureError, match="no secret"):
        GitHubProvider().verify({"X-Hub-Signature-256": sign("", body)}, body, "")


def test_a_branch_push_becomes_a_push_event(github_delivery):
    headers, body = github_delivery("push_branch_commits")
    [event] = GitHubProvider().parse(headers, body)
    assert (event.kind, event.repo, event.branch, event.tag) == (
        "push",
        "Codertocat/Hello-World",
        "master",
        "",
    )
    assert event.sha == json.loads(body)["after"]
    assert event.actor == "Codertocat"
    assert event.changed_paths == ("README.md",)
    assert event.clone_url == "https://github.com/Codertocat/Hello-World.git"


def test_tag_push_becomes_a_tag_event(github_delivery):
    headers, body = github_delivery("push_tag_created")
    [event] = GitHubProvider().parse(headers, body)
    assert (event.kind, event.tag, event.branch) == ("tag", "v0.0.1", "")
    assert event.changed_paths is None


def test_a_branch_deletion_is_marked_deleted(github_delivery):
    headers, body = github_delivery("push_branch_deleted")
    [event] = GitHubProvider().parse(headers, body)
    assert event.deleted and event.sha == "0" * 40


def test_a_2012_push_without_full_name_or_sender_still_names_repo_and_actor(github_delivery):
    headers, body = github_delivery("push_forced_legacy2012")
    [event] = GitHubProvider().parse(headers, body)
    assert event.repo == "danheberden/payloads" and event.forced
    assert event.actor


def test_a_form_encoded_delivery_parses_like_json(github_delivery):
    _, body = github_delivery("push_branch_commits")
    form = urlencode({"payload": body.decode()}).encode()
    headers = github_headers("push", form, "topsecret")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    [event] = GitHubProvider().parse(headers, form)
    assert event.branch == "master"


def test_ping_starts_nothing(github_delivery):
    headers, body = github_delivery("ping")
    assert GitHubProvider().parse(headers, body) == []


def test_a_push_without_after_names_the_missing_field(github_delivery):
    headers, body = github_delivery("push_branch_commits")
    payload = json.loads(body)
    del payload["after"]
    with pytest.raises(PayloadError, match="github push: field 'after' missing"):
        GitHubProvider().parse(headers, json.dumps(payload).encode())


def test_the_delivery_id_is_the_github_delivery_header(github_delivery):
    headers, _ = github_delivery("push_branch_commits")
    assert GitHubProvider().delivery_id(headers) == headers["X-GitHub-Delivery"]


class TestGitHubProviderContract(WebhookProviderContract):
    @pytest.fixture
    def provider(self):
        return GitHubProvider()

    @pytest.fixture
    def signed(self):
        return lambda body: {"X-Hub-Signature-256": sign("topsecret", body)}

    @pytest.fixture
    def sample(self):
        body = fixture_bytes("webhooks/github/push_branch_commits.json")
        return github_headers("push", body, "topsecret"), body
