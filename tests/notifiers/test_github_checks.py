"""GitHubChecksNotifier: one check run per run, created queued and updated to its conclusion."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from notifiers.base import Comparison, PermanentError, Receipt, TransientError
from notifiers.github_checks import GitHubChecksNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import EditInPlaceContract
from tests.fakes.github import GitHubDouble

TOKEN = "ghs_5aXon0cHeCkS0123456789abcdefABCDEF01"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"
S = RunStatus


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(token=TOKEN) as double:
        yield double


class TestGitHubChecksNotifier(EditInPlaceContract):
    wanted_before_start = frozenset({S.QUEUED})

    @pytest.fixture
    def double(self, github):
        return github

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: GitHubChecksNotifier(
            api_url=url, token=TOKEN, timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self):
        return [TOKEN]

    @pytest.fixture
    def expect_delivery(self, github):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            github.expect_check_run(
                "octo-org", "vision", status=status, message=message, headers=headers, delay=delay
            )

        return expect

    @pytest.fixture
    def expect_edit(self, github):
        def expect(status=None, *, message=None, headers=None):
            github.expect_check_run(
                "octo-org", "vision", 1, status=status, message=message, headers=headers
            )

        return expect

    def test_a_check_run_is_created_queued_then_goes_in_progress_then_completes_as_success(
        self, notifier, github, report
    ):
        github.expect_check_run("octo-org", "vision")
        github.expect_check_run("octo-org", "vision", 1, times=2)

        queued = notifier.send(report(S.QUEUED), {}, None)
        running = notifier.send(report(S.RUNNING), {}, queued)
        done = notifier.send(report(S.SUCCEEDED), {}, running)

        [(create, opened), (start, started), (finish, finished)] = github.check_runs()
        assert (create, opened["status"], opened["head_sha"]) == ("POST", "queued", SHA)
        assert (opened["name"], opened["external_id"], opened["details_url"]) == (
            "axon/train-on-push",
            "3f1c9a52e8d44b0f9a6f0c1d2e3b4a5c",
            RUN_URL,
        )
        assert (start, started["status"], started["started_at"]) == (
            "PATCH",
            "in_progress",
            "2024-05-06T09:30:00Z",
        )
        assert (finish, finished["status"], finished["conclusion"]) == (
            "PATCH",
            "completed",
            "success",
        )
        assert finished["completed_at"] == "2024-05-06T09:30:12Z"
        assert finished["output"]["title"] == "Succeeded in 12s"
        assert "| `accuracy` | 0.93 |" in finished["output"]["summary"].splitlines()
        assert done == Receipt(
            "checks",
            "1",
            {
                "check_run_id": 1,
                "name": "axon/train-on-push",
                "head_sha": SHA,
                "status": "completed",
                "conclusion": "success",
            },
        )

    def test_the_summary_sets_the_metrics_beside_the_base_branch(self, notifier, github, report):
        github.expect_check_run("octo-org", "vision")
        compared = (
            Comparison("accuracy", 0.93, 0.91, 0.02, "better"),
            Comparison("loss", 0.214, 0.215, -0.001, "within tolerance"),
            Comparison("f1", 0.8),
        )

        notifier.send(report(comparisons=compared, base_branch="main"), {}, None)

        [(_, body)] = github.check_runs()
        summary = body["output"]["summary"].splitlines()
        table = summary[summary.index("| Output | This run | `main` | Δ | |") :][:5]
        assert table == [
            "| Output | This run | `main` | Δ | |",
            "|---|---:|---:|---:|---|",
            "| `accuracy` | 0.93 | 0.91 | +0.02 | 🟢 better |",
            "| `loss` | 0.214 | 0.215 | -0.001 | ⚪ within tolerance |",
            "| `f1` | 0.8 | — |  |  |",
        ]

    def test_an_emoji_heavy_70_kb_outputs_table_still_completes_the_check_run(
        self, notifier, github, report
    ):
        github.expect_check_run("octo-org", "vision")
        github.expect_check_run("octo-org", "vision", 1)
        # Fewer than 65,535 characters, but some 70 KB in UTF-8: each 🔥 is four bytes.
        outputs = {f"metric_{index:04d}": "🔥" * 20 for index in range(700)}
        queued = notifier.send(report(S.QUEUED), {}, None)

        done = notifier.send(report(outputs=outputs), {}, queued)

        [_, (method, body)] = github.check_runs()
        summary = body["output"]["summary"]
        assert (method, body["status"], done.data["status"]) == ("PATCH", "completed", "completed")
        assert 60_000 < len(summary.encode()) <= 65535
        rows = [line for line in summary.splitlines() if line.startswith("| `metric_")]
        assert all(row.endswith(f"| {'🔥' * 20} |") for row in rows)
        assert f"_… {700 - len(rows)} more outputs, not shown_" in summary
        assert summary.endswith("[Run](https://axon.example.com/projects/vision/runs/3f1c9a52)\n")

    def test_a_summary_cut_in_bytes_never_splits_a_character(self, notifier, github, report):
        github.expect_check_run("octo-org", "vision")
        # No table to shorten: the cut goes through the text, which is all four-byte emoji.
        notifier.send(report(S.FAILED, run_name="🔥" * 20000), {}, None)

        [(_, body)] = github.check_runs()
        summary = body["output"]["summary"]
        assert len(summary.encode()) <= 65535
        assert summary.endswith("🔥…")

    def test_a_regression_against_the_base_branch_fails_the_check(self, notifier, github, report):
        github.expect_check_run("octo-org", "vision")
        rule = "accuracy dropped 0.8 points, more than 0.5"

        notifier.send(report(regression=rule, base_branch="main"), {}, None)

        [(_, body)] = github.check_runs()
        assert body["conclusion"] == "failure"
        assert body["output"]["title"] == f"Succeeded in 12s, but {rule}"
        assert f"**Against `main`:** `{rule}`" in body["output"]["summary"]

    @pytest.mark.parametrize(
        ("status", "conclusion"),
        [
            (S.FAILED, "failure"),
            (S.UPSTREAM_FAILED, "failure"),
            (S.STOPPED, "cancelled"),
            (S.SKIPPED, "skipped"),
        ],
    )
    def test_each_final_status_has_its_conclusion(
        self, status, conclusion, notifier, github, report
    ):
        github.expect_check_run("octo-org", "vision")

        notifier.send(report(status), {}, None)

        [(_, body)] = github.check_runs()
        assert (body["status"], body["conclusion"]) == ("completed", conclusion)

    def test_a_failure_says_why_in_the_title(self, notifier, github, report):
        github.expect_check_run("octo-org", "vision")

        notifier.send(report(S.FAILED), {}, None)

        [(_, body)] = github.check_runs()
        assert body["output"]["title"] == "Failed: exit code 1"
        assert "> `exit code 1`" in body["output"]["summary"]

    def test_the_targets_name_names_the_check(self, notifier, github, report):
        github.expect_check_run("octo-org", "vision")

        receipt = notifier.send(report(), {"name": "ml/accuracy"}, None)

        assert github.check_runs()[0][1]["name"] == "ml/accuracy"
        assert receipt.data["name"] == "ml/accuracy"

    def test_a_resumed_run_gets_a_new_check_run_beside_the_completed_one(
        self, notifier, github, report
    ):
        github.expect_check_run("octo-org", "vision", times=2)
        done = notifier.send(report(S.STOPPED), {}, None)

        resumed = notifier.send(report(S.RUNNING), {}, done)

        assert [method for method, _ in github.check_runs()] == ["POST", "POST"]
        assert resumed.external_id == "2"

    def test_a_check_run_github_no_longer_knows_is_created_anew(self, notifier, github, report):
        github.expect_check_run("octo-org", "vision")
        github.expect_check_run("octo-org", "vision", 1, status=404, message="Not Found")
        github.expect_check_run("octo-org", "vision")
        queued = notifier.send(report(S.QUEUED), {}, None)

        done = notifier.send(report(S.SUCCEEDED), {}, queued)

        assert [r.status for r in github.requests] == [201, 404, 201]
        assert done.external_id == "2"

    def test_an_exhausted_rate_limit_is_retried_after_the_reset(self, notifier, github, report):
        reset = int(time.time()) + 30
        github.expect_check_run(
            "octo-org",
            "vision",
            status=403,
            message="API rate limit exceeded for installation ID 1.",
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        )

        with pytest.raises(TransientError, match="rate limit exceeded") as caught:
            notifier.send(report(S.QUEUED), {}, None)

        assert caught.value.retry_after == pytest.approx(reset - time.time(), abs=2)

    def test_a_token_that_is_not_a_github_apps_is_refused_for_good(self, notifier, github, report):
        github.expect_check_run(
            "octo-org", "vision", status=403, message="You must authenticate via a GitHub App."
        )

        with pytest.raises(PermanentError, match="403 You must authenticate via a GitHub App"):
            notifier.send(report(S.QUEUED), {}, None)

    def test_a_report_without_a_sha_is_refused_without_a_request(self, notifier, github, report):
        with pytest.raises(PermanentError, match="no commit sha; a check run needs one"):
            notifier.send(report(sha=""), {}, None)

        assert github.requests == []

    def test_an_enterprise_api_url_keeps_its_path(self, github, report):
        github.expect("POST", "/api/v3/repos/{owner}/{repo}/check-runs", json={"id": 7})
        notifier = GitHubChecksNotifier(api_url=github.url + "/api/v3", token=TOKEN)

        assert notifier.send(report(), {}, None).external_id == "7"
