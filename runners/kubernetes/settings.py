"""The Kubernetes runner's settings: the `AXON_KUBERNETES_*` variables.

Config: namespace, kubeconfig, context, in_cluster, queues, default_queue, kubeflow, operators,
git_image, helper_image, git_secret, artifacts_claim, watch_timeout, collect_outputs,
outputs_image (the runner's arguments of those names).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from runners.kubernetes.init_containers import PodOptions
from runners.kubernetes.operators_kinds import operator_names
from schemas.settings import Flag, MaybeFlag, PluginSettings, SettingsConfigDict, setting


class KubernetesSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="AXON_KUBERNETES_")

    namespace: str = setting("default", "where runs go (a queue may name another)")
    kubeconfig: str = setting(
        "", "the cluster, outside it", shown="`$KUBECONFIG` or `~/.kube/config`"
    )
    context: str = setting("", "the kubeconfig's context", shown="its current context")
    in_cluster: MaybeFlag = setting(
        None,
        "use the pod's service account",
        shown="empty: in-cluster when `KUBERNETES_SERVICE_HOST` is set and no kubeconfig is named",
    )
    queues: str = setting(
        "",
        'JSON: `{"gpu": {"namespace": "ml", "concurrency": 2, "resources": {...}, '
        '"nodeSelector": {...}, "tolerations": [...]}}`',
        shown="empty: one queue, no limit",
    )
    default_queue: str = setting("default", "the queue of a spec without `queue:`")
    kubeflow: Flag = setting(True, "watch and submit the Kubeflow kinds")
    operators: str = setting(
        "",
        "the operators whose kinds are watched and submitted: some of `spark`, `dask`, `ray`",
        shown="empty: none",
    )
    git_image: str = setting(
        "", "the checkout init container's image", shown=f"`{PodOptions.git_image}`"
    )
    helper_image: str = setting(
        "", "the helper init containers' image", shown=f"`{PodOptions.helper_image}`"
    )
    git_secret: str = setting(
        "", "a Secret with `GIT_USERNAME`/`GIT_PASSWORD` or `GIT_TOKEN` for private checkouts"
    )
    artifacts_claim: str = setting("", "a PersistentVolumeClaim mounted as the artifacts store")
    watch_timeout: int = setting(
        300, "seconds a watch stays open before it resumes from its last version"
    )
    collect_outputs: Flag = setting(
        True, "give each job an outputs directory that a sidecar uploads to Axon when it ends"
    )
    outputs_image: str = setting(
        "",
        "the outputs collector's image (any with Python 3.8+)",
        shown=f"`{PodOptions.outputs_image}`",
    )

    @field_validator("operators")
    @classmethod
    def _known_operators(cls, value: str) -> str:
        return ",".join(sorted(operator_names(value)))

    def arguments(self) -> dict[str, Any]:
        arguments = super().arguments()
        arguments["queues"] = self.queues or None
        # Unset images keep the runner's own defaults.
        for image in ("git_image", "helper_image", "outputs_image"):
            if not arguments[image]:
                del arguments[image]
        return arguments
