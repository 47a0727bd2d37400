"""A dag's graph: upstreams from dependencies, param refs and events; order; and its errors."""

from __future__ import annotations

import pytest

from ci.compile.dag import cycles, dag_errors, levels, order, upstreams
from schemas.errors import SpecErrors
from schemas.spec import load_operation
from schemas.spec_dag import V1Dag
from tests.ci.test_compiler import compile_source


def dag_operation(operations: str, components: str = "") -> str:
    shared = components or "      - {name: step, run: {kind: job, container: {image: a}}}\n"
    return (
        "version: 1.1\nkind: operation\ncomponent:\n  run:\n    kind: dag\n    operations:\n"
        + operations
        + "    components:\n"
        + shared
    )


def dag_of(source: str) -> tuple[V1Dag, object]:
    op = load_operation(source)
    assert op.component is not None and isinstance(op.component.run, V1Dag)
    return op.component.run, op


PIPELINE = dag_operation(
    "      - {name: fetch, dagRef: step}\n"
    "      - {name: clean, dagRef: step, dependencies: [fetch]}\n"
    "      - name: train\n"
    "        dagRef: step\n"
    "        params: {data: {ref: ops.clean, value: outputs.path}}\n"
    "      - name: board\n"
    "        dagRef: step\n"
    "        events: [{ref: '{{ ops.train }}', kinds: [run_status_running]}]\n"
    "      - {name: report, dagRef: step, dependencies: [train, board]}\n"
    "      - {name: lint, dagRef: step}\n"
)


def test_upstreams_come_from_dependencies_param_refs_and_events():
    dag, _ = dag_of(PIPELINE)
    by_name = {op.name: op for op in dag.operations}

    assert upstreams(by_name["clean"]) == {"fetch": "dependencies"}
    assert upstreams(by_name["train"]) == {"clean": "params.data.ref"}
    assert upstreams(by_name["board"]) == {"train": "events[0].ref"}
    assert upstreams(by_name["report"]) == {"train": "dependencies", "board": "dependencies"}


def test_an_op_that_builds_waits_for_what_its_build_reads_and_reads_ops_build_as_its_own():
    dag, _ = dag_of(
        dag_operation(
            "      - {name: tag, dagRef: step}\n"
            "      - name: train\n"
            "        dagRef: step\n"
            "        build:\n"
            "          hubRef: kaniko\n"
            "          params: {destination: {value: 'r.io/a:{{ ops.tag.outputs.tag }}'}}\n"
            "        params: {image: {value: '{{ ops.build.outputs.image }}'}}\n"
        )
    )
    train = dag.operations[1]

    assert upstreams(train) == {"tag": "build.params.destination.value"}
    assert dag_errors(dag, ("component", "run"), load_operation(PIPELINE).source) == []


def test_ops_start_in_waves_each_after_its_upstreams():
    dag, _ = dag_of(PIPELINE)

    assert levels(dag) == [["fetch", "lint"], ["clean"], ["train"], ["board"], ["report"]]
    assert list(order(dag)) == ["fetch", "lint", "clean", "train", "board", "report"]


def test_a_valid_dag_has_no_errors():
    dag, op = dag_of(PIPELINE)

    assert dag_errors(dag, ("component", "run"), op.source) == []  # type: ignore[attr-defined]


def test_a_cycle_is_reported_once_at_its_first_op_with_its_path():
    dag, op = dag_of(
        dag_operation(
            "      - {name: a, dagRef: step, dependencies: [c]}\n"
            "      - {name: b, dagRef: step, dependencies: [a]}\n"
            "      - {name: c, dagRef: step, dependencies: [b]}\n"
        )
    )

    [error] = dag_errors(dag, ("component", "run"), op.source)  # type: ignore[attr-defined]

    assert (error.path, error.line, error.column) == ("component.run.operations[0]", 7, 9)
    assert error.reason == "dependency cycle: a -> c -> b -> a (each waits for the next)"
    with pytest.raises(ValueError, match="cycle"):
        levels(dag)


def test_cycles_finds_each_cycle_once():
    graph = {"a": ["b"], "b": ["a"], "c": ["c"], "d": ["a"]}

    assert cycles(graph) == [["a", "b"], ["c"]]


