"""The house's rules, read from the code itself: no import circle (function-local imports counted), and which
results persist is marked on the functions, never listed by name."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT

PACKAGE = ROOT / "analytics"


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """analytics module → the analytics modules it imports anywhere in its body (top level or inside functions)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[module] |= {n for n in names if n in paths and n != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert {"analytics.model", "analytics.results"} <= set(graph)  # the graph was read
    assert graph["analytics.model"] >= {"analytics.results", "analytics.snapshot"}
    assert cycles(graph) == []


def test_no_result_function_is_persisted_by_its_name():
    """ui.PERSISTED once listed "analytics.model.evaluate" and four more as strings: renaming one silently stopped
    the app keeping it. Functions carry analytics.results.persistable instead."""
    from analytics.forecast import backtest, forecast_quarter
    from analytics.model import evaluate, score_open_deals
    from analytics.results import is_persistable
    from analytics.review import quarterly_review

    assert all(map(is_persistable, (evaluate, score_open_deals, forecast_quarter, backtest, quarterly_review)))
    dotted = re.compile(r"""["']analytics\.\w+\.\w+["']""")
    sources = [*PACKAGE.rglob("*.py"), ROOT / "ui.py", ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    assert [str(p.relative_to(ROOT)) for p in sources if dotted.search(p.read_text(encoding="utf-8"))] == []
