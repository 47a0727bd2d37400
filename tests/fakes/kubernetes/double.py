"""`KubernetesDouble`: the API server and the simulated cluster behind it, for a test's `with`.

with KubernetesDouble() as k8s:
    k8s.script("train", PodScript(exit_code=1), PodScript(logs=["epoch 1", "done"]))
    api = kubernetes.client.BatchV1Api(kubernetes.client.ApiClient(k8s.configuration()))
    api.create_namespaced_job("default", job)   # the first pod fails, its replacement passes
    k8s.wait_for(lambda: k8s.job_finished("train"))
    assert k8s.calls[("create", "jobs")] == 1
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_validate
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.fakes.kubernetes.clock import SimClock
from tests.fakes.kubernetes.cluster import Cluster
from tests.fakes.kubernetes.rbac import Denial
from tests.fakes.kubernetes.scripts import PodScript, Timing
from tests.fakes.kubernetes.server import ApiServer, Call, Fault
from tests.fakes.kubernetes.store import RESOURCES, Obj
from tests.fakes.kubernetes.validation import schema_causes


class _Connections:
    """The connections being answered, and their threads: to drop them, or to wait for them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[socket.socket, threading.Thread] = {}

    def sockets(self) -> list[socket.socket]:
        with self.lock:
            return list(self.open)

    def threads(self) -> list[threading.Thread]:
        with self.lock:
            return list(self.open.values())


class _Handler(WSGIRequestHandler):
    connections: _Connections  # set on the subclass each double makes

    # Tests read `calls` and `requests`; a log line per request would only bury pytest's output.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.connections.lock:
            self.connections.open[self.connection] = threading.current_thread()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.connections.lock:
                self.connections.open.pop(self.connection, None)


