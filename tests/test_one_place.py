"""Each check the folders share is written once: webhook signature comparison in
webhooks/signatures.py, "did you mean" in schemas/spelling.py, the Jinja sandbox in
schemas/sandbox.py; and no webhook provider borrows another provider's module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from webhooks.registry import providers

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ci", "webhooks", "triggers", "runners", "notifiers", "schemas")
JINJA_ENVIRONMENTS = frozenset(
    {
        "jinja2.Environment",
        "jinja2.environment.Environment",
        "jinja2.nativetypes.NativeEnvironment",
        "jinja2.sandbox.SandboxedEnvironment",
        "jinja2.sandbox.ImmutableSandboxedEnvironment",
    }
)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, and every `module.name` it imports from one."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def importers(wanted: set[str] | frozenset[str], *folders: str) -> list[str]:
    """The production modules under `folders` that import any of `wanted`."""
    return sorted(
        str(path.relative_to(ROOT))
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if imported(path) & wanted
    )


def test_only_the_signatures_module_computes_or_compares_webhook_digests():
    assert importers({"hmac", "hashlib"}, "webhooks") == ["webhooks/signatures.py"]


def test_only_the_spelling_module_suggests_a_name():
    assert importers({"difflib"}, *PACKAGES) == ["schemas/spelling.py"]


def test_only_the_sandbox_module_makes_a_jinja_environment():
    assert importers(JINJA_ENVIRONMENTS, *PACKAGES) == ["schemas/sandbox.py"]


def test_no_webhook_provider_imports_another_providers_module():
    modules = {providers.load(name).__module__ for name in providers.names()}
    crossings = sorted(
        f"{module} imports {other}"
        for module in modules
        for other in imported(Path(str(sys.modules[module].__file__))) & modules
        if other != module
    )
    assert crossings == []
