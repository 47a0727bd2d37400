"""Finding an operation's component: pathRef, hubRef, dagRef and urlRef, safely."""

from __future__ import annotations

import http.server
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from ci.compile.compiler import compile_operation
from ci.compile.refs import RefError, fetch_url, read_ref, ref_options, resolve_component
from ci.config import Settings
from notifiers import urls
from notifiers.base import TransientError
from schemas.errors import SpecErrors
from schemas.spec import load_operation
from schemas.spec_source import MAX_BYTES
from tests.ci.test_compiler import GLOBALS, OPERATION, compile_error, push
from tests.notifiers.test_urls import connections_made

SPECS = Path(__file__).parents[1] / "fixtures" / "specs"
HUB = str(SPECS / "hub")
COMPONENT = (SPECS / "components" / "trainer.yaml").read_bytes()


def op_with(ref: str, filename: str = "<spec>"):
    return load_operation(f"version: 1.1\nkind: operation\n{ref}\n", filename)


def ref_error(op, **options) -> tuple[str, str, int | None]:
    with pytest.raises(SpecErrors) as caught:
        resolve_component(op, **options)
    [error] = caught.value.errors
    return error.path, error.reason, error.line


def test_a_path_ref_is_read_relative_to_the_operations_file():
    op = op_with("pathRef: ../components/trainer.yaml", str(SPECS / "valid" / "x.yaml"))

    component = resolve_component(op)

    assert component.name == "trainer"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    """A specs directory holding a component, beside files and links that lead out of it."""
    root = tmp_path / "specs"
    (root / "team").mkdir(parents=True)
    (root / "team" / "trainer.yaml").write_bytes(COMPONENT)
    (tmp_path / "outside.yaml").write_bytes(COMPONENT)
    (root / "out.yaml").symlink_to(tmp_path / "outside.yaml")
    (root / "nowhere.yaml").symlink_to(tmp_path / "missing.yaml")
    (root / "up").symlink_to(tmp_path)
    (root / "same.yaml").symlink_to(root / "team" / "trainer.yaml")
    return root


def confined(root: Path) -> dict[str, str]:
    """As the API and runs follow references: a stored spec has no file of its own."""
    return {"base_dir": str(root), "root_dir": str(root)}


@pytest.mark.parametrize(
    "ref",
    [
        "../outside.yaml",  # exists
        "../missing.yaml",  # does not
        "team/../../outside.yaml",
        "/etc/passwd",
        "/etc/no-such-file",
        "out.yaml",  # a symlink to a file outside
        "nowhere.yaml",  # a symlink to nothing outside
        "up/outside.yaml",  # a symlinked directory
        "up/missing.yaml",
        "..\\outside.yaml",
    ],
)
def test_a_path_ref_leaving_the_specs_directory_is_refused_alike_whether_or_not_it_exists(
    specs, ref
):
    op = op_with(f"pathRef: {json.dumps(ref)}")

    path, reason, line = ref_error(op, **confined(specs))

    assert (path, line) == ("pathRef", 3)
    assert reason == f"{ref!r} leads outside the specs directory"


@pytest.mark.parametrize("ref", ["team/trainer.yaml", "team/../team/trainer.yaml", "same.yaml"])
def test_a_path_ref_inside_the_specs_directory_is_read(specs, ref):
    assert resolve_component(op_with(f"pathRef: {ref}"), **confined(specs)).name == "trainer"


def test_a_path_ref_of_a_file_in_the_specs_directory_stays_relative_to_that_file(specs):
    op = op_with("pathRef: ../../outside.yaml", str(specs / "team" / "op.yaml"))

    reason = ref_error(op, root_dir=str(specs))[1]

    assert reason == "'../../outside.yaml' leads outside the specs directory"


def test_a_path_ref_of_an_unnamed_source_needs_a_specs_directory():
    assert ref_error(op_with("pathRef: a.yaml"))[1] == (
        "a pathRef is read relative to its file, and <spec> is not a file; here it needs a "
        "specs directory (AXON_SPECS_DIR), and none is configured"
    )


def by_path(ref: str) -> dict[str, object]:
    params = {"epochs": {"value": 1}}
    return {"version": 1.1, "kind": "operation", "name": "train", "pathRef": ref, "params": params}


def test_a_run_reads_a_path_ref_only_inside_the_specs_directory(axon, rt, start, specs):
    rt.settings = rt.settings.model_copy(update={"specs_dir": str(specs)})
    axon.create_project()
    axon.subscribe(name="inside", operation=by_path("team/trainer.yaml"))
    axon.subscribe(name="outside", operation=by_path("../outside.yaml"))

    run_ids = axon.push()
    for run_id in run_ids:
        start(run_id)

    runs = {run["subscription"]: run for run in map(axon.run, run_ids)}
    assert "compiled" in [c["status"] for c in runs["inside"]["conditions"]]
    failed = runs["outside"]["conditions"][-1]
    assert (runs["outside"]["status"], failed["reason"]) == ("failed", "CompilationError")
    assert "'../outside.yaml' leads outside the specs directory" in failed["message"]


def test_without_a_specs_directory_a_run_refuses_every_path_ref(axon, start, specs):
    axon.create_project()
    axon.subscribe(operation=by_path(str(specs / "team" / "trainer.yaml")))

    [run_id] = axon.push()
    start(run_id)

    run = axon.run(run_id)
    assert (run["status"], run["conditions"][-1]["reason"]) == ("failed", "CompilationError")
    assert "none is configured" in run["conditions"][-1]["message"]


@pytest.mark.parametrize(
    ("ref", "name"),
    [("trainer:v1", "trainer"), ("acme/notify", "notify"), ("acme/notify:latest", "notify")],
)
def test_a_hub_ref_is_read_from_the_hub_directory(ref, name):
    assert resolve_component(op_with(f"hubRef: {ref}"), hub_dir=HUB).name == name


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("trainer:v9", "the hub has no component trainer:v9"),
        (
            "'../secrets:v1'",
            "'../secrets:v1' is not a hub reference: expected name, name:version or "
            "owner/name:version",
        ),
    ],
)
def test_a_hub_ref_names_what_it_cannot_find(ref, reason):
    assert ref_error(op_with(f"hubRef: {ref}"), hub_dir=HUB)[1] == reason


def test_a_hub_ref_needs_a_hub():
    assert ref_error(op_with("hubRef: trainer:v1"))[1] == (
        "no component hub is configured, so hubRef cannot be followed"
    )


def test_a_dag_ref_outside_a_dag_is_refused():
    assert ref_error(op_with("dagRef: step")) == (
        "dagRef",
        "a dagRef names a component of the enclosing dag; there is no dag here",
        3,
    )


def test_a_url_ref_is_off_unless_allowed():
    _, reason, _ = ref_error(op_with("urlRef: http://169.254.169.254/latest/meta-data"))

    assert reason.startswith("urlRef is turned off")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/trainer.yaml":
            body = COMPONENT
        elif self.path == "/huge.yaml":
            body = b"#" * (MAX_BYTES + 10)
        elif self.path.startswith("/to/"):  # /to/<where>: a redirect there
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to/"))
            self.end_headers()
            return
        else:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


STAND_IN = ipaddress.ip_address("127.0.0.2")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A component host on 127.0.0.2, which `public_stand_in` lets pass as a public address."""
    httpd = http.server.ThreadingHTTPServer((str(STAND_IN), 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://{STAND_IN}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def public_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.2 counts as an internet address; every other address is judged as usual."""
    judge = urls.non_public
    monkeypatch.setattr(
        urls, "non_public", lambda address: "" if address == STAND_IN else judge(address)
    )


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0), backlog=8) as sock:
        yield sock


def url_ref_reason(url: str) -> str:
    return ref_error(op_with(f"urlRef: {url}"), allow_url_refs=True)[1]


def test_an_allowed_url_ref_is_fetched(server, public_stand_in):
    op = op_with(f"urlRef: {server}/trainer.yaml")

    assert resolve_component(op, allow_url_refs=True).name == "trainer"


def test_a_url_ref_inside_the_network_is_refused_unless_private_urls_are_allowed(server):
    op = op_with(f"urlRef: {server}/trainer.yaml")
    private = partial(fetch_url, allow_private=True)

    assert url_ref_reason(f"{server}/trainer.yaml").endswith(
        "refused: host '127.0.0.2' resolves to 127.0.0.2, a loopback address; targets inside "
        "the network need the allow_private setting"
    )
    assert resolve_component(op, allow_url_refs=True, fetch=private).name == "trainer"


def test_a_url_ref_redirected_to_a_loopback_address_is_refused_before_connecting(
    server, public_stand_in, listener
):
    inside = f"http://127.0.0.1:{listener.getsockname()[1]}/trainer.yaml"

    reason = url_ref_reason(f"{server}/to/{inside}")

    assert reason.endswith(
        "resolves to 127.0.0.1, a loopback address; targets inside the "
        "network need the allow_private setting"
    )
    assert connections_made(listener) == 0


