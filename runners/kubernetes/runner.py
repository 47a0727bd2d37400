"""Runs on Kubernetes: Jobs, services (Deployment + Service), Kubeflow training jobs, and the
Spark, Dask and Ray operators' kinds (`operators`).

Features: manifests compiled from the run spec (`manifests`, `pods`), shaped by the server's
version (read once per runner); submit idempotent on the run uuid (object names come from it;
409 AlreadyExists is "submitted already") and all or nothing (a refused object deletes what
the run had created, and raises `Refused` in the server's words); stop deletes
the run's main object with propagationPolicy Background; named queues with a concurrency
limit, namespace, default resources and placement (`has_capacity(queue)` before submit);
observe() (`observer`) lists then watches one stream per kind and namespace, label selector
`axon.dev/managed=true`, with bookmarks and re-lists on 410, and maps objects to statuses
(`status`); `known_ids()` for runs whose objects are gone; logs, followed logs and events
(`logs`), their pods taken from what a live observer last saw (`last_seen`); finished
objects kept until `recorded()` lets them go (`cleanup`); the run token in a Secret of the
run's own (`secrets`); Kubeflow kinds found at run time (`watch.Rediscovery`). External id:
`<namespace>/<plural>/<name>`, e.g. `default/jobs/axon-<uuid>`; a resumed or retried run's
next attempt is a new object, `axon-<uuid>-<attempt>`, observed apart from the old one.
Config: `namespace`, `kubeconfig`, `context`, `in_cluster`, `configuration` (a client
Configuration, in code), `queues` (mapping or JSON), `default_queue`, `kubeflow` (watch the
Kubeflow kinds), `operators` (which of spark, dask and ray to watch and submit), `git_image`,
`helper_image`, `git_secret`, `artifacts_claim`, `watch_timeout`, `collect_outputs` and
`outputs_image` (a job's outputs collector, `outputs`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from runners.base import Observation, Runner, RunnerUnavailable, RunSpec
from runners.kubernetes import connection_mounts, observer
from runners.kubernetes.api import (
    Cluster,
    Refused,
    load_configuration,
    minor_version,
    refusal,
)
from runners.kubernetes.cleanup import Reaper, delete_after, hold_until_recorded
from runners.kubernetes.last_seen import LastSeen
from runners.kubernetes.logs import ClusterEvent, follow, read_events, read_logs
from runners.kubernetes.manifests import (
    KINDS,
    KUBEFLOW,
    QUEUE,
    SELECTOR,
    STOP_REQUESTED,
    ManifestError,
    Workload,
    compile_run,
    label_value,
    run_kind,
    workload,
)
from runners.kubernetes.operators import unsupported as operator_unsupported
from runners.kubernetes.operators_kinds import OPERATORS, operator_names
from runners.kubernetes.pods import PodOptions
from runners.kubernetes.queues import Queue, parse_queues, pick_queue
from runners.kubernetes.secrets import (
    create_secret,
    delete_secret,
    own_secret,
    secret_name,
    take_secrets,
)
from runners.kubernetes.service_proxy import open_service
from runners.kubernetes.status import RunView, terminal
from runners.kubernetes.watch import Rediscovery, Resource
from runners.services import ServiceRequest, ServiceResponse

log = logging.getLogger(__name__)
OWNERS = ("jobs", "deployments")  # the main objects' plurals, besides the Kubeflow ones
REMEMBER_STOPS = 1000
# Connections kept per host: every followed run streams on one (the agent follows up to 200).
POOL_SIZE = 256


class KubernetesRunner(Runner):
    name = "kubernetes"
    transient_errors = (RunnerUnavailable,)
    kinds = KINDS
    # A Job's backoffLimit is termination.maxRetries; the operators restart their own replicas.
    retries_itself = True

    @classmethod
    def unsupported(cls, component: dict[str, Any]) -> list[tuple[str, str]]:
        """What the operators' kinds cannot carry out (`operators`)."""
        return operator_unsupported(component)

    def __init__(
        self,
        namespace: str = "default",
        kubeconfig: str = "",
        context: str = "",
        in_cluster: bool | None = None,
        configuration: client.Configuration | None = None,
        queues: Mapping[str, Any] | str | None = None,
        default_queue: str = "default",
        kubeflow: bool = True,
        operators: Iterable[str] | str = (),
        git_image: str = PodOptions.git_image,
        helper_image: str = PodOptions.helper_image,
        git_secret: str = "",
        artifacts_claim: str = "",
        watch_timeout: int = 300,
        collect_outputs: bool = True,
        outputs_image: str = PodOptions.outputs_image,
    ) -> None:
        self.namespace = namespace
        self.queues = parse_queues(queues, namespace)
        self.default_queue = default_queue
        self.kubeflow = kubeflow
        self.operators = operator_names(operators)
        self.pod_options = PodOptions(
            git_image,
            helper_image,
            git_secret,
            artifacts_claim,
            collect_outputs=collect_outputs,
            outputs_image=outputs_image,
        )
        self.watch_timeout = watch_timeout
        self.configuration = configuration or load_configuration(kubeconfig, context, in_cluster)
        self.configuration.connection_pool_maxsize = max(
            self.configuration.connection_pool_maxsize or 0, POOL_SIZE
        )
        self.api_client = client.ApiClient(self.configuration)
        self.cluster = Cluster(self.api_client)
        # Runs this runner stopped: its observers report them stopped even once they are gone.
        self._stopped: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.last_seen = LastSeen()
        self._server_version: str | None = None
        self.reaper = Reaper(self._delete_recorded)
        # A Kubeflow kind absent when watching began is looked for again on news of a run.
        self.rediscovery = Rediscovery()

    def close(self) -> None:
        """Close the API client's connections."""
        self.reaper.close()
        self.api_client.close()

    def __enter__(self) -> KubernetesRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- submitting and stopping -------------------------------------------------------------

    def queue_for(self, queue_name: str | None) -> Queue:
        """The queue a spec's `queue:` names (the default one when it names none)."""
        return pick_queue(self.queues, queue_name, self.default_queue, self.namespace)

    def submit(self, spec: RunSpec) -> str:
        kind = run_kind(spec)
        if kind in KUBEFLOW and not self.kubeflow:
            raise ManifestError(
                f"run.kind: a {kind} needs the Kubeflow training operator, and "
                "this runner is configured without it (kubeflow: false)"
            )
        if kind in OPERATORS and OPERATORS[kind].name not in self.operators:
            name = OPERATORS[kind].name
            raise ManifestError(
                f"run.kind: a {kind} needs the {name} operator, and this runner is configured "
                f"without it (set AXON_KUBERNETES_OPERATORS to include {name})"
            )
        target = self.queue_for(spec.component.get("queue"))
        server = minor_version(self.server_version())
        spec, secret_variables = connection_mounts.with_env(spec)
        manifests = compile_run(spec, target, replace(self.pod_options, server=server))
        body = hold_until_recorded(manifests[0].body)
        files = connection_mounts.mount_files(body, spec.mounts, secret_name(body))
        files.update(connection_mounts.init_env(body, spec.mounts, secret_name(body)))
        secret = take_secrets(body, secret_variables, files)
        if secret is not None:  # first: no pod of the run may start before it exists
            create_secret(self.cluster, target.namespace, secret)
        if kind in KUBEFLOW or kind in OPERATORS:
            self.rediscovery.ask(manifests[0].plural)
        try:
            main = self.cluster.create(manifests[0].plural, target.namespace, body)
        except Refused:
            if secret is not None:
                delete_secret(self.cluster, target.namespace, secret)
            raise
        try:
            if secret is not None:
                own_secret(self.cluster, target.namespace, secret, main)
            for extra in manifests[1:]:
                # A run's Service goes with its Deployment when the garbage collector deletes it.
                owner = {
                    "apiVersion": main.get("apiVersion", "apps/v1"),
                    "kind": main.get("kind", "Deployment"),
                    "name": main["metadata"]["name"],
                    "uid": main["metadata"]["uid"],
                    "controller": True,
                }
                extra.body["metadata"]["ownerReferences"] = [owner]
                self.cluster.create(extra.plural, target.namespace, extra.body)
        except Refused:
            # All or nothing: a Deployment whose Service was refused would serve no one, forever.
            try:
                self.cluster.delete(manifests[0].plural, target.namespace, manifests[0].name)
            except Exception:  # the refusal is the news; a stop or the next agent deletes it
                log.warning("could not delete %s after a refusal", manifests[0].name, exc_info=True)
            if secret is not None:  # one not owned yet outlives its object
                try:
                    delete_secret(self.cluster, target.namespace, secret)
                except Exception:
                    log.warning("could not delete the Secret of %s", manifests[0].name)
            raise
        return workload(spec, target).external_id

    def server_version(self) -> str:
        """The API server's gitVersion (`v1.20.2`), asked once; '' when it will not say."""
        with self._lock:
            if self._server_version is None:
                self._server_version = self.cluster.server_version()
            return self._server_version

    def cancel(self, external_id: str) -> None:
        try:
            where = Workload.parse(external_id)
        except ValueError:
            log.warning("not stopping %r: no run of this runner has such an id", external_id)
            return
        if where.plural not in OWNERS:
            self.rediscovery.ask(where.plural)
        found = self.cluster.read(where.plural, where.namespace, where.name)
        if found is None or terminal(RunView(where.plural, found)) is not None:
            return
        # Marked first, so that watchers tell a stop by Axon from a deletion by someone else.
        marked = self.cluster.annotate(
            where.plural, where.namespace, where.name, {STOP_REQUESTED: "true"}
        )
        if marked:
            self.cluster.delete(where.plural, where.namespace, where.name)
        if where.plural == "deployments":
            self.cluster.delete("services", where.namespace, where.name)
        with self._lock:
            self._stopped[external_id] = None
            while len(self._stopped) > REMEMBER_STOPS:
                self._stopped.popitem(last=False)

    def recorded(self, external_id: str) -> None:
        """The run's end and logs are recorded: delete its objects, now or after its `ttl`."""
        try:
            where = Workload.parse(external_id)
        except ValueError:
            return
        # A live observer saw the object end (or go): it need not be asked for again.
        sighting = self.last_seen.get(external_id)
        if sighting is not None:
            found = sighting.owner
        else:
            found = self.cluster.read(where.plural, where.namespace, where.name)
        if found is not None:
            self.reaper.at(delete_after(where.plural, found, _now()), external_id)

    def _delete_recorded(self, external_id: str) -> None:
        where = Workload.parse(external_id)
        self.cluster.delete(where.plural, where.namespace, where.name)
        if where.plural == "deployments":
            self.cluster.delete("services", where.namespace, where.name)

    def has_capacity(self, queue_name: str | None) -> bool:
        """Whether the queue may take one more run now (always, without a concurrency limit)."""
        target = self.queue_for(queue_name)
        return target.concurrency is None or self.active_runs(target) < target.concurrency

    def queue_limited(self, queue_name: str | None) -> bool:
        return self.queue_for(queue_name).concurrency is not None

    def active_runs(self, target: Queue) -> int:
        """How many of the queue's runs are on the cluster and not ended."""
        selector = f"{SELECTOR},{QUEUE}={label_value(target.name)}"
        active = 0
        for plural in self._owner_plurals():
            for item in self._list_owners(plural, target.namespace, selector):
                active += terminal(RunView(plural, item)) is None
        return active

    def known_ids(self) -> set[str]:
        """The external ids of every run whose main object is on the cluster now."""
        found: set[str] = set()
        for namespace in self._namespaces():
            for plural in self._owner_plurals():
                for item in self._list_owners(plural, namespace, SELECTOR):
                    found.add(Workload(namespace, plural, item["metadata"]["name"]).external_id)
        return found

    # -- observing ---------------------------------------------------------------------------

    def observe(self, stop: threading.Event | None = None) -> Iterator[Observation]:
        yield from observer.observe(
            self.configuration,
            self._resources,
            self.watch_timeout,
            self.rediscovery,
            self.last_seen,
            self._stopped_ids,
            stop or threading.Event(),
        )

    def _stopped_ids(self) -> list[str]:
        """The runs this runner stopped that it still remembers."""
        with self._lock:
            return list(self._stopped)

    # -- logs and events ---------------------------------------------------------------------

    def logs(self, external_id: str) -> str:
        return read_logs(self.cluster, Workload.parse(external_id), self.last_seen)

    def follow_logs(self, external_id: str, stop: threading.Event | None = None) -> Iterator[str]:
        """The run's lines as they are written, until it has ended (or `stop` is set)."""
        workload, stop = Workload.parse(external_id), stop or threading.Event()
        return follow(self.cluster, workload, stop, self.last_seen)

    def events(self, external_id: str) -> list[ClusterEvent]:
        """Recent Kubernetes events of the run's object and pods: why it is pending."""
        return read_events(self.cluster, Workload.parse(external_id), self.last_seen)

    def open_service(self, external_id: str, request: ServiceRequest) -> ServiceResponse:
        """A request for a service run, through the API server's service proxy."""
        return open_service(self.api_client, Workload.parse(external_id), request)

    # -- where to look -----------------------------------------------------------------------

    def _namespaces(self) -> list[str]:
        return sorted({self.namespace, *(q.namespace for q in self.queues.values())})

    def _owner_plurals(self) -> list[str]:
        kubeflow = [f.plural for f in KUBEFLOW.values() if self.kubeflow]
        others = [o.plural for o in OPERATORS.values() if o.name in self.operators]
        return [*OWNERS, *kubeflow, *others]

    def _resources(self, cluster: Cluster) -> list[Resource]:
        resources = []
        for namespace in self._namespaces():
            for plural in ("pods", *self._owner_plurals()):
                function, args = cluster.list_call(plural, namespace)
                optional = plural not in ("pods", *OWNERS)
                resources.append(Resource(plural, namespace, function, args, optional))
        return resources

    def _list_owners(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        try:
            found = self.cluster.list(plural, namespace, label_selector=selector)
        except ApiException as exc:
            if plural not in OWNERS and exc.status in (403, 404):
                return []  # an operator's kind this cluster lacks, or the role may not read
            where = f"{plural} in namespace {namespace}"
            raise refusal(f"kubernetes refused to list {where}", exc) from None
        return list(found.get("items") or [])


def _now() -> datetime:
    return datetime.now(UTC)
