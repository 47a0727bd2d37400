"""Guards of ci/'s layout, read from the source with ast (nothing is imported).

The rules:
- The import graph of ci/ has no cycle. Imports inside functions count: an import moved into
  a function to dodge a cycle is still a cycle.
- No function imports a ci module, except the composition root (ci/wiring.py) and the `axon`
  command's functions (ci/cli/commands.py), which import what they run so that start-up
  stays fast. Everywhere else what a module needs is imported at its top, or passed in.
- The compile room (ci/compile/) is pure: neither it nor any ci module it imports, however
  indirectly, imports sqlalchemy, flask, celery or ci.store.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_IMPORTS_ALLOWED = {"ci.wiring", "ci.cli.commands"}
IMPURE = ("sqlalchemy", "flask", "celery", "ci.store")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / "ci").rglob("*.py"))}


def imports(name: str, path: Path) -> Iterator[tuple[str, bool, int]]:
    """(imported module, whether inside a function, line) for each import in the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool, int]]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function, child.lineno
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0]
                    base = f"{anchor}.{base}" if base else anchor
                for alias in child.names:
                    yield f"{base}.{alias.name}", in_function, child.lineno
                yield base, in_function, child.lineno
            yield from walk(child, inside)

    yield from walk(ast.parse(path.read_text(), str(path)), False)


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each ci module's ci modules imported anywhere in it (a name imported from a module
    that is not itself a module counts as the module)."""
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges[name] = {
            target for target, _, _ in imports(name, path) if target in modules and target != name
        }
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as its modules in order (first repeated last), or []."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str]:
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target in on_stack:
                return stack[stack.index(target) :] + [target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return []

    for start in sorted(edges):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def test_the_import_graph_of_ci_has_no_cycle():
    cycle = find_cycle(graph(sources()))
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_no_function_imports_a_ci_module_outside_the_composition_root_and_the_cli():
    found: dict[str, str] = {}  # where -> the longest name imported there
    for name, path in sources().items():
        if name in FUNCTION_IMPORTS_ALLOWED:
            continue
        for target, in_function, line in imports(name, path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if in_function and (target == "ci" or target.startswith("ci.")):
                found[where] = max(found.get(where, ""), target, key=len)
    assert found == {}, "\n".join(f"{where} imports {target}" for where, target in found.items())


def test_the_compile_room_imports_no_database_web_queue_or_store():
    modules = sources()
    edges = graph(modules)
    seen: dict[str, str] = {}  # module reached -> the module that imported it
    todo = [name for name in modules if name == "ci.compile" or name.startswith("ci.compile.")]
    for name in todo:
        seen.setdefault(name, "")
    found = []
    while todo:
        name = todo.pop()
        for target, _, line in imports(name, modules[name]):
            if any(target == bad or target.startswith(bad + ".") for bad in IMPURE):
                chain = [name]
                while seen[chain[-1]]:
                    chain.append(seen[chain[-1]])
                found.append(f"{' <- '.join(chain)} imports {target} (line {line})")
        for target in edges[name]:
            if target not in seen:
                seen[target] = name
                todo.append(target)
    assert found == [], "\n".join(sorted(set(found)))
