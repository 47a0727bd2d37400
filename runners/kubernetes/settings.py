"""The Kubernetes runner's settings: the `AXON_KUBERNETES_*` variables.

Config: namespace, kubeconfig, context, in_cluster, queues, default_queue, kubeflow, git_image,
helper_image, git_secret, artifacts_claim, watch_timeout (the runner's arguments of those names).
"""

from __future__ import annotations

from typing import Any

from runners.kubernetes.init_containers import PodOptions
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

    def arguments(self) -> dict[str, Any]:
        arguments = super().arguments()
        arguments["queues"] = self.queues or None
        # Unset images keep the runner's own defaults.
        for image in ("git_image", "helper_image"):
            if not arguments[image]:
                del arguments[image]
        return arguments
