"""The built-in hub's services: `tensorboard` over runs' artifacts and `notebook` in a run's image,
compiled as services Axon opens under the run's base path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ci.compile.compiler import CompiledRun, compile_operation
from ci.runs import services
from schemas.spec import load_operation

RUNS = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"]
BASE = "/runs/5f0c0ffee5f0c0ffee5f0c0ffee5f0c0/service"


def compiled(text: str, hub_dir: str | None = None) -> CompiledRun:
    op = load_operation("version: 1.1\nkind: operation\n" + text)
    return compile_operation(op, context={}, globals_={"base_url": BASE}, hub_dir=hub_dir)


def test_tensorboard_is_a_service_on_6006_that_serves_under_the_base_path():
    run = compiled(f"hubRef: tensorboard\nparams:\n  uuids: {{value: {RUNS}}}\n")

    found = services.facts({"component": run.component})
    assert found == services.ServiceFacts(ports=(6006,), rewrite_path=False, is_external=False)
    assert f"base={BASE}" in run.command
    assert "uuids=" + ",".join(RUNS) in run.command


def test_tensorboard_copies_each_runs_artifacts_and_shows_them_by_uuid(tmp_path: Path):
    store = tmp_path / "store"
    for uuid in RUNS:
        (store / uuid / "tensorboard").mkdir(parents=True)
        (store / uuid / "tensorboard" / "events.out.tfevents.1").write_bytes(uuid.encode())
    fake = tmp_path / "bin" / "tensorboard"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "argv"}\n')
    fake.chmod(0o755)
    run = compiled(
        f"hubRef: tensorboard\nparams:\n  uuids: {{value: {RUNS}}}\n  store: {{value: '{store}'}}\n"
    )
    local = tmp_path / "copies"
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    env["AXON_TENSORBOARD_DIR"] = str(local)

    done = subprocess.run([sys.executable, *run.command[1:]], env=env, timeout=60)

    assert done.returncode == 0
    argv = (tmp_path / "argv").read_text().split()
    spec = next(arg for arg in argv if arg.startswith("--logdir_spec="))
    assert spec == "--logdir_spec=" + ",".join(f"{u[:8]}:{local}/{u}" for u in RUNS)
    assert f"--path_prefix={BASE}" in argv
    copied = local / RUNS[1] / "tensorboard" / "events.out.tfevents.1"
    assert copied.read_bytes() == RUNS[1].encode()


def test_tensorboard_without_runs_says_what_to_give():
    run = compiled("hubRef: tensorboard\n")

    done = subprocess.run(
        [sys.executable, *run.command[1:]], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 1
    assert "params.uuids names no run" in done.stderr


def test_the_notebook_runs_jupyter_in_the_given_image_under_the_base_path():
    run = compiled("hubRef: notebook\nparams:\n  image: {value: 'ghcr.io/acme/trainer:1'}\n")

    assert run.image == "ghcr.io/acme/trainer:1"
    assert run.command[:2] == ["jupyter", "lab"]
    assert f"--ServerApp.base_url={BASE}" in run.command
    found = services.facts({"component": run.component})
    assert found is not None and (found.port, found.rewrite_path) == (8888, False)


def test_a_configured_hub_replaces_a_built_in_component(tmp_path: Path):
    (tmp_path / "notebook.yaml").write_text(
        "version: 1.1\nkind: component\nname: notebook\n"
        "run: {kind: service, ports: [9999], container: {image: ours:1, command: [serve]}}\n"
    )

    run = compiled("hubRef: notebook\n", hub_dir=str(tmp_path))

    assert (run.image, run.command) == ("ours:1", ["serve"])
