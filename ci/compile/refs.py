"""Find an operation's component: inline, dagRef, pathRef, hubRef or urlRef.

- pathRef: a file relative to the operation's file. With `root_dir` (the API and runs: the
  specs directory, AXON_SPECS_DIR) it must stay inside that directory: an absolute path, or
  one whose `..` or symlinks lead out, is refused with one message whether or not the target
  exists. A document that is not a file (a request body, a run's stored spec) has no
  directory of its own: there `base_dir` is the specs directory, and with none configured a
  pathRef is refused.
- hubRef: `name`, `name:version` or `owner/name:version`, read from the component hub directory
  as `<hub_dir>/[owner/]name/<version>.yaml` (`.yml`, `.json`), version `latest` by default;
  `<hub_dir>/[owner/]name.yaml` also serves `latest`. The built-in hub (`ci/compile/hub`:
  `tensorboard`, `notebook`) answers what the configured one lacks, and with none configured.
- dagRef: a component of the enclosing dag, by name.
- urlRef: fetched over http(s) only when `allow_url_refs` is set, because a URL named in a
  spec makes the server fetch whatever the author chooses (an SSRF risk). The fetch passes the
  outbound URL policy (notifiers.urls): a host inside the network is refused unless private
  URLs are allowed, each redirect is judged the same way, the connection goes to the address
  that was judged, and the body is capped at the spec size limit within URL_TIMEOUT seconds.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

from notifiers import urls
from notifiers.base import PermanentError, TransientError
from schemas.errors import SpecError, SpecErrors
from schemas.spec import V1Component, V1Operation, load_component
from schemas.spec_dag import V1Dag
from schemas.spec_io import ref_value_parts
from schemas.spec_load import located
from schemas.spec_source import MAX_BYTES, Path

if TYPE_CHECKING:
    from ci.config import Settings

Fetch = Callable[[str], bytes]
HUB_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][-\w]*(?:/[A-Za-z0-9][-\w]*)?)(?::(?P<version>[\w][-\w.]*))?$"
)
EXTENSIONS = (".yaml", ".yml", ".json")
# Components every server has (`tensorboard`, `notebook`), after the configured hub's own.
BUILT_IN_HUB = FilePath(__file__).resolve().parent / "hub"
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


def ref_options(settings: Settings) -> dict[str, Any]:
    """How the server follows references (the API's check and runs): pathRef inside the specs
    directory only, urlRef through the outbound URL policy."""
    root = settings.specs_dir or None
    fetch = partial(fetch_url, allow_private=settings.allow_private_urls)
    return {
        "hub_dir": settings.hub_dir or None,
        "allow_url_refs": settings.allow_url_refs,
        "base_dir": root,
        "root_dir": root,
        "fetch": fetch,
    }


def _directory_of(op: V1Operation) -> str:
    filename = op.source.filename
    if filename.startswith("<"):
        raise RefError(
            f"a pathRef is read relative to its file, and {filename} is not a file; here it "
            "needs a specs directory (AXON_SPECS_DIR), and none is configured"
        )
    return str(FilePath(filename).resolve().parent)


def _from_path(ref: str, base_dir: str, root_dir: str | None) -> tuple[bytes, str]:
    if root_dir is None:  # `axon check -f`: the user's own files, wherever they point
        return _read_file(FilePath(base_dir) / ref, ref), ref
    root = FilePath(root_dir).resolve()
    # The same answer whether or not the target exists: it must not tell what is outside.
    outside = RefError(f"{ref!r} leads outside the specs directory")
    if "\\" in ref or "\x00" in ref or FilePath(ref).is_absolute():
        raise outside
    target = (FilePath(base_dir) / ref).resolve()
    if not target.is_relative_to(root):
        raise outside
    return _read_file(target, ref, confined=True), ref


def _read_file(target: FilePath, ref: str, confined: bool = False) -> bytes:
    where = "in the specs directory" if confined else "relative to the operation's file"
    # A confined target was resolved: a symlink there now was put in after the check, and a
    # FIFO would hold the request forever.
    flags = os.O_RDONLY | (os.O_NOFOLLOW | os.O_NONBLOCK if confined else 0)
    try:
        with os.fdopen(os.open(target, flags), "rb") as handle:
            if confined and not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise RefError(f"{ref!r} is not a file")
            return handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RefError(f"no file {ref!r} {where}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise RefError(f"cannot read {ref!r}: {reason}") from None


def _from_hub(ref: str, hub_dir: str | None) -> tuple[bytes, str]:
    match = HUB_REF.match(ref)
    if match is None:
        if not hub_dir:
            raise RefError("no component hub is configured, so hubRef cannot be followed")
        expected = "name, name:version or owner/name:version"
        raise RefError(f"{ref!r} is not a hub reference: expected {expected}")
    name, version = match["name"], match["version"] or "latest"
    # The configured hub first, so a team's own `tensorboard` replaces the built-in one.
    for root in [FilePath(hub_dir).resolve()] if hub_dir else []:
        found = _hub_file(root, name, version)
        if found is not None:
            return _read_file(found, ref), f"{name}:{version}"
    found = _hub_file(BUILT_IN_HUB, name, version)
    if found is not None:
        return _read_file(found, ref), f"{name}:{version}"
    if not hub_dir:
        raise RefError("no component hub is configured, so hubRef cannot be followed")
    raise RefError(f"the hub has no component {name}:{version}")


def _hub_file(root: FilePath, name: str, version: str) -> FilePath | None:
    candidates = [root / name / f"{version}{ext}" for ext in EXTENSIONS]
    if version == "latest":
        candidates += [root / f"{name}{ext}" for ext in EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file() and candidate.resolve().is_relative_to(root):
            return candidate
    return None


def fetch_url(url: str, *, allow_private: bool = False) -> bytes:
    """The body at an http(s) URL under the outbound URL policy, at most the spec size limit
    (plus one byte, to notice)."""
    try:
        return urls.fetch(
            url,
            what=f"urlRef {url}",
            allow_private=allow_private,
            max_bytes=MAX_BYTES,
            timeout=URL_TIMEOUT,
        )
    except (PermanentError, TransientError) as exc:
        raise RefError(str(exc)) from None


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
