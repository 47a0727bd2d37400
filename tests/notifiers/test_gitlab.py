"""GitLabNotifier and GitLabNoteNotifier: commit statuses in GitLab's states, and one merge
request note edited in place."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt
from notifiers.gitlab import GitLabNotifier
from notifiers.gitlab_note import GitLabNoteNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import EditInPlaceContract, NotifierContract
from tests.fakes.gitlab import GitLabDouble

TOKEN = "glpat-AxOn0gItLaB0123456789"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
PROJECT = "octo-org/vision"
MR = 17
RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"
S = RunStatus


@pytest.fixture
def gitlab() -> Iterator[GitLabDouble]:
    with GitLabDouble(token=TOKEN) as double:
        yield double


class TestGitLabNotifier(NotifierContract):
    @pytest.fixture
    def double(self, gitlab):
        return gitlab

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: GitLabNotifier(
            api_url=url + "/api/v4", token=TOKEN, timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self):
        return [TOKEN]

    @pytest.fixture
    def expect_delivery(self, gitlab):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            gitlab.expect_status(
                PROJECT, SHA, status=status or 201, message=message, headers=headers, delay=delay
            )

        return expect

    def test_running_then_succeeded_sets_running_then_success_on_the_commit(
        self, notifier, gitlab, report
    ):
        gitlab.expect_status(PROJECT, SHA, times=2)

        first = notifier.send(report(S.RUNNING), {}, None)
        notifier.send(report(S.SUCCEEDED), {}, first)

        assert gitlab.statuses() == [
            {
                "state": "running",
                "name": "axon/train-on-push",
                "ref": "main",
                "target_url": RUN_URL,
                "description": "Running",
            },
            {
                "state": "success",
                "name": "axon/train-on-push",
                "ref": "main",
                "target_url": RUN_URL,
                "description": "Succeeded in 12s",
            },
        ]

    @pytest.mark.parametrize(
        ("status", "state", "description"),
        [
            (S.FAILED, "failed", "Failed: exit code 1"),
            (S.UPSTREAM_FAILED, "failed", "Upstream failed: exit code 1"),
            (S.STOPPED, "canceled", "Stopped after 12s"),
            (S.SKIPPED, "skipped", "Skipped after 12s"),
        ],
    )
    def test_a_final_status_becomes_gitlabs_state(
        self, status, state, description, notifier, gitlab, report
    ):
        gitlab.expect_status(PROJECT, SHA)

        notifier.send(report(status), {}, None)

        [body] = gitlab.statuses()
        assert (body["state"], body["description"]) == (state, description)

    def test_the_project_path_travels_encoded_in_one_segment_with_the_token(
        self, notifier, gitlab, report
    ):
        gitlab.expect_status(PROJECT, SHA)

        receipt = notifier.send(report(), {}, None)

        [request] = gitlab.requests
        assert request.path == f"/api/v4/projects/octo-org%2Fvision/statuses/{SHA}"
        assert request.headers["PRIVATE-TOKEN"] == TOKEN
        assert receipt == Receipt(
            "gitlab", "301", {"state": "success", "name": "axon/train-on-push"}
        )

    def test_the_target_names_the_project_and_the_status(self, notifier, gitlab, report):
        gitlab.expect_status("4242", SHA)

        notifier.send(report(), {"project": 4242, "name": "ml/train"}, None)

        assert gitlab.statuses()[0]["name"] == "ml/train"

    def test_a_state_gitlab_already_shows_counts_as_sent(self, notifier, gitlab, report):
        gitlab.expect_status(
            PROJECT,
            SHA,
            status=400,
            message="Cannot transition status via :run from :running (Reason(s): Status "
            'cannot transition via "run")',
        )

        receipt = notifier.send(report(S.RUNNING), {}, None)

        assert receipt.data == {"state": "running", "name": "axon/train-on-push"}

    def test_another_bad_request_is_permanent_with_gitlabs_message(self, notifier, gitlab, report):
        gitlab.expect_status(PROJECT, SHA, status=400, message={"ref": ["is too long"]})

        with pytest.raises(PermanentError, match="400 ref is too long"):
            notifier.send(report(), {}, None)

    def test_a_long_failure_message_is_cut_to_gitlabs_255_characters(
        self, notifier, gitlab, report
    ):
        gitlab.expect_status(PROJECT, SHA)

        notifier.send(report(S.FAILED, message="Traceback: " + "x" * 400), {}, None)

        assert len(gitlab.statuses()[0]["description"]) == 255

    def test_a_report_without_a_sha_is_refused_without_a_request(self, notifier, gitlab, report):
        with pytest.raises(PermanentError, match="no commit sha"):
            notifier.send(report(sha=""), {}, None)

        assert gitlab.requests == []

    def test_a_300_character_branch_and_reason_still_set_the_status(self, notifier, gitlab, report):
        gitlab.expect_status(PROJECT, SHA)
        branch = "feature/" + "b" * 292

        notifier.send(report(S.FAILED, branch=branch, message="m" * 300), {}, None)

        [status] = gitlab.statuses()
        # A cut ref would name a branch that does not exist; without one GitLab uses the
        # commit's pipeline.
        assert "ref" not in status
        assert len(status["description"]) == 255
        assert (status["state"], status["target_url"]) == ("failed", RUN_URL)

    def test_a_long_status_name_is_cut_to_255_characters(self, notifier, gitlab, report):
        gitlab.expect_status(PROJECT, SHA)

        notifier.send(report(), {"name": "axon/" + "n" * 300}, None)

        assert len(gitlab.statuses()[0]["name"]) == 255

    @pytest.mark.parametrize(
        "url",
        [
            "/projects/vision/runs/3f1c9a52",  # public_url unset: a path, not a URL
            "ftp://axon.example.com/runs/3f1c9a52",
            "https://axon.example.com/" + "r" * 300,
        ],
    )
    def test_a_run_url_gitlab_would_refuse_is_left_out(self, url, notifier, gitlab, report):
        gitlab.expect_status(PROJECT, SHA)

        notifier.send(report(url=url), {}, None)

        [status] = gitlab.statuses()
        assert "target_url" not in status
        assert status["state"] == "success"


class TestGitLabNoteNotifier(EditInPlaceContract):
    @pytest.fixture
    def report(self, report):
        return lambda status=S.SUCCEEDED, **changes: report(
            status, **{"pull_request": MR, **changes}
        )

    @pytest.fixture
    def double(self, gitlab):
        return gitlab

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: GitLabNoteNotifier(
            api_url=url + "/api/v4", token=TOKEN, timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self):
        return [TOKEN]

    @pytest.fixture
    def expect_delivery(self, gitlab):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            gitlab.expect_note(
                PROJECT, MR, status=status, message=message, headers=headers, delay=delay
            )

        return expect

    @pytest.fixture
    def expect_edit(self, gitlab):
        def expect(status=None, *, message=None, headers=None):
            gitlab.expect_note(PROJECT, MR, 301, status=status, message=message, headers=headers)

        return expect

    def test_a_merge_request_run_has_one_note_edited_from_running_to_succeeded(
        self, notifier, gitlab, report
    ):
        gitlab.expect_note(PROJECT, MR)
        gitlab.expect_note(PROJECT, MR, 301)

        running = notifier.send(report(S.RUNNING), {}, None)
        done = notifier.send(report(), {}, running)

        [(post, first), (put, last)] = gitlab.notes()
        assert (post, put) == ("POST", "PUT")
        assert "running" in first.splitlines()[1]
        assert "| `accuracy` | 0.93 |" in last.splitlines()
        assert done == Receipt(
            "note",
            "301",
            {
                "note_id": 301,
                "project": PROJECT,
                "merge_request": MR,
                "subscription": "train-on-push",
            },
        )

    def test_a_note_deleted_since_is_posted_anew(self, notifier, gitlab, report):
        gitlab.expect_note(PROJECT, MR, times=2)
        gitlab.expect_note(PROJECT, MR, 301, status=404, message="404 Not found")
        running = notifier.send(report(S.RUNNING), {}, None)

        done = notifier.send(report(), {}, running)

        assert [(r.method, r.status) for r in gitlab.requests] == [
            ("POST", 201),
            ("PUT", 404),
            ("POST", 201),
        ]
        assert done.external_id == "302"

    def test_a_run_not_on_a_merge_request_is_not_noted(self, notifier, gitlab, report):
        receipt = notifier.send(report(pull_request=None), {}, None)

        assert receipt.data == {"skipped": "the run is not on a merge request"}
        assert gitlab.requests == []
