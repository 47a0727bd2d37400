"""The local runner: the runner contract, plus git checkouts, logs, timeouts and process groups."""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from runners.base import GitCheckout, RunSpec
from runners.local import LocalRunner
from schemas.status import RunStatus
from tests.contracts.runner import (
    SLEEP,
    SUCCEED,
    MakeSpec,
    RunnerContract,
    observe_until,
    python,
    run_to_end,
    statuses,
)
from tests.runners.conftest import GitRemote
from tests.waiting import wait_for

SHOW_CHECKOUT = python(
    "import subprocess; print(open('version.txt').read().strip()); "
    "print(subprocess.check_output(['git', 'rev-parse', 'HEAD'], text=True).strip())"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    # A killed process whose parent has not reaped it yet is a zombie: gone for our purposes.
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


class TestLocalRunner(RunnerContract):
    @pytest.fixture
    def runner(self, local_runner: LocalRunner) -> LocalRunner:
        return local_runner

    @pytest.fixture
    def make_spec(self) -> MakeSpec:
        def make(command: list[str], **fields: Any) -> RunSpec:
            if command[:1] == ["python"]:
                command = [sys.executable, *command[1:]]
            fields.setdefault("uuid", uuid.uuid4().hex)
            return RunSpec(name="train", project="mnist", command=command, **fields)

        return make

    def test_job_runs_at_the_commit_asked_for_not_the_branch_head(
        self, runner: LocalRunner, make_spec: MakeSpec, git_remote: GitRemote
    ):
        git = GitCheckout(git_remote.url, sha=git_remote.first_sha, ref="main")
        external_id = runner.submit(make_spec(SHOW_CHECKOUT, git=git))

        assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED
        assert f"one\n{git_remote.first_sha}\n" in runner.logs(external_id)
        assert "[git] " in runner.logs(external_id)

    def test_job_without_a_sha_runs_at_the_refs_head(
        self, runner: LocalRunner, make_spec: MakeSpec, git_remote: GitRemote
    ):
        git = GitCheckout(git_remote.url, ref="main")
        external_id = runner.submit(make_spec(SHOW_CHECKOUT, git=git))

        assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED
        assert f"two\n{git_remote.second_sha}\n" in runner.logs(external_id)

    def test_unknown_commit_fails_with_checkout_failed_and_gits_message(
        self, runner: LocalRunner, make_spec: MakeSpec, git_remote: GitRemote
    ):
        git = GitCheckout(git_remote.url, sha="0" * 40)
        last = run_to_end(runner, runner.submit(make_spec(SUCCEED, git=git)))[-1]

        assert (last.status, last.reason) == (RunStatus.FAILED, "CheckoutFailed")
        assert last.message.startswith("git checkout failed: fatal:")

    def test_credentials_in_the_clone_url_stay_out_of_logs_and_reasons(
        self, runner: LocalRunner, make_spec: MakeSpec
    ):
        git = GitCheckout("https://axon:s3cret-token@127.0.0.1:9/repo.git", sha="0" * 40)
        external_id = runner.submit(make_spec(SUCCEED, git=git))
        last = run_to_end(runner, external_id)[-1]

        assert (last.status, last.reason) == (RunStatus.FAILED, "CheckoutFailed")
        assert "s3cret-token" not in last.message + runner.logs(external_id)

    def test_logs_capture_stdout_and_stderr(self, runner: LocalRunner, make_spec: MakeSpec):
        code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr)"
        external_id = runner.submit(make_spec(python(code)))
        run_to_end(runner, external_id)

        assert "to stdout\n" in runner.logs(external_id)
        assert "to stderr\n" in runner.logs(external_id)

    def test_logs_of_an_unknown_run_are_empty(self, runner: LocalRunner):
        assert runner.logs(uuid.uuid4().hex) == ""

    def test_nonzero_exit_fails_with_its_exit_code(self, runner: LocalRunner, make_spec: MakeSpec):
        last = run_to_end(runner, runner.submit(make_spec(python("raise SystemExit(3)"))))[-1]

        assert (last.status, last.reason, last.exit_code) == (RunStatus.FAILED, "Error", 3)
        assert last.message == "exit code 3"

    def test_missing_command_fails_naming_it(self, runner: LocalRunner, make_spec: MakeSpec):
        last = run_to_end(runner, runner.submit(make_spec(["no-such-command-xyz", "--help"])))[-1]

        assert (last.status, last.reason) == (RunStatus.FAILED, "Error")
        assert "no-such-command-xyz" in last.message

    def test_timeout_ends_failed_with_deadline_exceeded(
        self, runner: LocalRunner, make_spec: MakeSpec
    ):
        last = run_to_end(runner, runner.submit(make_spec(SLEEP, timeout=0.5)))[-1]

        assert (last.status, last.reason) == (RunStatus.FAILED, "DeadlineExceeded")
        assert "0.5s" in last.message

    def test_job_sees_spec_env_but_not_the_workers_environment(
        self, runner: LocalRunner, make_spec: MakeSpec, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.setenv("AXON_SECRET_KEY", "worker-secret")
        code = "import os; print(os.environ['GREETING'], os.environ.get('AXON_SECRET_KEY'))"
        external_id = runner.submit(make_spec(python(code), env={"GREETING": "hello"}))
        run_to_end(runner, external_id)

        assert "hello None\n" in runner.logs(external_id)

    def test_job_cannot_read_the_workers_secrets_from_its_supervisors_environment(
        self, runner: LocalRunner, make_spec: MakeSpec, monkeypatch: pytest.MonkeyPatch
    ):
        monkeypatch.setenv("AXON_SECRET_KEY", "worker-secret")
        monkeypatch.setenv("AXON_DATABASE_URL", "postgresql://axon:db-password@db/axon")
        code = "import os; print(open(f'/proc/{os.getppid()}/environ').read().replace('\\0', ' '))"
        external_id = runner.submit(make_spec(python(code)))

        assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED
        logs = runner.logs(external_id)
        assert "PATH=" in logs  # the supervisor's environment was read, and is this small
        assert "worker-secret" not in logs and "db-password" not in logs

    def test_job_can_import_axon_tracking(self, runner: LocalRunner, make_spec: MakeSpec):
        code = "import axon_tracking; print(axon_tracking.log_outputs.__name__)"
        external_id = runner.submit(make_spec(python(code), env={"PYTHONPATH": "/opt/own"}))

        assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED
        assert "log_outputs\n" in runner.logs(external_id)

    def test_cancel_stops_the_jobs_whole_process_group(
        self, runner: LocalRunner, make_spec: MakeSpec
    ):
        code = (
            "import os, subprocess, time; child = subprocess.Popen(['sleep', '60']); "
            "print('pids', os.getpid(), child.pid, flush=True); time.sleep(60)"
        )
        external_id = runner.submit(make_spec(python(code)))
        line = wait_for(lambda: "pids " in runner.logs(external_id) and runner.logs(external_id))
        pids = [int(pid) for pid in line.split("pids ")[1].split()[:2]]

        runner.cancel(external_id)

        assert run_to_end(runner, external_id)[-1].status == RunStatus.STOPPED
        wait_for(lambda: not any(alive(pid) for pid in pids))

    def test_cancel_right_after_submit_ends_stopped(self, runner: LocalRunner, make_spec: MakeSpec):
        external_id = runner.submit(make_spec(SLEEP))
        runner.cancel(external_id)

        last = run_to_end(runner, external_id)[-1]
        assert (last.status, last.reason) == (RunStatus.STOPPED, "Stopped")

    def test_a_later_observer_sees_the_full_history(self, runner: LocalRunner, make_spec: MakeSpec):
        external_id = runner.submit(make_spec(SUCCEED))
        first = run_to_end(runner, external_id)

        later = run_to_end(LocalRunner(runner.root, poll_interval=0.05), external_id)

        assert later == first
        assert statuses(later) == [RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED]

    def test_another_runner_on_the_same_root_can_cancel_the_run(
        self, runner: LocalRunner, make_spec: MakeSpec
    ):
        external_id = runner.submit(make_spec(SLEEP))
        observe_until(runner, external_id, {RunStatus.RUNNING})

        LocalRunner(runner.root).cancel(external_id)

        assert run_to_end(runner, external_id)[-1].status == RunStatus.STOPPED

    def test_concurrent_submits_start_one_supervisor(
        self, runner: LocalRunner, make_spec: MakeSpec, tmp_path: Path
    ):
        marks = tmp_path / "marks.txt"
        spec = make_spec(python(f"open({str(marks)!r}, 'a').write('ran\\n')"))
        threads = [threading.Thread(target=runner.submit, args=(spec,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert run_to_end(runner, spec.uuid)[-1].status == RunStatus.SUCCEEDED
        assert marks.read_text() == "ran\n"

    def test_supervisor_killed_without_an_outcome_is_reported_lost(
        self, runner: LocalRunner, make_spec: MakeSpec
    ):
        external_id = runner.submit(make_spec(SLEEP))
        observe_until(runner, external_id, {RunStatus.RUNNING})
        supervisor = int((runner.root / external_id / "supervisor.pid").read_text())

        os.kill(supervisor, signal.SIGKILL)

        last = run_to_end(runner, external_id)[-1]
        assert (last.status, last.reason) == (RunStatus.FAILED, "Lost")
        assert str(supervisor) in last.message

    def test_invalid_run_ids_are_refused(self, runner: LocalRunner):
        with pytest.raises(ValueError, match="invalid run id"):
            runner.logs("../elsewhere")
