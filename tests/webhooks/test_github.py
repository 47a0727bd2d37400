"""GitHub deliveries: signatures against the published vectors, every recorded event into Events."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from schemas.errors import PayloadError, SignatureError
from tests.conftest import FIXTURES, fixture_bytes, github_headers, load_json, sign
from tests.contracts.webhook import WebhookProviderContract
from tests.webhooks.conftest import without
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


# The X-GitHub-Event of each recorded payload, by its file name's prefix (longest first).
EVENTS = (
    "registry_package",
    "pull_request",
    "issue_comment",
    "workflow_run",
    "check_suite",
    "check_run",
    "package",
    "release",
    "create",
    "delete",
    "push",
    "ping",
)
RECORDED = sorted(path.stem for path in (FIXTURES / "webhooks/github").glob("*.json"))


def _event_of(name: str) -> str:
    return next(e for e in EVENTS if name == e or name.startswith(f"{e}_"))


def _parse(name: str, **changes) -> list:
    """Parse recorded delivery `name`, with top-level `changes` applied to its payload."""
    payload = load_json(f"webhooks/github/{name}.json") | changes
    return _parse_payload(_event_of(name), payload)


def _parse_payload(event: str, payload: dict) -> list:
    body = json.dumps(payload).encode()
    return GitHubProvider().parse(github_headers(event, body, "topsecret"), body)


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_github_delivery_parses_into_events_of_github(name, github_delivery):
    headers, body = github_delivery(name, event=_event_of(name))
    events = GitHubProvider().parse(headers, body)
    assert all(e.provider == "github" for e in events)


def test_a_new_branch_push_is_marked_created():
    [event] = _parse("push_branch_created")
    assert (event.kind, event.branch, event.created) == ("push", "master", True)
    assert event.before == "0" * 40


def test_a_tag_deletion_is_a_deleted_tag_event():
    [event] = _parse("push_tag_deleted")
    assert (event.kind, event.tag, event.deleted) == ("tag", "simple-tag", True)


def test_an_opened_pull_request_names_number_branches_head_sha_and_base_repo():
    [event] = _parse("pull_request_opened")
    pr = event.pull_request
    assert (event.kind, event.repo) == ("pull_request", "Codertocat/Hello-World")
    assert (pr.number, pr.action, pr.base, pr.head) == (2, "opened", "master", "changes")
    assert (pr.labels, pr.draft, pr.fork, pr.merged) == (("bug",), False, False, False)
    assert event.sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert (event.branch, event.ref) == ("master", "refs/pull/2/head")
    assert (event.actor, event.message) == ("Codertocat", "Update the README with new information.")
    assert event.clone_url == "https://github.com/Codertocat/Hello-World.git"


def test_a_synchronize_keeps_the_previous_head_as_before():
    [event] = _parse("pull_request_synchronize")
    assert event.pull_request.action == "synchronize"
    assert event.before == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"


def test_a_merged_pull_request_from_a_fork_is_closed_merged_and_fork():
    [event] = _parse("pull_request_closed_merged_fork")
    pr = event.pull_request
    assert (pr.number, pr.action, pr.merged, pr.fork) == (3, "closed", True, True)
    assert (pr.base, pr.head) == ("master", "byao1276-patch-1")
    assert event.sha == "7b5a809ab03679215c55926f7d111156ec98b865"
    assert event.repo == "ailisp/gcbapp-buildconfig-example"
    assert event.clone_url == "https://github.com/ailisp/gcbapp-buildconfig-example.git"
    assert event.actor == "ailisp"


def test_a_pull_request_closed_without_merging_is_not_merged():
    [event] = _parse("pull_request_closed_unmerged")
    assert (event.pull_request.action, event.pull_request.merged) == ("closed", False)


def test_a_labeled_pull_request_carries_its_labels():
    [event] = _parse("pull_request_labeled")
    assert (event.pull_request.action, event.pull_request.labels) == ("labeled", ("bug",))


def test_a_draft_pull_request_made_ready_is_still_reported_with_its_action():
    payload = load_json("webhooks/github/pull_request_opened.json")
    payload["action"] = "ready_for_review"
    payload["pull_request"]["draft"] = True
    [event] = _parse_payload("pull_request", payload)
    assert (event.pull_request.action, event.pull_request.draft) == ("ready_for_review", True)


def test_a_pull_request_whose_fork_was_deleted_counts_as_a_fork():
    payload = load_json("webhooks/github/pull_request_opened.json")
    payload["pull_request"]["head"]["repo"] = None
    [event] = _parse_payload("pull_request", payload)
    assert event.pull_request.fork


def test_a_comment_on_a_pull_request_becomes_a_comment_event():
    [event] = _parse("issue_comment_created_on_pr")
    assert (event.kind, event.comment, event.author_association) == ("comment", "/build", "OWNER")
    assert (event.pull_request.number, event.pull_request.action) == (3, "comment")
    assert (event.repo, event.actor) == ("chhsia0/knative-route-demo", "chhsia0")
    assert event.clone_url == "https://github.com/chhsia0/knative-route-demo.git"


def test_a_comment_on_a_plain_issue_starts_nothing():
    assert _parse("issue_comment_created_on_issue") == []


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_an_edited_or_deleted_comment_starts_nothing(action):
    assert _parse("issue_comment_created_on_pr", action=action) == []


def test_creating_a_tag_becomes_a_create_event_with_the_tag():
    [event] = _parse("create_tag")
    assert (event.kind, event.tag, event.branch, event.ref) == (
        "create",
        "simple-tag",
        "",
        "refs/tags/simple-tag",
    )
    assert (event.repo, event.actor) == ("Codertocat/Hello-World", "Codertocat")
    assert event.created


def test_creating_a_branch_becomes_a_create_event_with_the_branch():
    [event] = _parse("create_tag", ref="feature/x", ref_type="branch")
    assert (event.kind, event.branch, event.tag) == ("create", "feature/x", "")


def test_deleting_a_tag_becomes_a_deleted_delete_event():
    [event] = _parse("delete_tag")
    assert (event.kind, event.tag, event.deleted) == ("delete", "simple-tag", True)


def test_a_published_release_names_its_tag_and_keeps_the_action():
    [event] = _parse("release_published")
    assert (event.kind, event.tag, event.ref) == ("release", "0.0.1", "refs/tags/0.0.1")
    assert (event.repo, event.actor) == ("Codertocat/Hello-World", "Codertocat")
    assert event.raw["action"] == "published"


@pytest.mark.parametrize("name", ["registry_package_published_docker", "package_published_docker"])
def test_an_untagged_ghcr_image_push_becomes_a_registry_event(name):
    [event] = _parse(name)
    assert event.kind == "registry"
    assert (event.image, event.image_tag) == ("ghcr.io/codertocat/hello-world", "")
    assert event.digest == "sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b"


def test_a_tagged_ghcr_image_push_carries_its_tag():
    payload = load_json("webhooks/github/registry_package_published_docker.json")
    version = payload["registry_package"]["package_version"]
    version["container_metadata"]["tag"]["name"] = "v1.2"
    version["package_url"] = "ghcr.io/Codertocat/hello-world:v1.2"
    [event] = _parse_payload("registry_package", payload)
    assert (event.image, event.image_tag) == ("ghcr.io/codertocat/hello-world", "v1.2")


def test_a_package_that_is_not_a_container_image_starts_nothing():
    payload = load_json("webhooks/github/package_published_docker.json")
    payload["package"]["ecosystem"] = "npm"
    del payload["package"]["package_version"]["container_metadata"]
    assert _parse_payload("package", payload) == []


def test_a_completed_workflow_run_keeps_action_and_conclusion_in_raw():
    [event] = _parse("workflow_run_completed")
    assert (event.kind, event.repo) == ("workflow_run", "octo-org/octo-repo")
    assert event.branch == "master"
    assert event.sha == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert (event.raw["action"], event.raw["workflow_run"]["conclusion"]) == (
        "completed",
        "success",
    )


def test_a_rerequested_check_run_asks_for_its_head_sha_again():
    [event] = _parse("check_run_rerequested")
    assert (event.kind, event.sha) == ("rerequest", "d6fde92930d4715a2b49857d24b940956b26d2d3")
    assert (event.repo, event.branch, event.actor) == ("github/hello-world", "master", "octocat")


def test_a_rerequested_check_suite_asks_for_its_head_sha_again():
    [event] = _parse("check_suite_requested", action="rerequested")
    assert (event.kind, event.sha) == ("rerequest", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    assert event.branch == "master"


def test_a_check_suite_github_requests_by_itself_starts_nothing():
    assert _parse("check_suite_requested") == []


def test_an_event_axon_does_not_handle_parses_to_nothing(github_delivery):
    headers, body = github_delivery("ping", event="star")
    assert GitHubProvider().parse(headers, body) == []


@pytest.mark.parametrize(
    ("name", "dotted"),
    [
        ("pull_request_opened", "pull_request.number"),
        ("pull_request_opened", "pull_request.head.sha"),
        ("pull_request_opened", "action"),
        ("issue_comment_created_on_pr", "comment.body"),
        ("create_tag", "ref_type"),
        ("release_published", "release.tag_name"),
        ("registry_package_published_docker", "registry_package.package_version"),
        ("workflow_run_completed", "workflow_run.head_sha"),
        ("check_run_rerequested", "check_run.head_sha"),
    ],
)
def test_a_missing_required_field_is_named_with_its_event(name, dotted):
    event = _event_of(name)
    payload = without(load_json(f"webhooks/github/{name}.json"), dotted)
    with pytest.raises(PayloadError, match=f"github {event}: field '{dotted}' missing"):
        _parse_payload(event, payload)


def test_a_pull_request_number_that_is_not_a_number_is_a_payload_error():
    payload = load_json("webhooks/github/pull_request_opened.json")
    payload["pull_request"]["number"] = "two"
    with pytest.raises(PayloadError, match="'pull_request.number' is not a number"):
        _parse_payload("pull_request", payload)


def test_a_non_ascii_signature_is_refused_not_crashed_on():
    body = b"{}"
    with pytest.raises(SignatureError):
        GitHubProvider().verify({"X-Hub-Signature-256": "sha256=\u00e9"}, body, "topsecret")


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
