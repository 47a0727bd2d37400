"""The local runner's launcher: one per root, forks every supervisor, replaceable, never needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from runners.base import RunSpec
from runners.local import LocalRunner
from runners.local_launcher import launch, launcher_pid, spawn_supervisor
from schemas.status import RunStatus
from tests.contracts.runner import SUCCEED, observe_until, python, run_to_end
from tests.waiting import wait_for

# The job names its supervisor, the supervisor's parent and command line, as /proc shows them.
FAMILY = python(
    "import os; sup = os.getppid(); "
    "parent = open(f'/proc/{sup}/stat').read().rsplit(')', 1)[1].split()[1]; "
    "argv = open(f'/proc/{sup}/cmdline').read().replace('\\0', ' '); "
    "print('supervisor', sup, 'parent', parent, 'argv', argv, flush=True)"
)


def spec(command: list[str], **fields: Any) -> RunSpec:
    command = [sys.executable, *command[1:]] if command[:1] == ["python"] else command
    return RunSpec(uuid=uuid.uuid4().hex, name="train", project="mnist", command=command, **fields)


def family(runner: LocalRunner, external_id: str) -> tuple[int, int, str]:
    """(supervisor pid, its parent's pid, its command line) as the job saw them."""
    assert run_to_end(runner, external_id)[-1].status == RunStatus.SUCCEEDED
    words = runner.logs(external_id).split("supervisor ", 1)[1].split("\n", 1)[0].split()
    return int(words[0]), int(words[2]), " ".join(words[4:])


def launchers_of(root: Path) -> list[int]:
    """Every launcher process serving `root`, found by its name and command line (a supervisor
    it forked has the same command line under another name)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            comm = (entry / "comm").read_text().strip()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if comm == "axon-launcher" and str(root).encode() in argv:
            found.append(int(entry.name))
    return found


def test_every_supervisor_is_forked_by_the_roots_one_launcher(local_runner: LocalRunner):
    ids = [local_runner.submit(spec(FAMILY)) for _ in range(3)]

    seen = [family(local_runner, external_id) for external_id in ids]

    assert {parent for _, parent, _ in seen} == {launcher_pid(local_runner.root)}
    assert launchers_of(local_runner.root) == [launcher_pid(local_runner.root)]
    # Forked, a supervisor keeps the launcher's command line.
    assert all("runners.local_launcher" in argv for _, _, argv in seen)


def test_workers_racing_to_start_the_launcher_start_one(local_runner: LocalRunner):
    specs = [spec(FAMILY) for _ in range(8)]
    threads = [
        threading.Thread(target=LocalRunner(local_runner.root).submit, args=(s,)) for s in specs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    parents = {family(local_runner, s.uuid)[1] for s in specs}

    assert len(parents) == 1
    assert launchers_of(local_runner.root) == [*parents]


def test_a_run_outlives_the_launcher_that_forked_it(local_runner: LocalRunner, tmp_path: Path):
    go = tmp_path / "go"
    waiting = python(f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)")
    external_id = local_runner.submit(spec(waiting))
    observe_until(local_runner, external_id, {RunStatus.RUNNING})
    launcher = launcher_pid(local_runner.root)
    assert launcher is not None

    os.kill(launcher, signal.SIGKILL)
    wait_for(lambda: launcher_pid(local_runner.root) is None)
    go.touch()

    assert run_to_end(local_runner, external_id)[-1].status == RunStatus.SUCCEEDED


def test_a_killed_launcher_is_started_again_by_the_next_submit(local_runner: LocalRunner):
    _, first, _ = family(local_runner, local_runner.submit(spec(FAMILY)))
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: launcher_pid(local_runner.root) is None)

    _, second, _ = family(local_runner, local_runner.submit(spec(FAMILY)))

    assert second != first and second == launcher_pid(local_runner.root)
    assert (local_runner.root / ".launcher" / "socket").exists()


def test_a_launcher_of_another_interpreter_or_code_is_replaced(local_runner: LocalRunner):
    _, first, _ = family(local_runner, local_runner.submit(spec(FAMILY)))
    other = LocalRunner(local_runner.root, python=str(Path(sys.executable).resolve()))
    assert other.python != local_runner.python  # the same interpreter, named differently

    _, second, _ = family(other, other.submit(spec(FAMILY)))

    assert second != first
    assert launchers_of(local_runner.root) == [second]


def test_without_a_launcher_the_supervisor_is_spawned_and_the_run_goes_on(
    local_runner: LocalRunner,
):
    local_runner.root.mkdir(parents=True)
    (local_runner.root / ".launcher").write_text("not a directory")
    external_id = local_runner.submit(spec(FAMILY))

    _, _, argv = family(local_runner, external_id)

    assert launchers_of(local_runner.root) == []
    # Spawned, it is an interpreter of its own named for its run.
    assert f"runners.local_supervisor {local_runner.root / external_id}" in argv


def test_the_launcher_holds_none_of_the_workers_secrets(
    local_runner: LocalRunner, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AXON_SECRET_KEY", "worker-secret")
    monkeypatch.setenv("AXON_DATABASE_URL", "postgresql://axon:db-password@db/axon")
    snoop = python(
        "import os; sup = os.getppid(); "
        "parent = open(f'/proc/{sup}/stat').read().rsplit(')', 1)[1].split()[1]; "
        "print(open(f'/proc/{parent}/environ').read().replace('\\0', ' '))"
    )
    external_id = local_runner.submit(spec(snoop))

    assert run_to_end(local_runner, external_id)[-1].status == RunStatus.SUCCEEDED
    logs = local_runner.logs(external_id)
    assert "PATH=" in logs  # the launcher's environment was read, and is this small
    assert "worker-secret" not in logs and "db-password" not in logs


def test_a_second_supervisor_for_a_run_leaves_it_alone(local_runner: LocalRunner, tmp_path: Path):
    marks = tmp_path / "marks.txt"
    external_id = local_runner.submit(spec(python(f"open({str(marks)!r}, 'a').write('ran\\n')")))
    run_dir = local_runner.root / external_id

    # However a second one comes about, forked or spawned, while the first runs or after.
    launch(local_runner.root, run_dir, local_runner.python)
    spawn_supervisor(local_runner.python, run_dir)
    assert run_to_end(local_runner, external_id)[-1].status == RunStatus.SUCCEEDED
    launch(local_runner.root, run_dir, local_runner.python)

    log = run_dir / "supervisor.log"
    wait_for(lambda: log.read_text().count("another supervisor has run") == 3)
    assert marks.read_text() == "ran\n"
    assert [e["status"] for e in json.loads((run_dir / "state.json").read_text())] == [
        "starting",
        "running",
        "succeeded",
    ]


def test_a_pid_file_naming_another_live_process_reads_as_lost(local_runner: LocalRunner):
    # As when a supervisor was killed and its pid went to another process.
    external_id = uuid.uuid4().hex
    run_dir = local_runner.root / external_id
    run_dir.mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps({"uuid": external_id, "command": SUCCEED}))
    (run_dir / "supervisor.pid").write_text(f"{os.getpid()}\n")

    last = run_to_end(local_runner, external_id)[-1]

    assert (last.status, last.reason) == (RunStatus.FAILED, "Lost")
    assert str(os.getpid()) in last.message


def test_a_run_and_the_launcher_outlive_the_worker_that_started_both(
    local_runner: LocalRunner, tmp_path: Path
):
    go = tmp_path / "go"
    waiting = python(f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)")
    submitted = spec(waiting)
    worker = (
        "import sys; from runners.base import RunSpec; from runners.local import LocalRunner; "
        f"LocalRunner({str(local_runner.root)!r}).submit(RunSpec(**{submitted.__dict__!r}))"
    )
    subprocess.run([sys.executable, "-c", worker], check=True, timeout=30)  # and it is gone

    observe_until(local_runner, submitted.uuid, {RunStatus.RUNNING})
    assert launchers_of(local_runner.root) == [launcher_pid(local_runner.root)]
    go.touch()

    assert run_to_end(local_runner, submitted.uuid)[-1].status == RunStatus.SUCCEEDED


def test_a_submit_after_one_that_died_before_launching_starts_the_run_once(
    local_runner: LocalRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    marks = tmp_path / "marks.txt"
    job = spec(python(f"open({str(marks)!r}, 'a').write('ran\\n')"))
    # The first submit claims the run and dies before its supervisor starts.
    monkeypatch.setattr(local_runner, "_launch", lambda run_dir: None)
    external_id = local_runner.submit(job)
    monkeypatch.undo()

    # The worker's task is delivered again: the same run is submitted twice more.
    assert local_runner.submit(job) == external_id
    assert run_to_end(local_runner, external_id)[-1].status == RunStatus.SUCCEEDED
    local_runner.submit(job)

    assert marks.read_text() == "ran\n"


def test_submits_in_a_batch_return_before_the_launcher_answers_and_all_run_when_it_ends(
    local_runner: LocalRunner,
):
    family(local_runner, local_runner.submit(spec(FAMILY)))  # a launcher listens
    launcher = launcher_pid(local_runner.root)
    assert launcher is not None
    os.kill(launcher, signal.SIGSTOP)  # it can take requests but answer none
    try:
        with local_runner.submitting():
            ids = [local_runner.submit(spec(FAMILY)) for _ in range(3)]
            # Nothing is forked yet: each submit only sent its request.
            assert not any((local_runner.root / i / "supervisor.pid").exists() for i in ids)
            os.kill(launcher, signal.SIGCONT)
    finally:
        os.kill(launcher, signal.SIGCONT)

    assert {family(local_runner, i)[1] for i in ids} == {launcher}


def test_a_batch_whose_launcher_died_before_answering_still_starts_every_run(
    local_runner: LocalRunner,
):
    family(local_runner, local_runner.submit(spec(FAMILY)))
    first = launcher_pid(local_runner.root)
    assert first is not None
    os.kill(first, signal.SIGSTOP)
    with local_runner.submitting():
        ids = [local_runner.submit(spec(FAMILY)) for _ in range(3)]
        os.kill(first, signal.SIGKILL)  # the requests it held are lost with it
        wait_for(lambda: launcher_pid(local_runner.root) is None)

    seen = [family(local_runner, i) for i in ids]

    assert first not in {parent for _, parent, _ in seen}
    assert [local_runner.logs(i).count("supervisor ") for i in ids] == [1, 1, 1]  # each ran once
