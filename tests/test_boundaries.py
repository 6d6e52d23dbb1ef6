"""The shape of the code (docs/architecture.md, issue 17): the core never imports a
platform library or the storage engines, adapters are handed the core and never
import storage, and no two project modules import each other at load time.

Read from the source with ``ast``, so a lazy import inside a function counts too
(except for the cycle check, which is about load time)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters", "storage")
PLATFORM_LIBRARIES = ("discord", "slack_bolt", "slack_sdk")
# The one place that wires engines and platforms together (and the terminal commands
# that read a database file as it is).
WIRING = {"bot.cli", "bot.app", "bot.cli_run", "bot.cli_threads"}
# What an adapter must not name: it is handed the core's services (``ReplyService``,
# ``Conversations``), never the store (issue 17 point 1).
STORE_NAMES = frozenset({"ConversationStore"})


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imported(tree: ast.AST, module: str, *, load_time_only: bool = False) -> set[str]:
    """Every module ``tree`` imports (absolute names; relative ones resolved)."""
    found: set[str] = set()
    nodes = _load_time(tree) if load_time_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _load_time(tree: ast.AST) -> Iterator[ast.AST]:
    """The statements run when the module loads: not function bodies, not
    ``if TYPE_CHECKING:`` blocks."""
    stack = list(getattr(tree, "body", []))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


SOURCES = {name: ast.parse(path.read_text(), str(path)) for name, path in modules()}


@pytest.mark.parametrize("module", sorted(n for n in SOURCES if n.startswith("bot")))
def test_the_core_imports_no_platform_library_and_no_storage_engine(module: str) -> None:
    if module in WIRING:
        pytest.skip("the wiring place")
    banned = (*PLATFORM_LIBRARIES, "storage", "adapters")
    assert [m for m in imported(SOURCES[module], module) if _under(m, banned)] == []


@pytest.mark.parametrize("module", sorted(n for n in SOURCES if n.startswith("adapters")))
def test_adapters_never_import_storage(module: str) -> None:
    assert [m for m in imported(SOURCES[module], module) if _under(m, ("storage",))] == []


def named(tree: ast.AST) -> set[str]:
    """Every name ``tree`` uses: variables, attributes, imported names."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.rpartition(".")[2])
    return found


@pytest.mark.parametrize(
    "module",
    sorted(n for n in SOURCES if n.startswith("adapters")),
)
def test_adapters_are_handed_services_never_the_store(module: str) -> None:
    assert sorted(named(SOURCES[module]) & STORE_NAMES) == []


def _resolve(name: str) -> str | None:
    """The project module ``name`` is, or is inside (``bot.upstream.types.X``)."""
    while name and name not in SOURCES:
        name = name.rpartition(".")[0]
    return name or None


def test_no_two_modules_import_each_other_at_load_time() -> None:
    graph: dict[str, set[str]] = {}
    for name, tree in SOURCES.items():
        targets = {_resolve(m) for m in imported(tree, name, load_time_only=True)}
        graph[name] = {t for t in targets if t is not None and t != name}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"modules import each other at load time: {' -> '.join(error.args[1])}")


def test_the_checks_see_a_violation() -> None:
    """The checks read real imports: a platform import in a core-shaped module is seen."""
    tree = ast.parse("import discord\nfrom ..storage import sqlite\n")
    found = imported(tree, "bot.example.module")
    assert _under("discord", PLATFORM_LIBRARIES)
    assert "discord" in found
    assert "bot.storage" in found or "bot.storage.sqlite" in found
    handed = ast.parse(
        "from bot.ports import ConversationStore\n"
        "def f(store: 'x', s: ports.ConversationStore) -> None: ...\n"
    )
    assert named(handed) & STORE_NAMES == {"ConversationStore"}
