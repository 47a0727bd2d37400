"""Find an operation's component: inline, dagRef, pathRef, hubRef or urlRef.

- pathRef: a file relative to the operation's file; with `root_dir`, it must stay inside it.
- hubRef: `name`, `name:version` or `owner/name:version`, read from the component hub directory
  as `<hub_dir>/[owner/]name/<version>.yaml` (`.yml`, `.json`), version `latest` by default;
  `<hub_dir>/[owner/]name.yaml` also serves `latest`.
- dagRef: a component of the enclosing dag, by name.
- urlRef: fetched over http(s) only when `allow_url_refs` is set, because a URL named in a
  spec makes the server fetch whatever the author chooses (an SSRF risk). Bodies are capped at
  the spec size limit and redirects to other schemes are refused.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlsplit

from schemas.errors import SpecError, SpecErrors
from schemas.spec import V1Component, V1Operation, load_component
from schemas.spec_dag import V1Dag
from schemas.spec_io import ref_value_parts
from schemas.spec_load import located
from schemas.spec_source import MAX_BYTES, Path

Fetch = Callable[[str], bytes]
HUB_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][-\w]*(?:/[A-Za-z0-9][-\w]*)?)(?::(?P<version>[\w][-\w.]*))?$"
)
EXTENSIONS = (".yaml", ".yml", ".json")
URL_TIMEOUT = 10.0


class RefError(Exception):
    """A reference that cannot be followed; the message says why."""


def resolve_component(
    op: V1Operation,
    *,
    at: Path = (),
    base_dir: str | None = None,
    hub_dir: str | None = None,
    allow_url_refs: bool = False,
    dag: V1Dag | None = None,
    root_dir: str | None = None,
    fetch: Fetch | None = None,
) -> V1Component:
    """The component `op` runs; SpecErrors name the reference (at `at` in op's document) and
    why it cannot be followed, or each problem of the referenced file."""
    if op.component is not None:
        return op.component
    key, ref = _reference(op)
    try:
        if key == "dagRef":
            return _from_dag(ref, dag)
        text, name = _read(key, ref, op, base_dir, hub_dir, allow_url_refs, root_dir, fetch)
    except RefError as exc:
        raise SpecErrors([located((*at, key), str(exc), op.source)]) from None
    try:
        return load_component(text, name)
    except SpecErrors as exc:
        problems = [_from_file(error, name, key, at, op) for error in exc.errors]
        raise SpecErrors(problems) from None


_FIELDS = {"dagRef": "dag_ref", "pathRef": "path_ref", "hubRef": "hub_ref", "urlRef": "url_ref"}


def _reference(op: V1Operation) -> tuple[str, str]:
    for key, field in _FIELDS.items():
        ref = getattr(op, field)
        if ref is not None:
            return key, ref
    raise SpecErrors([located(("component",), "the operation names no component", op.source)])


def _read(
    key: str,
    ref: str,
    op: V1Operation,
    base_dir: str | None,
    hub_dir: str | None,
    allow_url_refs: bool,
    root_dir: str | None,
    fetch: Fetch | None,
) -> tuple[bytes, str]:
    if key == "pathRef":
        return _from_path(ref, base_dir or _directory_of(op), root_dir)
    if key == "hubRef":
        return _from_hub(ref, hub_dir)
    if not allow_url_refs:
        raise RefError(
            "urlRef is turned off: a URL named in a spec is fetched only when the settings "
            "allow URL refs"
        )
    return (fetch or fetch_url)(ref), ref


def _from_dag(ref: str, dag: V1Dag | None) -> V1Component:
    if dag is None:
        raise RefError("a dagRef names a component of the enclosing dag; there is no dag here")
    component = dag.component_named(ref)
    if component is None:
        raise RefError(f"no component named {ref!r} in this dag")
    return component


def _directory_of(op: V1Operation) -> str:
    filename = op.source.filename
    if filename.startswith("<"):
        raise RefError(f"a pathRef is relative to its file, and {filename} is not a file")
    return str(FilePath(filename).resolve().parent)


def _from_path(ref: str, base_dir: str, root_dir: str | None) -> tuple[bytes, str]:
    target = (FilePath(base_dir) / ref).resolve()
    if root_dir is not None and not target.is_relative_to(FilePath(root_dir).resolve()):
        raise RefError(f"{ref!r} leads outside {root_dir}")
    return _read_file(target, ref), ref


def _read_file(target: FilePath, ref: str) -> bytes:
    try:
        with target.open("rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RefError(f"no file {ref!r} relative to the operation's file") from None
    except OSError as exc:
        raise RefError(f"cannot read {ref!r}: {exc.strerror or exc}") from None


def _from_hub(ref: str, hub_dir: str | None) -> tuple[bytes, str]:
    if not hub_dir:
        raise RefError("no component hub is configured, so hubRef cannot be followed")
    match = HUB_REF.match(ref)
    if match is None:
        expected = "name, name:version or owner/name:version"
        raise RefError(f"{ref!r} is not a hub reference: expected {expected}")
    name, version = match["name"], match["version"] or "latest"
    root = FilePath(hub_dir).resolve()
    candidates = [root / name / f"{version}{ext}" for ext in EXTENSIONS]
    if version == "latest":
        candidates += [root / f"{name}{ext}" for ext in EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return _read_file(candidate, ref), f"{name}:{version}"
    raise RefError(f"the hub has no component {name}:{version}")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if urlsplit(newurl).scheme not in ("http", "https"):
            fp.close()
            raise RefError(f"the URL redirects to {newurl!r}, which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_url(url: str) -> bytes:
    """The body at an http(s) URL, at most the spec size limit (plus one byte, to notice)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise RefError(f"{url!r} is not an http(s) URL")
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    try:
        with opener.open(url, timeout=URL_TIMEOUT) as response:
            body: bytes = response.read(MAX_BYTES + 1)
            return body
    except urllib.error.HTTPError as exc:
        exc.close()
        raise RefError(f"fetching {url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RefError(f"cannot fetch {url}: {reason}") from None


def _from_file(error: SpecError, name: str, key: str, at: Path, op: V1Operation) -> SpecError:
    place = f"{name}:{error.line}:{error.column}" if error.line else name
    reason = f"in {place}: {error.path or '<root>'}: {error.reason}"
    return located((*at, key), reason, op.source)


def read_ref(produced: Mapping[str, Any], value: Any) -> Any:
    """What a `ref:` param reads from the run it names: `outputs.loss` → produced["outputs"]
    ["loss"]; `io` is inputs and outputs together."""
    parts = ref_value_parts(str(value))
    if parts[0] == "io":
        return {**(produced.get("inputs") or {}), **(produced.get("outputs") or {})}
    found: Any = produced
    for depth, part in enumerate(parts):
        if not isinstance(found, Mapping) or part not in found:
            known = ", ".join(sorted(found)) if isinstance(found, Mapping) else "nothing"
            where = ".".join(parts[:depth]) or "the run"
            raise RefError(f"{where} has no {part!r} (it has: {known or 'nothing'})")
        found = found[part]
    return found
