"""An operation's `build:` compiles to a pipeline: the builder first, then the operation on the
image it built; what cannot be built is refused with the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from ci.cli.spec import check_operation
from ci.compile import build_inputs, builds
from ci.compile.compiler import compile_operation
from ci.compile.placeholders import placeholder_context
from schemas.errors import SpecErrors
from schemas.spec import load_operation

SHA = "a" * 40
PUSH = {"clone_url": "https://github.com/acme/vision.git", "sha": SHA, "ref": "refs/heads/main"}
DESTINATION = "registry.example.com/acme/vision:{{ event.sha }}"


def built(**build: Any) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "build": {"hubRef": "kaniko", "params": {"destination": {"value": DESTINATION}}, **build},
        "params": {"lr": {"value": 0.1}},
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "inputs": [{"name": "lr", "type": "float"}],
            "termination": {"maxRetries": 2},
            "run": {
                "kind": "job",
                "container": {
                    "image": "python:3.11",
                    "command": ["python", "train.py", "{{ lr }}"],
                },
            },
        },
    }


def compiled_ops(doc: dict[str, Any], event: dict[str, Any] | None = None) -> dict[str, Any]:
    compiled = compile_operation(
        load_operation(doc), context={"event": PUSH if event is None else event}, globals_={}
    )
    assert compiled.kind == "dag"
    assert compiled.plan == [["build"], ["train"]]
    return {op["name"]: op for op in compiled.component["run"]["operations"]}


def reasons(
    doc: dict[str, Any], event: dict[str, Any] | None = None, **options: Any
) -> dict[str, str]:
    with pytest.raises(SpecErrors) as raised:
        compile_operation(
            load_operation(doc),
            context={"event": PUSH if event is None else event},
            globals_={},
            **options,
        )
    return {error.path: error.reason for error in raised.value.errors}


def test_a_build_runs_first_and_the_operation_runs_on_the_image_it_built():
    ops = compiled_ops(built())

    main = ops["train"]
    assert main["dependencies"] == ["build"]
    assert main["component"]["run"]["container"]["image"] == "{{ ops.build.outputs.image }}"
    assert main["component"]["run"]["container"]["command"] == ["python", "train.py", "{{ lr }}"]
    assert main["params"] == {"lr": {"value": 0.1}}
    assert main["component"]["termination"] == {"maxRetries": 2}
    assert "build" not in main["component"]


def test_kaniko_builds_the_pushed_commit_and_reports_its_digest_as_the_termination_message():
    builder = compiled_ops(built())["build"]

    container = builder["component"]["run"]["container"]
    assert container["image"] == builds.KANIKO_IMAGE
    assert "--digest-file=/dev/termination-log" in container["args"]
    assert builder["params"]["context"] == {
        "value": f"git://github.com/acme/vision.git#refs/heads/main#{SHA}"
    }
    assert builder["params"]["destination"] == {"value": DESTINATION}


def test_the_registry_connection_queue_and_run_patch_are_the_build_ops():
    doc = built(
        connection="registry",
        queue="builders",
        runPatch={"container": {"resources": {"limits": {"cpu": "2"}}}},
    )

    builder = compiled_ops(doc)["build"]

    assert builder["queue"] == "builders"
    assert builder["runPatch"] == {
        "container": {"resources": {"limits": {"cpu": "2"}}},
        "connections": ["registry"],
    }


def test_params_given_to_the_build_win_over_the_events_commit():
    context = {"value": "git://github.com/acme/other.git#refs/heads/dev"}
    doc = built(params={"destination": {"value": "r.io/a:1"}, "context": context})

    builder = compiled_ops(doc)["build"]

    assert builder["params"]["context"] == context


def test_a_private_repositorys_git_connection_named_by_the_context_goes_to_the_builder():
    params = {"destination": {"value": DESTINATION}, "context": {"connection": "repo"}}
    doc = built(connection="registry", params=params)

    builder = compiled_ops(doc)["build"]

    # The event's commit is still the context; the connection's credentials ride with the op,
    # mounted as its connections (the param keeps no connection its compile would refuse).
    assert builder["params"]["context"] == {
        "value": f"git://github.com/acme/vision.git#refs/heads/main#{SHA}"
    }
    assert builder["runPatch"]["connections"] == ["registry", "repo"]


def test_a_git_connection_without_a_pushed_commit_still_needs_a_context():
    params = {"destination": {"value": DESTINATION}, "context": {"connection": "repo"}}

    assert reasons(built(params=params), event={}) == {
        "build.params.context": "required: the run's event names no pushed commit to build"
    }


def test_an_inline_components_build_is_carried_out_the_same_way():
    doc = built()
    doc["component"]["build"] = doc.pop("build")

    ops = compiled_ops(doc)

    assert ops["build"]["component"]["name"] == "kaniko"
    assert ops["train"]["component"]["run"]["container"]["image"] == builds.BUILT_IMAGE


def test_another_hub_builder_is_looked_up_in_the_hub_by_its_ref():
    doc = built(hubRef="acme/buildkit:1.0", params={"target": {"value": "x"}})

    builder = compiled_ops(doc)["build"]

    assert builder["hubRef"] == "acme/buildkit:1.0"
    assert "component" not in builder


def test_kaniko_without_a_destination_is_refused_naming_the_param():
    doc = built(params={})

    assert reasons(doc) == {
        "build.params.destination": (
            "required by kaniko: the image to push, e.g. registry.example.com/team/app:tag"
        )
    }


def test_a_build_without_a_pushed_commit_or_a_context_is_refused():
    assert reasons(built(), event={}) == {
        "build.params.context": "required: the run's event names no pushed commit to build"
    }


def test_a_build_for_a_kind_without_one_container_is_refused():
    doc = built()
    doc["component"]["run"] = {
        "kind": "tfjob",
        "worker": {"replicas": 2, "container": {"image": "python:3.11"}},
    }
    doc["component"]["inputs"] = []
    doc["params"] = {}

    assert reasons(doc) == {
        "build": (
            "a tfjob has no single container the built image can replace; "
            "a build is for job or service"
        )
    }


def test_a_build_with_a_matrix_is_refused_with_the_reason():
    doc = built()
    doc["matrix"] = {"kind": "grid", "params": {"lr": {"kind": "choice", "value": [0.1, 0.2]}}}

    found = reasons(doc)

    assert found["build"].startswith("a build runs once for one image")


def test_an_unknown_build_field_is_refused_by_name():
    doc = built(dockerfile="Dockerfile.gpu")

    with pytest.raises(SpecErrors) as raised:
        load_operation(doc)

    [error] = raised.value.errors
    assert error.path.startswith("build")
    assert "dockerfile" in str(error)


def test_the_pipeline_of_a_build_is_recognised_once_compiled():
    compiled = compile_operation(load_operation(built()), context={"event": PUSH}, globals_={})
    plain = built()
    plain.pop("build")
    job = compile_operation(load_operation(plain), context={"event": PUSH}, globals_={})

    assert builds.is_build_pipeline(compiled.component)
    assert not builds.is_build_pipeline(job.component)


@pytest.mark.parametrize(
    ("event", "context"),
    [
        (PUSH, f"git://github.com/acme/vision.git#refs/heads/main#{SHA}"),
        (
            {"clone_url": "https://gitlab.com/a/b.git", "sha": SHA},
            f"git://gitlab.com/a/b.git##{SHA}",
        ),
        ({"clone_url": "https://github.com/acme/vision.git"}, ""),
        ({}, ""),
    ],
)
def test_kaniko_context_is_the_events_repository_at_its_commit(event, context):
    assert builds.kaniko_context(event) == context


def test_a_check_without_an_event_compiles_the_build_and_leaves_its_commit_to_the_run():
    context, globals_ = placeholder_context()

    compiled = compile_operation(load_operation(built()), context=context, globals_=globals_)

    assert compiled.plan == [["build"], ["train"]]
    [builder, _] = compiled.component["run"]["operations"]
    assert "context" not in builder["params"]


# Inside a dag: what the op and its build read of the dag is read when the op compiles.
UPSTREAM = {
    "ops.prepare": {"outputs": {"path": "s3://acme/data/v7", "tag": "data-v7", "n": 3}},
    "dag": {"inputs": {"lr": 0.5}, "outputs": {}},
}


def in_a_dag(**fields: Any) -> dict[str, Any]:
    doc = built(params={"destination": {"value": "r.io/a:{{ ops.prepare.outputs.tag }}"}})
    doc["params"] = {
        "lr": {"value": "{{ dag.inputs.lr }}", "toEnv": "LR"},
        "data": {"ref": "ops.prepare", "value": "outputs.path"},
        "image": {"value": "{{ ops.build.outputs.image }}"},
    }
    doc["component"]["inputs"] += [
        {"name": "data", "type": "str"},
        {"name": "image", "type": "str"},
    ]
    return {**doc, **fields}


def test_what_a_build_op_reads_of_its_dag_becomes_inputs_of_its_pipeline():
    compiled = compile_operation(
        load_operation(in_a_dag()), context={"event": PUSH}, globals_={}, refs=UPSTREAM
    )

    assert compiled.inputs == {
        "lr": 0.5,
        "data": "s3://acme/data/v7",
        "build:destination": "r.io/a:data-v7",
    }
    ops = {op["name"]: op for op in compiled.component["run"]["operations"]}
    assert ops["train"]["params"] == {
        "lr": {"ref": "dag", "value": "inputs.lr", "toEnv": "LR"},
        "data": {"ref": "dag", "value": "inputs.data"},
        # The image its own build pushed is known only inside the pipeline: read there.
        "image": {"value": "{{ ops.build.outputs.image }}"},
    }
    assert ops["build"]["params"]["destination"] == {
        "ref": "dag",
        "value": "inputs.build:destination",
    }


def test_the_op_inside_the_pipeline_reads_the_carried_values_as_its_dags_inputs():
    outer = compile_operation(
        load_operation(in_a_dag()), context={"event": PUSH}, globals_={}, refs=UPSTREAM
    )
    [_, train] = outer.component["run"]["operations"]
    inner = load_operation({"version": 1.1, "kind": "operation", **train})
    built_image = {"outputs": {"image": "r.io/a:data-v7@sha256:" + "1" * 64}}

    compiled = compile_operation(
        inner,
        context={"event": PUSH},
        globals_={},
        refs={"dag": {"inputs": outer.inputs, "outputs": {}}, "ops.build": built_image},
    )

    assert compiled.image == built_image["outputs"]["image"]
    assert compiled.command == ["python", "train.py", "0.5"]
    assert compiled.env == {"LR": "0.5"}
    assert compiled.inputs["data"] == "s3://acme/data/v7"


def test_a_value_its_dag_lacks_is_reported_where_the_op_or_its_build_wrote_it():
    doc = in_a_dag()
    doc["params"]["data"]["value"] = "outputs.nope"
    doc["build"]["params"]["destination"] = {"ref": "ops.prepare", "value": "outputs.missing"}

    assert reasons(doc, refs=UPSTREAM) == {
        "params.data.value": "outputs has no 'nope' (it has: n, path, tag)",
        "build.params.destination.value": "outputs has no 'missing' (it has: n, path, tag)",
    }


def test_a_param_reading_both_its_builds_image_and_its_dag_is_refused():
    doc = in_a_dag()
    doc["params"]["image"] = {
        "value": "{{ ops.build.outputs.image }}@{{ ops.prepare.outputs.tag }}"
    }

    assert reasons(doc, refs=UPSTREAM) == {
        "params.image": (
            "reads both ops.build (the image its build pushed, known inside the op's pipeline) "
            "and its dag's values (known before it): give them as two params"
        )
    }


def test_a_run_section_reading_its_dag_directly_is_refused_naming_the_way_in():
    doc = in_a_dag()
    doc["component"]["run"]["container"]["command"] += ["{{ ops.prepare.outputs.n }}"]

    assert reasons(doc, refs=UPSTREAM) == {
        "component.run.container.command[3]": (
            "reads ops.prepare, which the op's build pipeline cannot see: give the value to "
            "the op as a param, which reads its dag when the op compiles"
        )
    }


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("{{ ops.prepare.outputs.tag }}-{{ event.sha }}", {"ops.prepare"}),
        ("{{ ops.build.outputs.image }}", {"ops.build"}),
        ('{{ ops["prepare"].outputs.tag }}', {"ops"}),
        ("{{ dag.inputs.lr * 2 }}", {"dag"}),
        ({"nested": ["{{ runs }}"]}, {"runs"}),
        ("{{ globals.uuid }} {{ params.lr }}", set()),
        ("{{ ops.prepare", {"ops", "dag", "runs"}),
    ],
)
def test_what_a_template_reads_of_its_dag_is_told_by_its_names(value, read):
    assert build_inputs.template_reads(value) == read


def test_a_dag_whose_op_builds_on_its_siblings_outputs_checks_without_problems():
    train = in_a_dag()
    train.pop("version"), train.pop("kind")
    prepare = {
        "name": "prepare",
        "component": {"run": {"kind": "job", "container": {"image": "busybox"}}},
    }
    dag = {
        "version": 1.1,
        "kind": "operation",
        "params": {"lr": {"value": 0.5}},
        "component": {
            "inputs": [{"name": "lr", "type": "float"}],
            "run": {"kind": "dag", "operations": [prepare, train]},
        },
    }

    [run] = check_operation(load_operation(dag))
    [alone] = check_operation(load_operation(in_a_dag()))

    assert run.plan == [["prepare"], ["train"]]
    assert alone.plan == [["build"], ["train"]]
    assert alone.inputs == {
        "lr": "{{ dag.inputs.lr }}",
        "data": "{{ ops.prepare.outputs.path }}",
        "build:destination": "r.io/a:{{ ops.prepare.outputs.tag }}",
    }
