"""The Kubernetes runner as Axon's settings make it: every AXON_KUBERNETES_* variable lands."""

from __future__ import annotations

import json

from ci.config import Settings
from ci.runtime import Runtime
from ci.store.db import Database
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.init_containers import PodOptions
from tests.fakes.kubernetes import fixtures

k8s = fixtures.k8s


def test_the_environment_configures_the_runner(k8s, tmp_path):
    queues = {"gpu": {"namespace": "ml", "concurrency": 2}}
    env = {
        "AXON_RUNNER": "kubernetes",
        "AXON_KUBERNETES_NAMESPACE": "runs",
        "AXON_KUBERNETES_KUBECONFIG": str(k8s.kubeconfig(tmp_path / "kubeconfig")),
        "AXON_KUBERNETES_CONTEXT": "double",
        "AXON_KUBERNETES_IN_CLUSTER": "false",
        "AXON_KUBERNETES_QUEUES": json.dumps(queues),
        "AXON_KUBERNETES_DEFAULT_QUEUE": "gpu",
        "AXON_KUBERNETES_KUBEFLOW": "false",
        "AXON_KUBERNETES_GIT_IMAGE": "registry.example/git:1",
        "AXON_KUBERNETES_HELPER_IMAGE": "registry.example/busybox:1",
        "AXON_KUBERNETES_GIT_SECRET": "git-credentials",
        "AXON_KUBERNETES_ARTIFACTS_CLAIM": "artifacts",
        "AXON_KUBERNETES_WATCH_TIMEOUT": "120",
    }
    settings = Settings.from_env(env)
    rt = Runtime(settings, Database("sqlite://"), b"k")

    runner = rt.runner("kubernetes")

    assert isinstance(runner, KubernetesRunner) and rt.runner("kubernetes") is runner
    assert (runner.namespace, runner.default_queue, runner.kubeflow) == ("runs", "gpu", False)
    assert runner.queue_for(None).namespace == "ml" and runner.queue_for("gpu").concurrency == 2
    assert runner.pod_options == PodOptions(
        "registry.example/git:1", "registry.example/busybox:1", "git-credentials", "artifacts"
    )
    assert runner.watch_timeout == 120
    assert runner.configuration.host == k8s.url
    assert runner.known_ids() == set()
    rt.close()


def test_unset_variables_keep_the_runners_defaults():
    config = Settings.from_env({}).runner_config("kubernetes")

    assert config["namespace"] == "default" and config["in_cluster"] is None
    assert config["queues"] is None and config["kubeflow"] is True
    assert "git_image" not in config and "helper_image" not in config
