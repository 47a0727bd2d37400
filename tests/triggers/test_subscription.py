"""A subscription's filter decides each event and says why."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError
from schemas.event import Event
from tests.triggers.recorded import github_event
from triggers.subscription import compile_subscription, evaluate


def push(branch="main", repo="octo/model", message="train more", paths=("model.py",), **kw):
    return Event(
        kind="push",
        provider="github",
        repo=repo,
        ref=f"refs/heads/{branch}",
        branch=branch,
        sha="a" * 40,
        message=message,
        changed_paths=paths,
        **kw,
    )


def tag(name="v1.0", repo="octo/model"):
    return Event(
        kind="tag", provider="github", repo=repo, ref=f"refs/tags/{name}", tag=name, sha="b" * 40
    )


SPEC = {"repo": "octo/model", "on": {"push": {"branches": ["main", "release/**"]}}}


def decide(event, spec=SPEC):
    [decision] = evaluate(event, [compile_subscription(7, "train", spec)])
    return decision


def test_a_push_to_a_listed_branch_matches_with_every_reason():
    decision = decide(push("release/2.0"))
    assert decision.matched
    reasons = {c.name: c.reason for c in decision.checks}
    assert reasons["ref"] == "branch 'release/2.0' matches 'release/**'"
    assert reasons["repo"] == "repo 'octo/model' matches 'octo/model'"


def test_a_push_to_another_branch_does_not_match_and_says_why():
    decision = decide(push("feature/x"))
    assert not decision.matched
    assert decision.reason == "branch 'feature/x' matches none of ['main', 'release/**']"


def test_another_repo_does_not_match():
    assert decide(push(repo="octo/other")).reason.startswith("repo 'octo/other' matches none")


def test_every_check_runs_even_after_one_fails():
    decision = decide(push("dev", repo="octo/other"))
    assert [c.ok for c in decision.checks].count(False) == 2


def test_naming_only_branches_leaves_tag_pushes_out():
    assert "only branch pushes" in decide(tag()).reason


def test_a_plain_push_filter_takes_branches_and_tags():
    spec = {"on": {"push": None}}
    assert decide(push("anything"), spec).matched and decide(tag(), spec).matched


def test_tags_filter():
    spec = {"on": {"push": {"tags": ["v*"]}}}
    assert decide(tag("v2"), spec).matched
    assert "only tag pushes" in decide(push(), spec).reason


def test_branches_ignore():
    spec = {"on": {"push": {"branches-ignore": ["docs/**"]}}}
    assert decide(push("main"), spec).matched
    assert decide(push("docs/x"), spec).reason == "branch 'docs/x' is ignored by 'docs/**'"


@pytest.mark.parametrize("marker", ["[skip ci]", "[ci skip]", "[no ci]", "[skip axon]"])
def test_a_skip_marker_in_the_commit_message_skips(marker):
    decision = decide(push(message=f"fix typo {marker}"))
    assert not decision.matched and marker in decision.reason


def test_skip_markers_can_be_ignored():
    assert decide(push(message="[skip ci]"), {**SPEC, "skip": False}).matched


def test_a_deleted_branch_starts_nothing():
    assert "deletes refs/heads/main" in decide(push(deleted=True)).reason


def test_paths_filter_passes_when_one_changed_file_counts():
    spec = {"on": {"push": {"paths": ["src/**"]}}}
    assert decide(push(paths=("README.md", "src/train.py")), spec).matched
    assert not decide(push(paths=("README.md",)), spec).matched


def test_paths_filter_says_so_when_the_push_lists_no_files():
    spec = {"on": {"push": {"paths": ["src/**"]}}}
    assert "lists no changed files" in decide(push(paths=None), spec).reason


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({}, "on"),
        ({"on": {"pull": {}}}, "on.pull"),
        ({"on": {"push": {"branch": ["main"]}}}, "on.push.branch"),
        (
            {"on": {"push": {"branches": ["a"], "branches-ignore": ["b"]}}},
            "on.push.branches-ignore",
        ),
        ({"on": {"push": {"branches": []}}}, "on.push.branches"),
        ({"on": {"push": None}, "skip": "yes"}, "skip"),
    ],
)
def test_an_invalid_filter_names_the_field(spec, path):
    with pytest.raises(SpecError) as error:
        compile_subscription(1, "s", spec)
    assert error.value.path == path


def test_a_skipped_push_says_which_marker_in_the_log():
    assert decide(push(message="docs [skip ci]")).reason == "skipped: [skip ci] in head commit"


def test_a_recorded_push_matches_through_its_provider():
    event = github_event("push_branch_commits")  # Codertocat/Hello-World, master
    spec = {"repo": "Codertocat/*", "on": {"push": {"branches": ["master"], "paths": ["*.md"]}}}
    decision = decide(event, spec)
    assert decision.matched
    assert [c.as_dict() for c in decision.checks] == [
        {"check": "event", "ok": True, "reason": "push event is listened to"},
        {
            "check": "repo",
            "ok": True,
            "reason": "repo 'Codertocat/Hello-World' matches 'Codertocat/*'",
        },
        {"check": "deleted", "ok": True, "reason": "the ref exists"},
        {"check": "ref", "ok": True, "reason": "branch 'master' matches 'master'"},
        {
            "check": "paths",
            "ok": True,
            "reason": "changed file 'README.md' passes the path filters",
        },
        {"check": "skip", "ok": True, "reason": "no skip marker"},
    ]


def test_a_new_tag_lists_no_changed_files_and_path_filters_say_so():
    event = github_event("push_tag_created")
    decision = decide(event, {"on": {"push": {"tags": ["v*"], "paths": ["src/**"]}}})
    assert decision.reason == "the tag lists no changed files, so path filters cannot pass"


@pytest.mark.parametrize("on", ["push", ["push", "pull_request"]])
def test_on_may_name_events_without_filters_as_in_github_actions(on):
    assert decide(push("anything"), {"on": on}).matched


def test_an_event_the_subscription_does_not_listen_to_says_which_it_does():
    decision = decide(github_event("release_published"), {"on": ["push", "pull_request"]})
    assert decision.reason == "release event is not one of ['pull_request', 'push', 'tag']"


def test_provider_restricts_a_subscription_to_some_forges():
    spec = {"provider": ["gitlab"], "on": "push"}
    assert decide(push(), spec).reason == "provider 'github' is not one of ['gitlab']"
    assert decide(push(), {**spec, "provider": "github"}).matched


def test_an_unknown_event_suggests_the_closest_key():
    with pytest.raises(SpecError) as error:
        compile_subscription(1, "s", {"on": {"pull_requests": None}})
    assert error.value.reason.startswith("unknown event; did you mean 'pull_request'?")


def test_a_subscription_without_a_comment_command_decides_with_no_params():
    decision = decide(push())
    assert (decision.command, decision.params) == ("", {})
