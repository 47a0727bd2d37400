"""Pull request filters read as in GitHub Actions, with forks untrusted unless a policy says so."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError, SpecErrors
from tests.triggers.recorded import github_event, gitlab_event, pull_request
from triggers.subscription import compile_subscription


def decide(event, on_pull_request=None, **spec):
    subscription = compile_subscription(
        3, "train", {"on": {"pull_request": on_pull_request}, **spec}
    )
    return subscription.decide(event)


def reasons(decision):
    return {check.name: check.reason for check in decision.checks}


def test_an_opened_pull_request_matches_by_default_with_its_reasons():
    decision = decide(github_event("pull_request_opened"))
    assert decision.matched
    assert reasons(decision) == {
        "event": "pull_request event is listened to",
        "type": "pull request action 'opened' is one of "
        "['opened', 'synchronize', 'reopened'] (the default types)",
        "fork": "the pull request's code is in the repository itself",
        "skip": "no skip marker",
    }


def test_new_commits_on_a_pull_request_match_by_default():
    assert decide(github_event("pull_request_synchronize")).matched


def test_a_labeling_is_not_a_default_type():
    decision = decide(github_event("pull_request_labeled"))
    assert decision.reason == (
        "pull request action 'labeled' is not one of "
        "['opened', 'synchronize', 'reopened'] (the default types)"
    )


def test_listed_types_replace_the_default():
    on = {"types": ["labeled"]}
    assert decide(github_event("pull_request_labeled"), on).matched
    assert not decide(github_event("pull_request_opened"), on).matched


def test_branches_filter_the_base_branch_not_the_head():
    event = github_event("pull_request_opened")  # from 'changes' into 'master'
    assert decide(event, {"branches": ["master"]}).matched
    refused = decide(event, {"branches": ["changes"]})
    assert refused.reason == "base branch 'master' matches none of ['changes']"


def test_branches_ignore_on_the_base_branch():
    refused = decide(github_event("pull_request_opened"), {"branches-ignore": ["mast*"]})
    assert refused.reason == "base branch 'master' is ignored by 'mast*'"


def test_labels_match_when_the_pull_request_carries_any_of_them():
    event = github_event("pull_request_opened")  # labeled 'bug'
    assert reasons(decide(event, {"labels": ["gpu", "bug"]}))["labels"] == (
        "the pull request is labeled 'bug'"
    )
    assert decide(event, {"labels": ["gpu"]}).reason == ("labels ['bug'] include none of ['gpu']")


def test_a_pull_request_without_labels_says_so():
    event = pull_request(labels=())
    assert decide(event, {"labels": "train"}).reason == (
        "the pull request has no label; wanted one of ['train']"
    )


def test_drafts_run_by_default_as_in_github():
    assert decide(pull_request(draft=True)).matched


def test_drafts_false_holds_a_draft_back():
    decision = decide(pull_request(draft=True), {"drafts": False})
    assert decision.reason == "the pull request is a draft, and drafts is false"


def test_without_drafts_a_pull_request_ready_for_review_counts():
    event = pull_request(action="ready_for_review")
    assert decide(event, {"drafts": False}).matched
    assert not decide(event).matched


def test_merged_true_deploys_on_merge_only():
    on = {"merged": True}
    merged = gitlab_event("merge_request_merge")
    assert decide(merged, on).matched
    unmerged = github_event("pull_request_closed_unmerged")
    assert decide(unmerged, on).reason == "the pull request was closed without merging"
    opened = decide(github_event("pull_request_opened"), on)
    assert "pull request action 'opened' is not one of ['closed'] (the default types)" in (
        opened.reason
    )


def test_merged_false_takes_closed_without_merging():
    on = {"merged": False}
    assert decide(github_event("pull_request_closed_unmerged"), on).matched
    assert decide(gitlab_event("merge_request_merge"), on).reason == "the pull request was merged"


def test_a_fork_is_denied_by_default_because_its_code_is_untrusted():
    decision = decide(pull_request(fork=True))
    assert not decision.matched
    assert decision.reason == (
        "the pull request comes from a fork, whose code is untrusted; forks are denied by default"
    )


def test_forks_allow_lets_a_fork_in():
    assert reasons(decide(pull_request(fork=True), {"forks": "allow"}))["fork"] == (
        "the pull request comes from a fork, and forks is allow"
    )


@pytest.mark.parametrize(
    "forks", ["require-label:safe to test", {"policy": "require-label", "label": "safe to test"}]
)
def test_a_fork_needs_the_label_when_the_policy_requires_one(forks):
    on = {"forks": forks}
    labeled = pull_request(fork=True, labels=("bug", "safe to test"))
    assert reasons(decide(labeled, on))["fork"] == (
        "the pull request comes from a fork labeled 'safe to test'"
    )
    assert decide(pull_request(fork=True), on).reason == (
        "the pull request comes from a fork and is not labeled 'safe to test'"
    )


def test_a_merged_fork_passes_since_a_maintainer_accepted_its_code():
    event = github_event("pull_request_closed_merged_fork")
    decision = decide(event, {"merged": True})
    assert decision.matched
    assert reasons(decision)["fork"] == (
        "the pull request comes from a fork, and a maintainer merged it"
    )


def test_a_gitlab_merge_request_reads_the_same_as_a_github_pull_request():
    decision = decide(
        gitlab_event("merge_request_open"), {"branches": ["master"], "labels": ["API"]}
    )
    assert decision.matched


def test_path_filters_say_that_a_pull_request_lists_no_changed_files():
    decision = decide(github_event("pull_request_opened"), {"paths": ["src/**"]})
    assert decision.reason == "the pull request lists no changed files, so path filters cannot pass"


def test_a_skip_marker_in_the_title_does_not_skip_a_pull_request():
    event = github_event("pull_request_opened", message="WIP [skip ci]")
    decision = decide(event)
    assert decision.matched
    assert reasons(decision)["skip"] == (
        "the title says [skip ci], but only commit messages of a push skip runs"
    )


@pytest.mark.parametrize(
    ("on", "path", "reason"),
    [
        ({"types": ["open"]}, "on.pull_request.types[0]", "unknown type 'open'; did you mean"),
        ({"labels": []}, "on.pull_request.labels", "expected a label or a non-empty list"),
        ({"drafts": "no"}, "on.pull_request.drafts", "expected true or false"),
        ({"forks": "maybe"}, "on.pull_request.forks.policy", "expected one of deny, allow"),
        ({"forks": "require-label"}, "on.pull_request.forks.label", "needs the label's name"),
        ({"forks": {"policy": "allow", "label": "x"}}, "on.pull_request.forks.label", "only"),
        ({"types": ["opened"], "merged": True}, "on.pull_request.merged", "add closed to types"),
        ({"branch": ["main"]}, "on.pull_request.branch", "did you mean 'branches'?"),
    ],
)
def test_a_bad_pull_request_filter_names_its_place(on, path, reason):
    with pytest.raises(SpecError) as error:
        compile_subscription(1, "s", {"on": {"pull_request": on}})
    assert error.value.path == path
    assert error.value.reason.startswith(reason) or reason in error.value.reason


def test_every_bad_pull_request_filter_is_listed():
    with pytest.raises(SpecErrors) as error:
        compile_subscription(
            1, "s", {"on": {"pull_request": {"types": "nope", "labels": 3, "forks": 1}}}
        )
    assert [e.path for e in error.value.errors] == [
        "on.pull_request.types",
        "on.pull_request.labels",
        "on.pull_request.forks",
    ]
