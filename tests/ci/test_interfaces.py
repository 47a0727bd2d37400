"""The core uses runners and notifiers only through what their base classes declare."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from notifiers.base import Notifier
from runners.base import Runner

CI = Path(__file__).resolve().parents[2] / "ci"
# The names the core gives a plugin, and the calls that hand one out (`rt.runner(name)`).
PLUGINS = {"runner": Runner, "notifier": Notifier}
FACTORIES = {("runners", "get"): Runner, ("runners", "load"): Runner}
FACTORIES |= {("notifiers", "get"): Notifier, ("notifiers", "load"): Notifier}


def sources() -> list[Path]:
    return sorted(p for p in CI.rglob("*.py") if "migrations" not in p.parts)


def declared(kind: type) -> set[str]:
    return {
        name for cls in kind.__mro__ for name in (*vars(cls), *vars(cls).get("__annotations__", {}))
    }


def capabilities() -> set[str]:
    return {name for kind in PLUGINS.values() for name in declared(kind) if name[0] != "_"}


def plugin_of(node: ast.expr) -> type | None:
    """The plugin kind `node` evaluates to: `runner`, `self.runner`, `rt.runner(name)`, …"""
    if isinstance(node, ast.Name):
        return PLUGINS.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        # `self.runner` and `item.notifier` hold one; `run.runner` is only its name.
        return PLUGINS.get(node.attr) if node.value.id in ("self", "item") else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        if isinstance(owner, ast.Name) and (owner.id, node.func.attr) in FACTORIES:
            return FACTORIES[owner.id, node.func.attr]
        if isinstance(owner, ast.Name) and owner.id in ("rt", "runtime", "self"):
            return PLUGINS.get(node.func.attr)
    return None


def probes(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """getattr/hasattr on a plugin, or naming one of the plugins' capabilities."""
    names = capabilities()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in ("getattr", "hasattr") or len(node.args) < 2:
            continue
        subject, attr = node.args[0], node.args[1]
        named = isinstance(attr, ast.Constant) and attr.value in names
        if plugin_of(subject) is not None or named:
            yield node.lineno, ast.unparse(node)


def uses(tree: ast.AST) -> Iterator[tuple[int, type, str]]:
    """Every attribute the code reads from a runner or a notifier."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (kind := plugin_of(node.value)) is not None:
            yield node.lineno, kind, node.attr


def test_the_core_never_probes_a_runner_or_notifier_for_a_capability() -> None:
    found = [
        f"{path.relative_to(CI.parent)}:{line}: {text}"
        for path in sources()
        for line, text in probes(ast.parse(path.read_text()))
    ]
    assert found == [], "declare the capability on the plugin's base class and call it"


def test_every_capability_the_core_uses_on_a_runner_or_notifier_is_declared_on_its_base() -> None:
    used = [
        (f"{path.relative_to(CI.parent)}:{line}", kind, attr)
        for path in sources()
        for line, kind, attr in uses(ast.parse(path.read_text()))
    ]
    missing = [
        f"{where}: {kind.__name__}.{attr}"
        for where, kind, attr in used
        if attr not in declared(kind)
    ]
    assert missing == []
    # The walk must see the core's calls, or it would pass on any tree.
    on_runners = {attr for _, kind, attr in used if kind is Runner}
    optional = {"has_capacity", "queue_limited", "known_ids", "follow_logs", "events", "close"}
    assert optional | {"submit", "cancel", "observe", "logs"} <= on_runners