def test_a_missing_dag_ref_and_unknown_upstreams_are_errors():
    dag, op = dag_of(
        dag_operation(
            "      - {name: a, dagRef: nope}\n"
            "      - name: b\n"
            "        dagRef: step\n"
            "        params: {x: {ref: ops.ghost, value: outputs.x}}\n"
        )
    )

    errors = dag_errors(dag, ("component", "run"), op.source)  # type: ignore[attr-defined]

    assert [(e.path, e.reason) for e in errors] == [
        (
            "component.run.operations[0].dagRef",
            "no component named 'nope' in this dag; components: step",
        ),
        ("component.run.operations[1].params.x.ref", "no op named 'ghost' in this dag"),
    ]


def test_nested_dags_are_checked_too():
    dag, op = dag_of(
        dag_operation(
            "      - name: inner\n"
            "        component:\n"
            "          run:\n"
            "            kind: dag\n"
            "            operations: [{name: x, dagRef: missing}]\n"
        )
    )

    [error] = dag_errors(dag, ("component", "run"), op.source)  # type: ignore[attr-defined]

    assert error.path == "component.run.operations[0].component.run.operations[0].dagRef"
    assert error.line == 11


DAG = """\
version: 1.1
kind: operation
component:
  run:
    kind: dag
    operations:
      - {name: train, dagRef: step, params: {lr: "{{ globals.uuid }}"}}
      - {name: evaluate, dagRef: step, dependencies: [train]}
    components:
      - name: step
        inputs: [{name: lr, type: str, isOptional: true}]
        run: {kind: job, container: {image: python:3.11, command: [python, "{{ lr }}"]}}
"""


def test_a_dag_compiles_to_its_plan_without_rendering_its_ops():
    run = compile_source(DAG)

    assert (run.kind, run.plan, run.command, run.image) == (
        "dag",
        [["train"], ["evaluate"]],
        [],
        "",
    )
    step = run.component["run"]["components"][0]
    assert step["run"]["container"]["command"] == ["python", "{{ lr }}"]


def test_a_dag_with_a_cycle_does_not_compile():
    with pytest.raises(SpecErrors) as caught:
        compile_source(
            DAG.replace(
                "{name: train, dagRef: step,",
                "{name: train, dagRef: step, dependencies: [evaluate],",
            )
        )

    [error] = caught.value.errors
    assert error.reason == "dependency cycle: train -> evaluate -> train (each waits for the next)"


def test_a_template_over_an_ops_outputs_makes_it_an_upstream():
    dag, _ = dag_of(
        dag_operation(
            "      - {name: build, dagRef: step}\n"
            "      - name: train\n"
            "        dagRef: step\n"
            "        params: {image: {value: '{{ ops.build.outputs.image }}'}}\n"
        )
    )

    assert upstreams(dag.operations[1]) == {"build": "params.image.value"}
    assert levels(dag) == [["build"], ["train"]]


def test_a_dag_op_may_leave_its_container_to_its_run_patch():
    source = dag_operation(
        "      - name: train\n"
        "        runPatch: {container: {image: python:3.11}}\n"
        "        component: {run: {kind: job}}\n"
    )

    [run] = [compile_source(source)]

    assert run.plan == [["train"]]


def test_a_dag_op_whose_container_nothing_gives_is_an_error():
    source = dag_operation("      - name: train\n        component: {run: {kind: job}}\n")

    with pytest.raises(SpecErrors) as caught:
        compile_source(source)

    [error] = caught.value.errors
    assert (error.path, error.reason, error.line) == (
        "component.run.operations[0].component.run.container",
        "field required: give it in the component, a preset or the op's runPatch",
        8,
    )


def test_a_dag_whose_op_uses_what_axon_does_not_run_is_refused_naming_the_op():
    source = dag_operation(
        "      - name: notify\n"
        "        hooks: [{hubRef: slack, disableDefaults: true}]\n"
        "        dagRef: step\n"
    )

    with pytest.raises(SpecErrors) as caught:
        compile_source(source)

    [error] = caught.value.errors
    assert error.path == "component.run.operations[0].hooks[0].disableDefaults"
    assert error.line == 8
