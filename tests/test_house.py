"""The house's shape, checked: no import circles among the modules of `app`
(imports inside functions included); the layers themselves are
import-linter's contracts in pyproject.toml, run by `make test`."""

from __future__ import annotations

import grimp


def _circles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_app_imports_itself_round_a_circle():
    graph = grimp.build_graph("app", cache_dir=None)
    assert _circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _circles(graph) == [["p.a", "p.b"]]


# the leaf modules of the domain: no other domain module below them
LEAVES = {"app.domain.errors", "app.domain.text", "app.domain.phones"}


def test_the_code_text_rules_import_only_the_domains_leaf_modules():
    """`code_text` (parse, format, check digit, validity) stays pure: any
    domain module it imports, now or later, must be a leaf."""
    graph = grimp.build_graph("app", cache_dir=None)
    imported = graph.find_modules_directly_imported_by("app.domain.code_text")
    assert {m for m in imported if m.startswith("app.domain.")} <= LEAVES
    for leaf in LEAVES:
        assert (
            not {m for m in graph.find_modules_directly_imported_by(leaf) if m.startswith("app.domain.")}
            - LEAVES
        )
