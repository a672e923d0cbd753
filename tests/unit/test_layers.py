"""The layers of vedette, declared and checked (DESIGN.md "Layers", issue 12's contract).

Each top-level package or module of ``vedette`` sits in one layer. A module may import from
its own package, from any lower layer, and, within its layer, only along the pairs declared in
:data:`SAME_LAYER` (which must stay acyclic). A ``_``-prefixed module or name never crosses a
package. Every import counts: module level, inside functions and under ``TYPE_CHECKING``.

:data:`KNOWN` lists the violations that were there when the contract was written, each with
the work that removes it. The test fails on any violation not listed, and on a listed one that
is gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "vedette"

#: Top to bottom.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__main__", "cli", "commands"}),
    frozenset({"analysis", "report", "scale", "lab", "scan", "web", "domain"}),
    frozenset({"probe", "checks", "trust", "store", "pki", "mailauth", "smime", "directory"}),
    frozenset(
        {
            "protocols",
            "tls",
            "x509",
            "targets",
            "resolve",
            "http_fetch",
            "inputfiles",
            "atomicfile",
            "plan",
        }
    ),
    frozenset({"model", "errors", "_version"}),
)

#: Imports allowed between two packages of the same layer (importer, imported).
SAME_LAYER: frozenset[tuple[str, str]] = frozenset(
    {
        ("__main__", "cli"),
        ("cli", "commands"),
        ("report", "analysis"),
        ("scale", "analysis"),
        ("scale", "scan"),
        ("domain", "analysis"),
        ("domain", "scan"),
        ("domain", "report"),
        ("checks", "trust"),
        ("checks", "probe"),  # defence classification and limits, as data
        ("checks", "pki"),  # the fix commands a finding prints
        ("pki", "trust"),
        ("resolve", "targets"),
        ("http_fetch", "resolve"),
        ("plan", "targets"),  # a --resolve pin is a targets.Pin
    }
)

#: Violations present when the contract was written; issue 12's redesign removed them all.
#: The list must only shrink: a new violation fails the suite.
KNOWN: frozenset[str] = frozenset()


def _layer(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"vedette.{name} is in no declared layer: add it to LAYERS")


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "vedette":
                out.extend((f"vedette.{a.name}", []) for a in node.names)
            elif node.module.startswith("vedette."):
                out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names if a.name.startswith("vedette."))
    return out


def violations() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        top = rel.parts[0]
        if top == "__init__":
            continue
        mine = _layer(top)
        for module, names in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            parts = module.split(".")
            other = parts[1]
            if other == top or other == "__version__":  # the package's own version
                continue
            theirs = _layer(other)
            if theirs < mine:
                found.add(f"up: {top} -> {other}")
            elif theirs == mine and (top, other) not in SAME_LAYER:
                found.add(f"same layer, undeclared: {top} -> {other}")
            private_parts = [p for p in parts[1:] if p.startswith("_")]
            private_names = [n for n in names if n.startswith("_")]
            if private_parts or private_names:
                target = module if private_parts else f"{module}.{private_names[0]}"
                found.add(f"private: {'/'.join(rel.parts)} -> {target}")
    return found


def test_no_import_goes_up_the_layers_or_crosses_a_package_privately() -> None:
    found = violations()
    new = found - KNOWN
    gone = KNOWN - found
    assert not new, "new layer violations:\n  " + "\n  ".join(sorted(new))
    assert not gone, "fixed, remove from KNOWN:\n  " + "\n  ".join(sorted(gone))


def test_same_layer_pairs_are_declared_within_one_layer_and_acyclic() -> None:
    for a, b in SAME_LAYER:
        assert _layer(a) == _layer(b), (a, b)
    graph: dict[str, set[str]] = {}
    for a, b in SAME_LAYER:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, "cycle: " + " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_the_checker_sees_a_violation() -> None:
    # The checker itself: an upward import and a private crossing in a made-up module.
    tree = ast.parse(
        "from vedette.commands import _common\nfrom vedette.tls._wire import TlsParseError\n"
    )
    assert ("vedette.commands", ["_common"]) in _imports(tree)
    assert ("vedette.tls._wire", ["TlsParseError"]) in _imports(tree)
    assert _layer("commands") < _layer("report") < _layer("checks") < _layer("tls")
