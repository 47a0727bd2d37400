"""Named runner configurations: each one a cluster (kubeconfig, context, namespace) owning its
queues, read from JSON or a YAML file, and every bad entry named by its place, field and reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci.config import Settings
from runners.base import RunSpec
from runners.clusters import ClusterError, parse
from schemas.settings import SettingsError
from tests.fakes.kubernetes import KubernetesDouble, PodScript


@pytest.fixture
def two_clusters() -> Iterator[tuple[KubernetesDouble, KubernetesDouble]]:
    with (
        KubernetesDouble(speed=10, watch_timeout=20) as east,
        KubernetesDouble(speed=10, watch_timeout=20) as west,
    ):
        yield east, west


def entries(*configs: dict[str, Any]) -> str:
    return json.dumps(list(configs))


def test_a_json_list_names_each_configuration_with_its_kind_queues_and_settings():
    found = parse(
        entries(
            {"name": "east", "kind": "kubernetes", "namespace": "ml", "queues": ["gpu", "big"]},
            {"name": "west", "kind": "kubernetes", "context": "west-admin", "queues": ["cpu"]},
        )
    )

    assert list(found) == ["east", "west"]
    assert (found["east"].kind, found["east"].queues) == ("kubernetes", ("gpu", "big"))
    assert found["east"].values == {"namespace": "ml"}
    assert found["west"].values == {"context": "west-admin"}


def test_a_yaml_file_is_read_from_its_path(tmp_path: Path):
    path = tmp_path / "runners.yaml"
    path.write_text(
        "runners:\n"
        "- name: east\n  kind: kubernetes\n  namespace: ml\n"
        "  queues:\n    gpu: {concurrency: 2, namespace: gpu-jobs}\n"
        "- name: spare\n  kind: local\n  queues: [cheap]\n"
    )

    found = parse(str(path))

    assert found["east"].queues == ("gpu",)
    assert json.loads(found["east"].values["queues"]) == {
        "gpu": {"concurrency": 2, "namespace": "gpu-jobs"}
    }
    assert (found["spare"].kind, found["spare"].queues) == ("local", ("cheap",))


def test_no_configurations_leave_the_single_runner_as_it_was():
    assert parse("") == {}
    assert Settings(runner="kubernetes").runner_kind("kubernetes") == "kubernetes"


K8S = {"name": "east", "kind": "kubernetes"}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[{", "not JSON"),
        ('{"name": "east"}', "expected a list of runner configurations, got dict"),
        ("/nowhere/runners.yaml", "neither JSON nor a readable file: '/nowhere/runners.yaml'"),
        (entries("east"), "runners[0]: expected a mapping, got str"),
        (entries({"kind": "kubernetes"}), "runners[0].name: required"),
        (entries({**K8S, "name": "East Coast"}), "runners[0].name: required, lowercase"),
        (entries({**K8S, "kind": "kubernets"}), "(east).kind: no runner 'kubernets'; did you "),
        (entries({**K8S, "name": "kubernetes"}), "runners[0] (kubernetes).name: 'kubernetes' is"),
        (entries({**K8S, "namespce": "ml"}), "(east).namespce: not a setting of a kubernetes "),
        (entries({**K8S, "watch_timeout": "soon"}), "(east).watch_timeout: expected an integer"),
        (entries({**K8S, "queues": "gpu"}), "(east).queues: expected a list of queue names"),
        (entries(K8S, K8S), "runners[1] (east).name: another configuration has this name"),
        (
            entries({**K8S, "queues": ["gpu"]}, {**K8S, "name": "west", "queues": ["gpu"]}),
            "runners[1] (west).queues: queue 'gpu' belongs to 'east' already",
        ),
        (
            entries({"name": "spare", "kind": "local", "queues": {"gpu": {}}}),
            "(spare).queues: a local runner takes a list of queue names",
        ),
    ],
)
def test_a_bad_configuration_is_named_with_its_field_and_reason(text: str, named: str):
    with pytest.raises(ClusterError) as refused:
        parse(text)

    assert named in str(refused.value)


def test_the_setting_names_its_variable_when_a_configuration_is_bad():
    with pytest.raises(SettingsError) as refused:
        Settings(runners=entries({**K8S, "kind": "slurm"}))

    assert str(refused.value).startswith("AXON_RUNNERS: runners[0] (east).kind: no runner 'slurm'")


def test_each_configuration_makes_a_runner_named_for_it_that_submits_to_its_own_cluster(
    two_clusters: tuple[KubernetesDouble, KubernetesDouble], tmp_path: Path
):
    east, west = two_clusters
    configs = parse(
        entries(
            {**K8S, "kubeconfig": str(east.kubeconfig(tmp_path / "east")), "namespace": "ml"},
            {
                "name": "west",
                "kind": "kubernetes",
                "kubeconfig": str(west.kubeconfig(tmp_path / "w")),
            },
        )
    )
    made = {name: config.make({}) for name, config in configs.items()}
    try:
        run = uuid.uuid4().hex
        east.script(f"axon.dev/run-uuid={run}", PodScript(duration=None))
        spec = RunSpec(uuid=run, name="train", project="mnist", command=["true"], image="python")

        external_id = made["east"].submit(spec)

        assert (made["east"].name, made["west"].name) == ("east", "west")
        assert external_id == f"ml/jobs/axon-{run}"
        assert east.get("jobs", f"axon-{run}", namespace="ml") is not None
        assert west.objects("jobs") == []
    finally:
        for runner in made.values():
            runner.close()
