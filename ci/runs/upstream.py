"""What a run reads from other runs when it compiles: its upstreams, its dag, its joins.

A dag's op reads each upstream op (`ref: ops.X`, `{{ ops.X.outputs.y }}`) and its dag (`ref:
dag`) as `refs`; a matrix's trial gets its own values and the refs of its matrix. A join's
params become lists: one value per run its query (ci.runs.query) matches. `conditions` are
rendered last, in the sandbox, with the op's params and the same refs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ci.compile.compiler import CompiledRun
from ci.compile.refs import RefError, read_ref
from ci.compile.templating import Renderer
from ci.runs import pipelines, query, query_terms
from ci.runtime import Runtime
from ci.store.models import Run
from schemas.errors import SpecErrors
from schemas.spec import V1Operation
from schemas.spec_io import V1Param
from schemas.spec_load import located


def compile_options(rt: Runtime, session: Session, run: Run) -> dict[str, Any]:
    """What `compile_operation` needs beyond the run's own spec: its upstreams' values as
    `refs` (`ops.X` and `dag`), and a trial's matrix values and iteration."""
    if run.parent_id is None:
        return {}
    meta = run.meta or {}
    kept = None if "matrix" in meta else pipelines.kept_meta(session, run.parent_id)
    if kept is not None:
        return _dag_refs(rt, session, run, kept)
    parent = pipelines.load_controller(session, run.parent_id)
    if parent is None:
        return {}
    if "matrix" in meta:
        return {
            "refs": pipelines.controller_meta(session, parent).get("refs") or {},
            "matrix_values": meta["matrix"],
            "iteration": meta.get("iteration"),
        }
    node = (pipelines.controller_meta(session, parent).get("graph") or {}).get(run.op_name) or {}
    names = {*node.get("up", ()), *node.get("events", {})}
    refs: dict[str, Any] = {"dag": produced(rt, parent)}
    if names:
        # Only the columns `produced` reads, as plain rows: a sink of 1,000 ops reads 1,000
        # upstreams, and neither their documents nor ORM objects.
        upstream = session.execute(
            select(Run.op_name, *PRODUCED).where(
                Run.parent_id == parent.id, Run.op_name.in_(sorted(names))
            )
        )
        refs.update({f"ops.{up.op_name}": produced(rt, up) for up in upstream})
    return {"refs": refs}


def _dag_refs(rt: Runtime, session: Session, run: Run, kept: dict[str, Any]) -> dict[str, Any]:
    """`compile_options` of a dag's op whose graph this process keeps: its dag and its
    upstreams read in one statement."""
    node = (kept.get("graph") or {}).get(run.op_name) or {}
    names = sorted({*node.get("up", ()), *node.get("events", {})})
    # Ops started together (launch.start_runs) share their dag and, in a fan-out, their
    # upstreams: read once per transaction. Their snapshot is what the advance that released
    # them judged; an upstream that is done never changes.
    read = session.info.get(_READ)
    if read is None or read[0] is not session.get_transaction():
        read = session.info[_READ] = (session.get_transaction(), {})
    known: dict[tuple[int | None, tuple[str, ...]], Any] = read[1]
    key = (run.parent_id, tuple(names))
    rows = known.get(key)
    if rows is None:
        mine = and_(Run.parent_id == run.parent_id, Run.op_name.in_(names))
        rows = known[key] = session.execute(
            select(Run.id, Run.op_name, *PRODUCED).where(or_(Run.id == run.parent_id, mine))
        ).all()
    dag = [row for row in rows if row.id == run.parent_id]
    if not dag:
        return {}
    refs: dict[str, Any] = {"dag": produced(rt, dag[0])}
    refs.update({f"ops.{up.op_name}": produced(rt, up) for up in rows if up.id != run.parent_id})
    return {"refs": refs}


_READ = "axon.dag_refs"  # session.info: (transaction, {(dag id, upstream names): rows})

# What `produced` reads of a run: a Run, or a row of these columns.
PRODUCED = (Run.uuid, Run.name, Run.status, Run.outputs, Run.inputs)


def produced(rt: Runtime, run: Any) -> dict[str, Any]:
    """What a `ref:` to `run` (a Run, or a row of PRODUCED) reads: its outputs, inputs,
    status, uuid, name, artifacts path."""
    # Joined as text, not Path by Path: a sink reads a thousand upstreams.
    run_dir = f"{Path(rt.settings.runs_dir)}/{run.uuid}"
    about = {
        "uuid": run.uuid,
        "name": run.name,
        "status": str(run.status),
        "artifacts_path": f"{run_dir}/artifacts",
        "run_artifacts_path": f"{run_dir}/artifacts",
        "run_outputs_path": f"{run_dir}/outputs",
    }
    return {
        "outputs": dict(run.outputs or {}),
        "inputs": dict(run.inputs or {}),
        **about,
        "globals": about,
    }


def with_joins(rt: Runtime, session: Session, run: Run, op: V1Operation) -> V1Operation:
    """`op` with each join's params filled: a list of the value each matched run has (in the
    join's order), read as a `ref:` param reads it (`outputs.loss`, `inputs.lr`, `uuid`,
    `globals.artifacts_path`). SpecErrors name a query that cannot be read, or a value a
    matched run lacks."""
    if not op.joins:
        return op
    params = dict(op.params or {})
    errors = []
    for index, join in enumerate(op.joins):
        try:
            statement = query.select_runs(
                session, run.project_id, join.query, join.limit, join.sort, join.offset
            )
        except query_terms.QueryError as exc:
            errors.append(located(("joins", index, "query"), str(exc), op.source))
            continue
        matched = [found for found in session.scalars(statement) if found.id != run.id]
        for name, param in (join.params or {}).items():
            values = []
            for found in matched:
                try:
                    values.append(read_ref(produced(rt, found), param.value))
                except RefError as exc:
                    where = ("joins", index, "params", name, "value")
                    errors.append(located(where, f"run {found.uuid}: {exc}", op.source))
                    break
            fields = param.model_dump(exclude_none=True, exclude={"value"})
            params[name] = V1Param(value=values, **fields)
    if errors:
        raise SpecErrors(errors)
    return op.model_copy(update={"params": params})


def condition_holds(op: V1Operation, compiled: CompiledRun, refs: Mapping[str, Any]) -> bool:
    """Whether `op`'s `conditions` render true, with its params by name (and `params.x`),
    its upstreams as `ops.X` and `dag`; SpecErrors if it fails to render or is not a bool."""
    if not op.conditions:
        return True
    renderer = Renderer(op)
    context: dict[str, Any] = {**compiled.params, "params": compiled.params}
    for ref, values in refs.items():
        kind, _, name = ref.partition(".")
        if kind == "dag":
            context["dag"] = values
        elif name:
            context.setdefault(kind, {})[name] = values
    text = op.conditions if "{{" in op.conditions else "{{ %s }}" % op.conditions  # noqa: UP031
    rendered = renderer.text(text, ("conditions",), context)
    if renderer.errors:
        raise SpecErrors(renderer.errors)
    value = rendered.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    reason = f"rendered {rendered.strip()!r}, which is neither true nor false"
    raise SpecErrors([located(("conditions",), reason, op.source)])
