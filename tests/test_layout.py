"""Layout rules of the package: no import cycle, no document outside the repository, and no
module below the orchestrator that imports the scenario schema."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cosim"

#: Layers below the orchestrator: they receive small value objects, never the whole Scenario.
#: Packages and modules below the orchestrators (engine/, sweep/, cli.py, dispatch.run).
LOWER_LAYERS = (
    "market",
    "settlement",
    "grid",
    "participants",
    "privacy",
    "results",
    "conventions",
    "registry",
    "config",
    "lp",
    "jsonio",
    "faults",
    "errors",
    "subprocesses",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` (never executed)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return out


def imported_modules(path: Path, modules: dict[str, Path], name: str | None = None) -> set[str]:
    """cosim modules imported anywhere in ``path`` (module level and inside functions)."""
    name = module_name(path) if name is None else name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:  # ``from cosim.x import submodule``
                    out.add(sub)
                elif target in modules:
                    out.add(target)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None if acyclic."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_relative_and_function_level_imports_are_edges(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import crypto\n"
        "if TYPE_CHECKING:\n    from cosim.settlement.ckks import CKKS\n"
        "def f():\n    from cosim.settlement.paillier import fixed_point\n",
        encoding="utf-8",
    )
    names = ("crypto", "paillier", "ckks", "meters")
    modules = {f"cosim.settlement.{m}": src for m in names}
    assert imported_modules(src, modules, "cosim.settlement.meters") == {
        "cosim.settlement.crypto",
        "cosim.settlement.paillier",
    }


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "cosim.settlement.crypto" in graph  # the graph covers the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml", "*.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / p for p in listed if (ROOT / p).is_file()]


def test_no_reference_to_documents_outside_the_repository() -> None:
    names = ("DESIGN" + ".md", "BACKGROUND" + ".md", "STYLE" + ".md", ".." + "/shared")
    files = repository_files()
    assert any(p.name == "README.md" for p in files)
    offending = [
        f"{p.relative_to(ROOT)}: {name}"
        for p in files
        for name in names
        if name in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert not offending, offending


def imports_scenario(path: Path) -> bool:
    modules = package_modules()
    return "cosim.scenario" in imported_modules(path, modules)


def lower_layer_modules() -> list[str]:
    return sorted(
        name
        for name in package_modules()
        if name.split(".")[1:2] and name.split(".")[1] in LOWER_LAYERS
    )


@pytest.mark.parametrize("module", lower_layer_modules())
def test_lower_layers_do_not_import_the_scenario(module: str) -> None:
    assert not imports_scenario(package_modules()[module]), f"{module} imports cosim.scenario"