def test_a_url_ref_redirected_through_a_backslash_url_is_refused(server, public_stand_in, listener):
    hidden = f"http://127.0.0.1:{listener.getsockname()[1]}\\@1.1.1.1/trainer.yaml"

    assert "backslash" in url_ref_reason(f"{server}/to/{hidden}")
    assert connections_made(listener) == 0


def test_the_server_follows_url_refs_under_its_settings(server, public_stand_in):
    settings = Settings(allow_url_refs=True)
    op = op_with(f"urlRef: {server}/to/{server}/trainer.yaml")

    assert resolve_component(op, **ref_options(settings)).name == "trainer"
    loopback = op_with(f"urlRef: {server}/to/http://127.0.0.1:9/trainer.yaml")
    assert "a loopback address" in ref_error(loopback, **ref_options(settings))[1]


def test_a_url_ref_that_never_answers_times_out(listener):
    port = listener.getsockname()[1]

    with pytest.raises(TransientError, match="no answer in time"):
        urls.fetch(
            f"http://127.0.0.1:{port}/",
            what="urlRef",
            allow_private=True,
            max_bytes=10,
            timeout=0.3,
        )


def test_a_url_ref_reports_an_http_error(server, public_stand_in):
    assert url_ref_reason(f"{server}/nothing") == f"urlRef {server}/nothing: answered 404 Not Found"


def test_a_redirect_to_another_scheme_is_refused(server, public_stand_in):
    with pytest.raises(RefError, match="only http and https URLs are allowed, not 'ftp'"):
        fetch_url(f"{server}/to/ftp://files.invalid/component.yaml")


def test_an_oversized_body_is_cut_and_refused(server, public_stand_in):
    reason = url_ref_reason(f"{server}/huge.yaml")

    size = f"document is {MAX_BYTES + 1} bytes; the limit is {MAX_BYTES}"
    assert reason == f"in {server}/huge.yaml:1:1: <root>: {size}"


def test_only_http_urls_are_fetched():
    with pytest.raises(RefError, match="only http and https URLs are allowed, not 'file'"):
        fetch_url("file:///etc/passwd")


def test_a_ref_param_reads_what_the_run_produced():
    produced = {"outputs": {"loss": 0.1}, "inputs": {"lr": 0.5}, "artifacts": {"m": {"path": "/m"}}}

    assert read_ref(produced, "outputs.loss") == 0.1
    assert read_ref(produced, "{{ inputs.lr }}") == 0.5
    assert read_ref(produced, "io") == {"lr": 0.5, "loss": 0.1}
    assert read_ref(produced, "artifacts.m.path") == "/m"
    with pytest.raises(RefError, match="outputs has no 'acc'"):
        read_ref(produced, "outputs.acc")


def test_a_component_reference_needs_its_hub():
    op = load_operation("version: 1.1\nkind: operation\nhubRef: trainer:v1\n")

    with pytest.raises(SpecErrors) as caught:
        compile_operation(op, context={"event": push().context()}, globals_={})

    [error] = caught.value.errors
    assert (error.path, error.line, error.column) == ("hubRef", 3, 1)
    assert error.reason == "no component hub is configured, so hubRef cannot be followed"


def test_a_hub_component_is_compiled_with_the_operations_params():
    op = load_operation("version: 1.1\nkind: operation\nhubRef: trainer:v1\nparams: {lr: 0.3}\n")

    run = compile_operation(op, context={}, globals_={}, hub_dir=str(SPECS / "hub"))

    assert (run.image, run.command) == ("ghcr.io/acme/trainer:1", ["train", "--lr=0.3"])


def test_a_param_reference_waits_for_its_run():
    error = compile_error(
        OPERATION.replace("lr: 0.01", "lr: {ref: ops.upstream, value: outputs.lr}")
    )

    assert (error.path, error.line) == ("params.lr.ref", 6)
    assert error.reason == "'ops.upstream' is only known once its run has finished"


def test_a_param_reference_reads_what_the_upstream_run_produced():
    op = load_operation(OPERATION.replace("lr: 0.01", "lr: {ref: ops.upstream, value: outputs.lr}"))
    refs = {"ops.upstream": {"outputs": {"lr": "0.25"}}}

    run = compile_operation(op, context={"event": push().context()}, globals_=GLOBALS, refs=refs)

    assert run.inputs["lr"] == 0.25
