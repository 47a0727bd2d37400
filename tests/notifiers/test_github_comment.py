"""GitHubCommentNotifier: one comment per pull request and subscription, edited in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.base import Comparison, Receipt
from notifiers.github_comment import GitHubCommentNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import EditInPlaceContract
from tests.fakes.github import GitHubDouble

TOKEN = "ghp_c0mMenT5aXon0123456789abcdefABCDEF"
PR = 17
S = RunStatus
COMPARED = (
    Comparison("accuracy", 0.93, 0.91, 0.02, "better"),
    Comparison("loss", 0.214, 0.195, 0.019, "worse"),
)


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(token=TOKEN) as double:
        yield double


@pytest.fixture
def on_pull_request(report):
    """`report(status, **changes)` for a run on pull request #17."""
    return lambda status=S.SUCCEEDED, **changes: report(status, **{"pull_request": PR, **changes})


class TestGitHubCommentNotifier(EditInPlaceContract):
    @pytest.fixture
    def report(self, on_pull_request):
        return on_pull_request

    @pytest.fixture
    def double(self, github):
        return github

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: GitHubCommentNotifier(
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
            github.expect_comment(
                "octo-org",
                "vision",
                PR,
                status=status,
                message=message,
                headers=headers,
                delay=delay,
            )

        return expect

    @pytest.fixture
    def expect_edit(self, github):
        def expect(status=None, *, message=None, headers=None):
            github.expect_comment(
                "octo-org", "vision", comment_id=1, status=status, message=message, headers=headers
            )

        return expect

    def test_a_pull_request_run_has_one_comment_edited_from_running_to_succeeded(
        self, notifier, github, report
    ):
        github.expect_comment("octo-org", "vision", PR)
        github.expect_comment("octo-org", "vision", comment_id=1)

        running = notifier.send(report(S.RUNNING), {}, None)
        done = notifier.send(
            report(comparisons=COMPARED, base_branch="main", base_url="https://axon/runs/b"),
            {},
            running,
        )

        [(post, posted_to, first), (patch, patched, last)] = github.comments()
        assert (post, posted_to) == ("POST", "/repos/octo-org/vision/issues/17/comments")
        assert (patch, patched) == ("PATCH", "/repos/octo-org/vision/issues/comments/1")
        assert "running" in first.splitlines()[1]
        assert last.splitlines()[:2] == [
            "<!-- axon: train-on-push -->",
            "### ✅ **[vision/train-resnet50](https://axon.example.com/projects/vision/runs/"
            "3f1c9a52)** succeeded in 12s",
        ]
        assert [line for line in last.splitlines() if line.startswith("|")] == [
            "| Output | This run | `main` | Δ | |",
            "|---|---:|---:|---:|---|",
            "| `accuracy` | 0.93 | 0.91 | +0.02 | 🟢 better |",
            "| `loss` | 0.214 | 0.195 | +0.019 | 🔴 worse |",
        ]
        assert last.rstrip().endswith(
            "[Run](https://axon.example.com/projects/vision/runs/3f1c9a52)"
            " · [Base run](https://axon/runs/b)"
        )
        assert done == Receipt(
            "comment",
            "1",
            {
                "comment_id": 1,
                "repo": "octo-org/vision",
                "pull_request": PR,
                "subscription": "train-on-push",
                "url": "https://github.com/octo-org/vision/pull/17#issuecomment-1",
            },
        )

    def test_without_a_comparison_the_outputs_are_listed(self, notifier, github, report):
        github.expect_comment("octo-org", "vision", PR)

        notifier.send(report(), {}, None)

        [(_, _, body)] = github.comments()
        assert "| `accuracy` | 0.93 |\n| `loss` | 0.214 |" in body

    def test_a_table_too_long_for_a_comment_keeps_whole_rows_and_says_how_many_more(
        self, notifier, github, report
    ):
        github.expect_comment("octo-org", "vision", PR)
        outputs = {f"per_class_accuracy_{index:05d}": 0.5 for index in range(3000)}

        notifier.send(report(outputs=outputs), {}, None)

        [(_, _, body)] = github.comments()
        rows = [line for line in body.splitlines() if line.startswith("| `per_class")]
        assert len(body.encode()) <= 65536
        assert all(row.endswith("` | 0.5 |") for row in rows)
        assert f"_… {3000 - len(rows)} more outputs, not shown_" in body

    def test_a_run_not_on_a_pull_request_is_not_commented_on(self, notifier, github, report):
        receipt = notifier.send(report(pull_request=None), {}, None)

        assert receipt == Receipt("comment", data={"skipped": "the run is not on a pull request"})
        assert github.requests == []

    def test_a_comment_deleted_since_is_posted_anew(self, notifier, github, report):
        github.expect_comment("octo-org", "vision", PR, times=2)
        github.expect_comment("octo-org", "vision", comment_id=1, status=404, message="Not Found")
        running = notifier.send(report(S.RUNNING), {}, None)

        done = notifier.send(report(), {}, running)

        assert [(r.method, r.status) for r in github.requests] == [
            ("POST", 201),
            ("PATCH", 404),
            ("POST", 201),
        ]
        assert done.data["comment_id"] == 2

    def test_a_receipt_from_another_pull_request_is_not_edited(self, notifier, github, report):
        github.expect_comment("octo-org", "vision", PR)
        elsewhere = Receipt(
            "comment", "9", {"comment_id": 9, "repo": "octo-org/vision", "pull_request": 3}
        )

        notifier.send(report(), {}, elsewhere)

        assert [r.method for r in github.requests] == ["POST"]

    def test_text_from_the_event_cannot_mention_anyone_or_break_the_table(
        self, notifier, github, report
    ):
        github.expect_comment("octo-org", "vision", PR)
        outputs = {"acc|uracy @octocat": 0.9}

        notifier.send(report(branch="@octo-org/admins `x`", outputs=outputs), {}, None)

        [(_, _, body)] = github.comments()
        assert "(`@octo-org/admins 'x'`)" in body
        assert "| `acc\\|uracy @octocat` | 0.9 |" in body
