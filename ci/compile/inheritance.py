"""What a dag passes on to its ops: its `environment`, `connections` and `volumes`.

Polyaxon's V1Dag documents each of them as "passed to all operations" of the dag. Axon passes
them on as part of each op's runPatch, under the op's own runPatch: the op's patchStrategy
decides how they meet the op's component (by default, `post_merge`, the dag's environment keys
win over the component's and its connections and volumes are added to the component's), and
what the op's own runPatch says wins over the dag (a volume of the same name replaces the
dag's). A distributed op gets them in every replica
(as a runPatch of replica fields does); a nested dag passes them on to its own ops in turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci.compile.patching import patch

PASSED_ON = ("environment", "connections", "volumes")


def dag_settings(dag: Mapping[str, Any]) -> dict[str, Any]:
    """The settings `dag` (a dag run as plain data, camelCase) passes on to each of its ops."""
    return {key: dag[key] for key in PASSED_ON if dag.get(key)}


def with_dag_settings(op: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """`op` (a dag op as plain data) with `settings` (`dag_settings`) in its runPatch, under
    what its own runPatch says."""
    if not settings:
        return dict(op)
    own = op.get("runPatch") or {}
    given = dict(settings)
    # A volume is known by its name: the op's own replaces the dag's of the same name.
    named = {v.get("name") for v in own.get("volumes") or () if isinstance(v, Mapping)}
    if named and given.get("volumes"):
        given["volumes"] = [v for v in given["volumes"] if v.get("name") not in named]
    return {**op, "runPatch": patch(given, own, "post_merge")}
