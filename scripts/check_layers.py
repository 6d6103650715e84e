"""Check the package layering of docs/architecture.md from the code's own imports.

    python scripts/check_layers.py            # prints the import graph's violations; exit 1 if any

Rules (docs/architecture.md): the layers are ``hetserve_env`` < ``baselines`` < ``agents``; a module may import its own
layer or a lower one, never a higher one; there is no import cycle between modules (imports inside functions
count: a lazy import is still a dependency; ``if TYPE_CHECKING:`` imports do not); a private name (``_x``) is never imported from another module.
Every ``import`` and ``from … import`` statement of the three packages is read with :mod:`ast`, nothing is run.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

LAYERS = ("hetserve_env", "baselines", "agents")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute module named by a (possibly relative) ``from`` import."""
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(root: Path) -> dict[str, list[tuple[str, int, list[str]]]]:
    """module -> [(imported module, line, imported names)] for every module of the three packages."""
    out: dict[str, list[tuple[str, int, list[str]]]] = {}
    for pkg in LAYERS:
        for path in sorted((root / pkg).rglob("*.py")):
            mod = module_name(root, path)
            edges = out.setdefault(mod, [])
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in _runtime_nodes(tree):
                if isinstance(node, ast.Import):
                    edges += [(a.name, node.lineno, []) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    target = _resolve(mod, path.name == "__init__.py", node)
                    edges.append((target, node.lineno, [a.name for a in node.names]))
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only: no run-time dependency)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo += child.orelse
            else:
                todo.append(child)


def _internal(target: str, modules: set[str]) -> str | None:
    """The project module an import refers to (``a.b.c`` may name module ``a.b`` plus attribute ``c``)."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def _layer(mod: str) -> int:
    return LAYERS.index(mod.split(".")[0])


def check(root: Path) -> tuple[list[str], dict[str, set[str]]]:
    """(violations, graph) of the three packages under ``root``."""
    found = imports(root)
    modules = set(found)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems: list[str] = []
    for mod, edges in sorted(found.items()):
        for target, line, names in edges:
            # ``from pkg import sub`` depends on the submodule, not on the package's __init__
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for dep in subs or [_internal(target, modules)]:
                if dep is None or dep == mod:
                    continue
                graph[mod].add(dep)
                if _layer(dep) > _layer(mod):
                    problems.append(f"upward import: {mod} (line {line}) imports {dep}")
            private = [n for n in names if n.startswith("_") and not n.startswith("__") and f"{target}.{n}" not in modules]
            if private and _internal(target, modules) not in (None, mod):
                problems.append(f"private name: {mod} (line {line}) imports {', '.join(private)} from {target}")
    problems += [f"import cycle: {' -> '.join(c + [c[0]])}" for c in cycles(graph)]
    return problems, graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted for a stable report."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="repository root")
    args = parser.parse_args(argv)
    problems, graph = check(Path(args.root))
    n_edges = sum(len(v) for v in graph.values())
    for p in problems:
        print(p)
    print(f"{len(graph)} modules, {n_edges} internal import edges, {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
