"""GitHubNotifier: run statuses become commit statuses on the run's commit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt, TransientError
from notifiers.github import GitHubNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierContract
from tests.fakes.github import GitHubDouble, commit_status_schema

# Shaped like a GitHub App installation token; it opens nothing.
TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(token=TOKEN) as double:
        yield double


class TestGitHubNotifier(NotifierContract):
    @pytest.fixture
    def double(self, github):
        return github

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: GitHubNotifier(api_url=url, token=TOKEN, timeout=timeout)

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self):
        return [TOKEN]

    @pytest.fixture
    def expect_delivery(self, github):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            github.expect_commit_status(
                "octo-org",
                "vision",
                SHA,
                status=status or 201,
                message=message,
                headers=headers,
                delay=delay,
            )

        return expect

    def test_running_then_succeeded_sets_pending_then_success_on_the_commit(
        self, notifier, github, report
    ):
        github.expect_commit_status("octo-org", "vision", SHA, times=2)

        first = notifier.send(report(RunStatus.RUNNING), {}, None)
        notifier.send(report(RunStatus.SUCCEEDED), {}, first)

        assert github.statuses(SHA) == [
            {
                "state": "pending",
                "target_url": RUN_URL,
                "description": "Running",
                "context": "axon/train-on-push",
            },
            {
                "state": "success",
                "target_url": RUN_URL,
                "description": "Succeeded in 12s",
                "context": "axon/train-on-push",
            },
        ]
        assert github.violations == []  # both bodies are valid against GitHub's schema

    @pytest.mark.parametrize(
        ("status", "state", "description"),
        [
            (RunStatus.SUCCEEDED, "success", "Succeeded in 12s"),
            (RunStatus.FAILED, "failure", "Failed: exit code 1"),
            (RunStatus.UPSTREAM_FAILED, "failure", "Upstream failed: exit code 1"),
            (RunStatus.STOPPED, "error", "Stopped after 12s"),
            (RunStatus.SKIPPED, "error", "Skipped after 12s"),
        ],
    )
    def test_a_final_status_becomes_the_matching_commit_state(
        self, status, state, description, notifier, github, report
    ):
        github.expect_commit_status("octo-org", "vision", SHA)

        notifier.send(report(status), {}, None)

        [body] = github.statuses(SHA)
        assert (body["state"], body["description"]) == (state, description)

    def test_a_stopped_run_says_who_stopped_it(self, notifier, github, report):
        github.expect_commit_status("octo-org", "vision", SHA)

        notifier.send(report(RunStatus.STOPPED, message="stopped by octocat"), {}, None)

        assert github.statuses(SHA)[0]["description"] == "Stopped: stopped by octocat"

    def test_the_context_comes_from_the_target_when_it_names_one(self, notifier, github, report):
        github.expect_commit_status("octo-org", "vision", SHA)

        receipt = notifier.send(report(), {"context": "ci/train"}, None)

        assert github.statuses(SHA)[0]["context"] == "ci/train"
        assert receipt.data == {"state": "success", "context": "ci/train"}

    def test_a_run_without_subscription_is_named_by_its_run_name(self, notifier, github, report):
        github.expect_commit_status("octo-org", "vision", SHA)

        notifier.send(report(subscription=""), {}, None)

        assert github.statuses(SHA)[0]["context"] == "axon/train-resnet50"

    def test_a_long_failure_message_is_cut_to_githubs_140_characters(
        self, notifier, github, report
    ):
        github.expect_commit_status("octo-org", "vision", SHA)

        notifier.send(report(RunStatus.FAILED, message="Traceback: " + "x" * 400), {}, None)

        description = github.statuses(SHA)[0]["description"]
        assert len(description) == 140
        assert description.startswith("Failed: Traceback: xxx")
        assert description.endswith("…")

    def test_the_receipt_holds_the_status_id_github_answered(self, notifier, github, report):
        github.expect_commit_status("octo-org", "vision", SHA)

        receipt = notifier.send(report(), {}, None)

        assert receipt == Receipt(
            target="github",
            external_id="1",
            data={"state": "success", "context": "axon/train-on-push"},
        )

    def test_the_request_carries_the_token_and_githubs_api_headers(self, notifier, github, report):
        github.expect_commit_status("octo-org", "vision", SHA)

        notifier.send(report(), {}, None)

        [request] = github.requests
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/vnd.github+json"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert request.headers["User-Agent"] == "axon/0.1"

    def test_without_a_token_the_status_is_refused_naming_the_variable(self, report):
        with GitHubDouble() as github:
            with pytest.raises(PermanentError, match="AXON_GITHUB_TOKEN is not set"):
                GitHubNotifier(api_url=github.url).send(report(), {}, None)

            assert github.requests == []

    def test_an_enterprise_api_url_keeps_its_path(self, github, report):
        github.expect("POST", "/api/v3/repos/{owner}/{repo}/statuses/{sha}", json={"id": 42})
        notifier = GitHubNotifier(api_url=github.url + "/api/v3/", token=TOKEN)

        receipt = notifier.send(report(), {}, None)

        assert receipt.external_id == "42"

    @pytest.mark.parametrize(("field", "named"), [("sha", "sha"), ("repo", "owner/name")])
    def test_a_report_without_repo_or_sha_is_refused_without_a_request(
        self, field, named, notifier, github, report
    ):
        with pytest.raises(PermanentError, match=named):
            notifier.send(report(**{field: ""}), {}, None)

        assert github.requests == []

    def test_an_exhausted_rate_limit_is_retried_after_the_reset(self, notifier, github, report):
        reset = int(time.time()) + 30
        github.expect_commit_status(
            "octo-org",
            "vision",
            SHA,
            status=403,
            message="API rate limit exceeded for installation ID 1.",
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        )

        with pytest.raises(TransientError, match="rate limit exceeded") as caught:
            notifier.send(report(), {}, None)

        assert caught.value.retry_after == pytest.approx(reset - time.time(), abs=2)

    def test_a_secondary_rate_limit_is_retried_after_retry_after(self, notifier, github, report):
        github.expect_commit_status(
            "octo-org",
            "vision",
            SHA,
            status=403,
            message="You have exceeded a secondary rate limit.",
            headers={"Retry-After": "60", "X-RateLimit-Remaining": "4990"},
        )

        with pytest.raises(TransientError) as caught:
            notifier.send(report(), {}, None)

        assert caught.value.retry_after == 60

    def test_a_token_without_permission_is_permanent_with_githubs_message(
        self, notifier, github, report
    ):
        github.expect_commit_status(
            "octo-org",
            "vision",
            SHA,
            status=403,
            message="Resource not accessible by integration",
            headers={"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "1714990000"},
        )

        with pytest.raises(PermanentError, match="403 Resource not accessible by integration"):
            notifier.send(report(), {}, None)

    def test_a_server_error_is_retried_and_the_retry_lands(self, notifier, github, report):
        github.expect_commit_status(
            "octo-org",
            "vision",
            SHA,
            status=502,
            message="Bad Gateway",
            headers={"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "1714990000"},
        )
        github.expect_commit_status("octo-org", "vision", SHA)

        with pytest.raises(TransientError) as caught:
            notifier.send(report(), {}, None)
        receipt = notifier.send(report(), {}, None)

        assert caught.value.retry_after is None  # X-RateLimit-Reset is no reason to wait here
        assert [request.status for request in github.requests] == [502, 201]
        assert receipt.external_id == "1"


def test_the_doubles_schema_admits_null_where_githubs_spec_says_nullable():
    schema = commit_status_schema()

    assert schema["properties"]["target_url"]["type"] == ["string", "null"]
    assert schema["properties"]["state"]["enum"] == ["error", "failure", "pending", "success"]