class KubernetesDouble:
    """A Kubernetes API server on 127.0.0.1 with a simulated cluster behind it.

    `speed`: simulated seconds per real second (None: a manual clock moved by `advance()`).
    `clock`: a SimClock of the test's own instead (its speed rules), shared with what else the
    test times (`Tracker(clock=clock.now)`), so one `advance()` moves them all.
    `timing`: the controllers' delays (compressed by default; `Timing.realistic()`).
    `watch_timeout`: how long a watch without timeoutSeconds stays open (a real server: 30–60
    min), so clients that reconnect get exercised. `bookmark_interval`: seconds between
    BOOKMARKs on a watch that asked for them (a real server: about a minute). Both, and a
    watch's timeoutSeconds, run on the simulated clock: at speed 10 a 1 s timeout takes 0.1 s.
    `kubeflow=False`: the training operator's CRDs are not installed until `install_kubeflow()`.
    """

    def __init__(
        self,
        *,
        speed: float | None = 1.0,
        timing: Timing | None = None,
        version: str | None = None,
        watch_timeout: float = 5.0,
        bookmark_interval: float = 1.0,
        default_script: PodScript | None = None,
        clock: SimClock | None = None,
        kubeflow: bool = True,
    ) -> None:
        self.version = version or kubernetes_validate.latest_version()
        self.clock = clock if clock is not None else SimClock(speed)
        self.cluster = Cluster(self.clock, timing or Timing(), self.version)
        if default_script is not None:
            self.cluster.scripts.default = default_script
        self.api = ApiServer(
            self.cluster,
            version=self.version,
            watch_timeout=watch_timeout,
            bookmark_interval=bookmark_interval,
        )
        self._httpd: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._connections = _Connections()
        if not kubeflow:
            self.api.absent_groups.add("kubeflow.org")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> KubernetesDouble:
        self.api.stopping.clear()
        handler = type("Handler", (_Handler,), {"connections": self._connections})
        httpd = make_server("127.0.0.1", 0, self.api, threaded=True, request_handler=handler)
        # A client hanging up mid-answer is normal here (kill_connections, Watch.stop()).
        httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="KubernetesDouble",
            daemon=True,
        )
        self._thread.start()
        self.cluster.scheduler.start()
        return self

    def stop(self) -> None:
        self.api.stopping.set()
        with self.cluster.store.cond:
            self.cluster.store.cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            # Streams end on `stopping`; wait for the threads still answering.
            deadline = time.monotonic() + 5
            for thread in self._connections.threads():
                thread.join(timeout=max(deadline - time.monotonic(), 0.01))
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.cluster.scheduler.stop()
        self._httpd = self._thread = None

    def __enter__(self) -> KubernetesDouble:
        return self.start()

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self.stop()
        if exc_type is None and self.errors:
            raise AssertionError(f"the simulated cluster failed: {self.errors[0]!r}") from (
                self.errors[0]
            )

    # -- connecting --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("KubernetesDouble is not started")
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def configuration(self) -> kubernetes.client.Configuration:
        """A client Configuration for this server (plain HTTP, no credentials)."""
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        return configuration

    def kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig for `config.load_kube_config(config_file=path)`; returns the path."""
        path = Path(path)
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: double\n"
            f"clusters:\n- name: double\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: double\n  user: {}\n"
            "contexts:\n- name: double\n  context:\n    cluster: double\n    user: double\n"
            "    namespace: default\n"
        )
        return path

    # -- scripting the cluster ---------------------------------------------------------------

    def script(self, target: str, *scripts: PodScript) -> None:
        """How the pods `target` names behave: a label selector (`app=x`, `k in (a,b)`) or a
        name (a Job's, a Deployment's, a PyTorchJob's or the pod's own). Each new pod or
        container restart takes the next script; the last one repeats. Newest wins."""
        with self.cluster.store.cond:
            self.cluster.scripts.add(target, scripts)

    @property
    def default_script(self) -> PodScript:
        return self.cluster.scripts.default

    @default_script.setter
    def default_script(self, script: PodScript) -> None:
        self.cluster.scripts.default = script

    def serve_service(
        self, name: str, port: int, local_port: int, namespace: str = "default"
    ) -> None:
        """Let the API server's service proxy reach Service `name`'s `port` at the loopback
        HTTP server on `local_port`, which stands for the Service's pods."""
        self.api.service_backends.ports[(namespace, name, port)] = local_port

    def install_kubeflow(self) -> None:
        """Apply the Kubeflow training operator's CRDs now: their kinds answer from here on."""
        with self.cluster.store.cond:
            self.api.absent_groups.discard("kubeflow.org")

    def advance(self, seconds: float = 0.0) -> None:
        """Move simulated time on (a manual clock runs everything that falls due)."""
        self.cluster.scheduler.advance(seconds)

    def compact(self) -> int:
        """Expire the watch history: any resourceVersion handed out so far now gets 410."""
        return self.cluster.store.compact()

    def fail_next(
        self,
        verb: str,
        resource: str,
        status: int = 500,
        *,
        times: int = 1,
        message: str = "injected failure",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` `verb` calls on `resource` ("jobs", "pods/log", "*") with an
        error Status (`retry_after` adds the header, as a 429 would)."""
        with self.cluster.store.cond:
            self.api.faults.append(Fault(verb, resource, status, times, message, retry_after))

    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> Denial:
        """Refuse `verb` ("*": all) on `resource` ("jobs", "services/proxy") in `namespace`
        (None: everywhere) as a real server's RBAC does, 403 Forbidden naming the agent's
        account, until `permit` lifts it; returns the denial."""
        denial = Denial(verb, resource, namespace)
        self.api.rbac.deny(denial)
        return denial

    def permit(self, denial: Denial) -> None:
        """Lift a denial of `forbid`, as a Role fixed on a live cluster does."""
        self.api.rbac.allow(denial)

    def slow_next(self, verb: str, resource: str, seconds: float, *, times: int = 1) -> None:
        """Hold the answer to the next `times` matching calls for `seconds` (real time), to
        exercise a client's `_request_timeout`."""
        with self.cluster.store.cond:
            self.api.faults.append(Fault(verb, resource, None, times, delay=seconds))

    def kill_connections(self) -> int:
        """Drop every open connection mid-answer (no final chunk), as a network failure does."""
        sockets = self._connections.sockets()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # Only now wake the streams: had they ended first, they would have closed cleanly.
        with self.cluster.store.cond:
            self.api.kills += 1
            self.cluster.store.cond.notify_all()
        return len(sockets)

    # -- reading -----------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        """API calls so far by (verb, resource): ("watch", "jobs"), ("get", "pods/log")…"""
        with self.cluster.store.cond:
            return Counter(self.api.calls)

    @property
    def requests(self) -> list[Call]:
        with self.cluster.store.cond:
            return list(self.api.requests)

    def reset_calls(self) -> None:
        with self.cluster.store.cond:
            self.api.calls.clear()
            self.api.requests.clear()

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised inside the simulated controllers (a bug of the double)."""
        return list(self.cluster.scheduler.errors)

    def get(self, plural: str, name: str, namespace: str = "default") -> Obj | None:
        """An object as stored (a copy), without an API call."""
        _known(plural)
        obj = self.cluster.store.get(plural, namespace, name)
        return copy.deepcopy(obj) if obj is not None else None

    def last_state(self, plural: str, name: str, namespace: str = "default") -> Obj | None:
        """The object as it was last stored, even once deleted (from the watch history)."""
        _known(plural)
        found = None
        for change in self.cluster.store.history():
            meta = change.obj["metadata"]
            if change.resource.plural == plural and (meta["namespace"], meta["name"]) == (
                namespace,
                name,
            ):
                found = change.obj
        return copy.deepcopy(found) if found is not None else None

    def objects(self, plural: str, namespace: str | None = None) -> list[Obj]:
        _known(plural)
        return copy.deepcopy(self.cluster.store.list(plural, namespace))

    def pods_of(self, owner: str, namespace: str = "default") -> list[Obj]:
        """The pods whose owner chain includes `owner` (a Job, Deployment or Kubeflow job)."""
        with self.cluster.store.cond:
            return [
                copy.deepcopy(pod)
                for pod in self.cluster.store.list("pods", namespace)
                if owner in self.cluster.owner_names(pod)[1:]
            ]

    def events_for(self, name: str, namespace: str = "default") -> list[Obj]:
        events = self.cluster.store.list("events", namespace)
        return [copy.deepcopy(e) for e in events if e["involvedObject"]["name"] == name]

    def logs(self, pod: str, container: str | None = None, namespace: str = "default") -> list[str]:
        """The lines the pod's (first) container wrote in its latest run."""
        with self.cluster.store.cond:
            found = self.cluster.store.get("pods", namespace, pod)
            if found is None:
                return []
            container = container or found["spec"]["containers"][0]["name"]
            buffers = self.cluster.kubelet.logs.get((namespace, pod, container), [])
            return [line for _, line in buffers[-1].lines] if buffers else []

    def condition(
        self, plural: str, name: str, kind: str, namespace: str = "default"
    ) -> str | None:
        """The status ("True"/"False") of a condition of the object, None when absent."""
        obj = self.cluster.store.get(plural, namespace, name)
        conditions = ((obj or {}).get("status") or {}).get("conditions") or []
        return next((c["status"] for c in conditions if c["type"] == kind), None)

    def job_finished(self, name: str, namespace: str = "default") -> bool:
        """Whether the Job has its terminal condition: Complete or Failed, "True"."""
        return any(
            self.condition("jobs", name, kind, namespace) == "True"
            for kind in ("Complete", "Failed")
        )

    def schema_problems(self) -> list[str]:
        """Every state the server has stored (history and now) that its strict schema refuses:
        a check of the double itself, and of what tests wrote through it."""
        with self.cluster.store.cond:
            states = [change.obj for change in self.cluster.store.history()]
            states += [obj for plural in RESOURCES for obj in self.cluster.store.list(plural)]
        problems = []
        for obj in states:
            for cause in schema_causes(obj, self.version):
                meta = obj["metadata"]
                where = f"{obj['kind']} {meta['name']} at {meta.get('resourceVersion')}"
                problems.append(f"{where}: {cause.text()}")
        return problems

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Block until `predicate()` is truthy (checked after changes); return its value.

        The predicate runs without the double's lock, so it may call the API.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"KubernetesDouble: waited {timeout:g}s for {predicate!r}")
            with self.cluster.store.cond:
                self.cluster.store.cond.wait(min(remaining, 0.02))


def _known(plural: str) -> None:
    if plural not in RESOURCES:
        raise KeyError(f"unknown resource {plural!r}; one of {sorted(RESOURCES)}")
