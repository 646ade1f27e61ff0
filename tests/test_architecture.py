"""The package's structure: module-level imports form no cycle, and format readers never import `bundle`.

`imports()` lists, for every module in readiness/, the readiness modules it imports at
module level and those it imports inside functions (run `python tests/test_architecture.py`
to print them). Imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "readiness"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> set[str]:
    names: set[str] = set()
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        if node.level:
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
        # `from . import formats` imports the submodule; `from .bundle import Bundle` imports readiness.bundle
        candidates = submodules + ([base] if len(submodules) < len(node.names) else [])
    for name in candidates:
        if name in known and name != module:
            names.add(name)
    return names


def _visit(node: ast.AST, in_function: bool, found: tuple[set[str], set[str]], module: str, path: Path, known) -> None:
    top, inner = found
    if isinstance(node, ast.If) and _is_type_checking(node):
        for child in node.orelse:
            _visit(child, in_function, found, module, path, known)
        return
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        (inner if in_function else top).update(_targets(module, path, node, known))
    nested = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    for child in ast.iter_child_nodes(node):
        _visit(child, nested, found, module, path, known)


def imports() -> dict[str, tuple[set[str], set[str]]]:
    """module -> (imported at module level, imported inside functions), readiness modules only."""
    known = _modules()
    out: dict[str, tuple[set[str], set[str]]] = {}
    for module, path in known.items():
        top: set[str] = set()
        inner: set[str] = set()
        _visit(ast.parse(path.read_text(encoding="utf-8")), False, (top, inner), module, path, known)
        out[module] = (top, inner - top)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in GRAPH, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_module_level_imports_form_no_cycle():
    graph = {module: top for module, (top, _) in imports().items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_cycle_even_counting_imports_inside_functions():
    graph = {module: top | inner for module, (top, inner) in imports().items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_format_readers_never_import_the_bundle_loader():
    for module, (top, inner) in imports().items():
        if module.startswith("readiness.formats"):
            assert "readiness.bundle" not in top | inner, module


if __name__ == "__main__":
    for module, (top, inner) in sorted(imports().items()):
        print(module)
        print("  module level:   ", ", ".join(sorted(top)) or "-")
        print("  inside functions:", ", ".join(sorted(inner)) or "-")
    sys.exit(0)
