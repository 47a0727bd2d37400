"""Finding an operation's component: pathRef, hubRef, dagRef and urlRef, safely."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.compiler import compile_operation
from ci.refs import RefError, fetch_url, read_ref, resolve_component
from schemas.errors import SpecErrors
from schemas.spec import load_operation
from schemas.spec_source import MAX_BYTES
from tests.ci.test_compiler import GLOBALS, OPERATION, compile_error, push

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


def test_a_path_ref_may_not_leave_the_root_directory(tmp_path):
    op = op_with("pathRef: ../../../../etc/passwd", str(tmp_path / "op.yaml"))

    path, reason, line = ref_error(op, root_dir=str(tmp_path))

    assert (path, line) == ("pathRef", 3)
    assert reason.startswith("'../../../../etc/passwd' leads outside")


def test_a_path_ref_of_an_unnamed_source_cannot_be_followed():
    assert ref_error(op_with("pathRef: a.yaml"))[1] == (
        "a pathRef is relative to its file, and <spec> is not a file"
    )


def test_the_problems_of_a_referenced_file_are_reported_with_their_place(tmp_path):
    (tmp_path / "broken.yaml").write_text("version: 1.1\nkind: component\nrun: {kind: job}\n")
    op = op_with("pathRef: broken.yaml", str(tmp_path / "op.yaml"))

    path, reason, line = ref_error(op)

    assert (path, line) == ("pathRef", 3)
    assert reason == "in broken.yaml:3:1: run.container: field required"


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
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "ftp://files.invalid/component.yaml")
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


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_an_allowed_url_ref_is_fetched(server):
    op = op_with(f"urlRef: {server}/trainer.yaml")

    assert resolve_component(op, allow_url_refs=True).name == "trainer"


def test_a_url_ref_reports_an_http_error(server):
    _, reason, _ = ref_error(op_with(f"urlRef: {server}/nothing"), allow_url_refs=True)

    assert reason == f"fetching {server}/nothing answered 404 Not Found"


def test_a_redirect_to_another_scheme_is_refused(server):
    with pytest.raises(RefError, match="not http"):
        fetch_url(f"{server}/to-file")


def test_an_oversized_body_is_cut_and_refused(server):
    _, reason, _ = ref_error(op_with(f"urlRef: {server}/huge.yaml"), allow_url_refs=True)

    size = f"document is {MAX_BYTES + 1} bytes; the limit is {MAX_BYTES}"
    assert reason == f"in {server}/huge.yaml:1:1: <root>: {size}"


def test_only_http_urls_are_fetched():
    with pytest.raises(RefError, match="not an http"):
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
