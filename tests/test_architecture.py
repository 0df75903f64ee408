"""The layout's rules that import-linter's contracts cannot state, as tests: no import cycle
among the modules of service/, handlers/ and statemachines/, and no module over 400 lines.

Each rule has an explicit baseline of today's exceptions, and the baseline may only shrink:
a new cycle or a new long module fails, and so does a baseline entry that no longer holds,
so that the list stays the list of what is left to do."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("service", "handlers", "statemachines")
LONGEST = 400

# Import cycles left (each a strongly connected component of the import graph, every import
# counted: those inside functions and under TYPE_CHECKING too, as they hide a cycle rather
# than remove it): none, so any new one fails.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()

# Modules over LONGEST lines, to be split: none, so any new one fails.
KNOWN_LONG: frozenset[str] = frozenset()


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def imports_of(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Each module and the modules of ours it imports directly."""
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def cycles(edges: Mapping[str, Iterable[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative): the modules of each can all reach one another through their imports."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in sorted(edges):
        if start in order:
            continue
        work = [(start, iter(sorted(edges[start])))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == order[node]:
                    found.add(pop_component(node, stack, on_stack))
            elif child not in order:
                order[child] = low[child] = len(order)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], order[child])
    return {component for component in found if len(component) > 1}


def pop_component(root: str, stack: list[str], on_stack: set[str]) -> frozenset[str]:
    """Pop one strongly connected component, down to its root, off Tarjan's stack."""
    members = set()
    while True:
        member = stack.pop()
        on_stack.discard(member)
        members.add(member)
        if member == root:
            return frozenset(members)


def describe(component: frozenset[str], edges: Mapping[str, Iterable[str]]) -> str:
    """A cycle as the imports inside it, so the reader sees where to cut."""
    inside = [f"    {a} -> {b}" for a in sorted(component) for b in sorted(edges[a]) if b in component]
    return "\n".join(inside)


def test_the_cycle_finder_finds_cycles_and_only_them() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": set()}
    assert cycles(edges) == {frozenset("abc"), frozenset("de")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_no_import_cycle_but_the_known_ones(graph: grimp.ImportGraph) -> None:
    edges = imports_of(graph)
    found = cycles(edges)
    new = sorted(found - KNOWN_CYCLES, key=sorted)
    gone = sorted(KNOWN_CYCLES - found, key=sorted)
    assert not new, "import cycles (cut them, or if one replaces a known one, update KNOWN_CYCLES):\n" + (
        "\n\n".join(describe(component, edges) for component in new)
    )
    assert not gone, "KNOWN_CYCLES holds cycles that are gone (delete them): " + "; ".join(
        ", ".join(sorted(component)) for component in gone
    )


def modules() -> dict[str, int]:
    """Each module's path under the repository and its length in lines."""
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_no_module_is_over_400_lines_but_the_known_ones() -> None:
    lengths = modules()
    long = {path for path, lines in lengths.items() if lines > LONGEST}
    new = {path: lengths[path] for path in sorted(long - KNOWN_LONG)}
    assert not new, f"modules over {LONGEST} lines (split them): {new}"
    short = sorted(path for path in KNOWN_LONG if lengths.get(path, 0) <= LONGEST)
    assert not short, f"KNOWN_LONG names modules of {LONGEST} lines or fewer, or gone (delete them): {short}"


def baseline_imports() -> list[tuple[str, str, str]]:
    """The exact ``importer -> imported`` lines the import contracts ignore (their baselines),
    with the contract's name; the wildcard lines (the composition root's) are left out."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = []
    for contract in config["tool"]["importlinter"]["contracts"]:
        for line in contract.get("ignore_imports", ()):
            importer, imported = (part.strip() for part in line.split("->"))
            if "*" not in line:
                found.append((contract["name"], importer, imported))
    return found


def test_every_baseline_import_of_the_contracts_still_exists(graph: grimp.ImportGraph) -> None:
    # import-linter only says so for a contract that alerts on unmatched ignores, and the
    # composition root's contract cannot: its wildcards need not match.
    gone = [
        f"{name}: {importer} -> {imported}"
        for name, importer, imported in baseline_imports()
        if importer not in graph.modules
        or imported not in graph.modules
        or not graph.direct_import_exists(importer=importer, imported=imported)
    ]
    assert not gone, "ignore_imports lines in pyproject.toml name imports that are gone (delete them):\n" + (
        "\n".join(gone)
    )
