"""The house's rules, read from the code itself: each layer imports only downward and no import circle within one
(function-local imports counted), and which results persist is marked on the functions, never listed by name."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT

PACKAGE = ROOT / "analytics"


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node, but those under `if TYPE_CHECKING:`: an import there serves annotations only and never runs."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """analytics module → the analytics modules it imports anywhere in its body (top level or inside functions;
    not those imported for annotations only, under `if TYPE_CHECKING:`)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
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


def test_an_import_for_annotations_only_is_no_edge():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a import B\nfrom c import D\n")
    assert [n.module for n in _runtime_nodes(tree) if isinstance(n, ast.ImportFrom)] == ["c", "typing"]


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert {"analytics.forecasting.winmodel", "analytics.store.cache"} <= set(graph)  # the graph was read
    assert graph["analytics.forecasting.winmodel"] >= {"analytics.store.cache", "analytics.store.asof"}
    assert cycles(graph) == []


# Lowest first. A module may import its own layer and those below it, never one above. The base holds what every
# layer shares and imports nothing of keyfunnel's but itself (formatting sits here, not in present/: the import
# summary and the translated messages format their counts and shares too).
LAYERS = (
    ("analytics", "analytics.domain", "analytics.messages", "analytics.exceptions", "analytics.filters", "analytics.stats",
     "analytics.formatting", "analytics.tables", "analytics.auth", "analytics.sample", "analytics.sample_plans"),
    ("analytics.i18n",),
    ("analytics.store",),
    ("analytics.ingest",),
    ("analytics.analyses",),
    ("analytics.forecasting",),
    ("analytics.present",),
    ("analytics.refresh",),  # the one module that names every slow result, so it imports every layer
    ("analytics.cli",),
)


def layer_of(module: str) -> int:
    matches = [(len(prefix), i) for i, layer in enumerate(LAYERS) for prefix in layer
               if module == prefix or module.startswith(prefix + ".") and prefix != "analytics"]
    assert matches, f"{module} belongs to no layer: add it to LAYERS"
    return max(matches)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} → {d}" for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m))


def test_the_layer_rule_finds_an_upward_import():
    assert upward_imports({"analytics.store.cache": {"analytics.analyses.funnel"}, "analytics.analyses.funnel": set()}) \
        == ["analytics.store.cache → analytics.analyses.funnel"]
    assert upward_imports({"analytics.cli.common": {"analytics.store.connection"},
                           "analytics.store.connection": {"analytics.domain"}, "analytics.domain": set()}) == []


def test_each_layer_imports_only_downward():
    assert upward_imports(import_graph()) == []


def test_no_result_function_is_persisted_by_its_name():
    """ui.PERSISTED once listed "analytics.model.evaluate" and four more as strings: renaming one silently stopped
    the app keeping it. Functions carry analytics.results.persistable instead."""
    from analytics.forecasting.backtest import backtest
    from analytics.forecasting.forecast import forecast_quarter
    from analytics.forecasting.review import quarterly_review
    from analytics.forecasting.scoring import score_open_deals
    from analytics.forecasting.validation import evaluate
    from analytics.store.cache import is_persistable

    assert all(map(is_persistable, (evaluate, score_open_deals, forecast_quarter, backtest, quarterly_review)))
    dotted = re.compile(r"""["']analytics(\.\w+){2,}["']""")
    sources = [*PACKAGE.rglob("*.py"), ROOT / "ui.py", ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    assert [str(p.relative_to(ROOT)) for p in sources if dotted.search(p.read_text(encoding="utf-8"))] == []


MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200


def test_no_module_or_class_outgrows_one_reading():
    """A module a newcomer reads in one sitting, a class that does one thing: the sizes issue 20 set."""
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                too_long.append(f"{path.relative_to(ROOT)}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []
