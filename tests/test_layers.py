"""The import rules of DESIGN "Layers", read statically from the source with ``ast``.

- ``schemas ← signing ← exchange``: ``schemas`` imports nothing of ours, ``signing`` only
  ``schemas``;
- ``connectors`` imports only ``schemas``, ``signing``, ``exchange.bus`` and
  ``exchange.client``;
- nothing in ``exchange`` outside ``exchange/cli/`` imports ``exchange.cli``,
  ``exchange.demo``, ``connectors`` or ``bench`` (``exchange/demo`` may import ``connectors``
  and ``bench``; ``exchange/cli`` may import everything);
- no import circles between the modules of the four packages, nor between their folders
  (a folder is one concern: ``exchange/api`` and ``exchange/web`` must not import each
  other both ways even when no single module does).

Every import counts — at module level and inside functions (a lazy import that runs back
up is still a circle) — except those under ``if TYPE_CHECKING:``. An edge is
``(importing module, imported module)``; ``from package import name`` is an edge to
``package.name`` when that is a module of ours, else to ``package``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "signing", "exchange", "connectors")
OURS = (*PACKAGES, "bench")

Edge = tuple[str, str]

# Edges that break a rule today and that another change removes. Each entry names the
# edge and why it is here; delete it once that change is merged. The test fails when an
# entry no longer breaks a rule, so this list only shrinks.
KNOWN: dict[Edge, str] = {}
# ``python -m exchange`` runs the CLI: the package's entry point is part of exchange/cli
ENTRY_POINTS = frozenset({"exchange.__main__"})


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    path: Path
    line: int

    @property
    def edge(self) -> Edge:
        return (self.importer, self.target)

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _ours(name: str) -> bool:
    return name.split(".", 1)[0] in OURS


def _owner(name: str, modules: dict[str, Path]) -> str:
    """The deepest module of ours that ``name`` lies in (``a.b.Name`` → ``a.b``)."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if _ours(name):
                yield Import(module, _owner(name, modules), path, node.lineno)


def _graph() -> list[Import]:
    modules = _modules()
    return [
        found
        for module, path in modules.items()
        if module.split(".", 1)[0] in PACKAGES
        for found in _imports(module, path, modules)
        if found.target != module
    ]


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _rule_broken(importer: str, target: str) -> str | None:
    """Which layer rule the edge breaks, or None."""
    top = importer.split(".", 1)[0]
    if top == "schemas" and not _under(target, "schemas"):
        return "schemas imports nothing of ours"
    if top == "signing" and not _under(target, "schemas", "signing"):
        return "signing imports only schemas"
    if top == "connectors" and not _under(
        target, "schemas", "signing", "connectors", "exchange.bus", "exchange.client"
    ):
        return "connectors import only schemas, signing, exchange.bus and exchange.client"
    if top == "exchange" and not _under(importer, "exchange.cli") and importer not in ENTRY_POINTS:
        if _under(target, "exchange.cli"):
            return "only exchange/cli imports exchange.cli"
        if _under(target, "exchange.demo") and not _under(importer, "exchange.demo"):
            return "only exchange/cli imports exchange.demo"
        if _under(target, "connectors", "bench") and not _under(importer, "exchange.demo"):
            return "only exchange/cli (and the demo) import connectors and bench"
    return None


def _folder_of(modules: dict[str, Path]) -> Callable[[str], str]:
    """The concern a module belongs to: its folder under the package (``exchange.api``),
    or the module itself at the package's top (``exchange.service``, ``connectors.outbox``)."""

    def folder(module: str) -> str:
        parts = module.split(".")
        if len(parts) == 2 and module in modules and modules[module].name != "__init__.py":
            return module
        return ".".join(parts[:2])

    return folder


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A path of imports from ``start`` to ``goal``, or None."""
    came: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        node = todo.pop()
        if node == goal:
            path = [node]
            while (back := came[path[-1]]) is not None:
                path.append(back)
            return path[::-1]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in came:
                came[nxt] = node
                todo.append(nxt)
    return None


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _circle_problems(imports: list[Import], unit: Callable[[str], str], kind: str) -> list[str]:
    """The circles of the graph whose nodes are ``unit(module)``, each with its imports."""
    graph: dict[str, set[str]] = {}
    for found in imports:
        a, b = unit(found.importer), unit(found.target)
        if a != b:
            graph.setdefault(a, set()).add(b)
    problems = []
    for component in _circles(graph):
        members = set(component)
        lines = sorted(
            {
                f"  {i.where()}: {i.importer} → {i.target}"
                for i in imports
                if unit(i.importer) in members
                and unit(i.target) in members
                and unit(i.importer) != unit(i.target)
            }
        )
        problems.append(
            f"import circle between {kind} {', '.join(component)}:\n" + "\n".join(lines)
        )
    return problems


def _graph_of(imports: list[Import], unit: Callable[[str], str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for found in imports:
        graph.setdefault(unit(found.importer), set()).add(unit(found.target))
    return graph


def layer_problems(
    imports: list[Import], known: dict[Edge, str], folder: Callable[[str], str]
) -> list[str]:
    """Every broken rule, every circle, and every KNOWN entry that no longer breaks one."""
    problems: list[str] = []
    for found in imports:
        rule = _rule_broken(found.importer, found.target)
        if rule is not None and found.edge not in known:
            problems.append(f"{found.where()}: {found.importer} imports {found.target} ({rule})")
    ours = [i for i in imports if i.target.split(".", 1)[0] in PACKAGES]
    kept = [i for i in ours if i.edge not in known]
    problems += _circle_problems(kept, lambda m: m, "modules")
    problems += _circle_problems(kept, folder, "folders")
    modules = _graph_of(ours, lambda m: m)
    folders = _graph_of(ours, folder)
    for (importer, target), why in sorted(known.items()):
        if target not in modules.get(importer, set()):
            problems.append(
                f"KNOWN entry {importer} → {target} ({why}) no longer occurs: delete it"
            )
        elif (
            _rule_broken(importer, target) is None
            and _reaches(modules, target, importer) is None
            and (
                folder(importer) == folder(target)
                or _reaches(folders, folder(target), folder(importer)) is None
            )
        ):
            problems.append(
                f"KNOWN entry {importer} → {target} ({why}) breaks no rule any more: delete it"
            )
    return problems


def test_imports_follow_the_layers_and_make_no_circles() -> None:
    imports = _graph()
    problems = layer_problems(imports, KNOWN, _folder_of(_modules()))
    edges = len({i.edge for i in imports})
    print(f"layers: {len(_modules())} modules, {edges} import edges, {len(problems)} problem(s)")
    for problem in problems:
        print(problem)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("importer", "target", "rule"),
    [
        ("schemas.catalog", "signing.seal", "schemas imports nothing of ours"),
        ("signing.seal", "exchange.errors", "signing imports only schemas"),
        ("connectors.runner", "exchange.records.ingest", "connectors import only"),
        ("exchange.catalog.catalog", "exchange.demo", "only exchange/cli imports exchange.demo"),
        ("exchange.records.query", "connectors.outbox", "only exchange/cli (and the demo)"),
        ("exchange.api.app", "exchange.cli.main", "only exchange/cli imports exchange.cli"),
    ],
)
def test_an_import_against_the_layers_is_reported(importer: str, target: str, rule: str) -> None:
    found = Import(importer, target, ROOT / "x.py", 1)
    problems = layer_problems([found], {}, _folder_of({}))
    assert len(problems) == 1
    assert rule in problems[0]


def test_a_lazy_import_back_up_is_a_circle_and_a_type_checking_one_is_not(
    tmp_path: Path,
) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from exchange.service import Exchange\n"
        "def f():\n"
        "    from exchange.service import Exchange\n"
    )
    path = ROOT / "exchange" / "records" / "intake.py"
    modules = _modules()
    tree_imports = list(_imports("exchange.records.intake", path, modules))
    assert tree_imports  # the real module imports things of ours
    fake = tmp_path / "fake.py"
    fake.write_text(source, "utf-8")
    lazy = [
        Import("exchange.records.intake", i.target, path, i.line)
        for i in _imports("exchange.records.fake", fake, modules)
    ]
    assert [(i.target, i.line) for i in lazy] == [("exchange.service", 5)]
    back = Import("exchange.service", "exchange.records.intake", path, 1)
    problems = layer_problems([*lazy, back], {}, _folder_of({}))
    assert len(problems) == 2
    assert problems[0].startswith(
        "import circle between modules exchange.records.intake, exchange.service"
    )
    assert problems[1].startswith(
        "import circle between folders exchange.records, exchange.service"
    )


def test_a_known_entry_that_no_longer_occurs_is_reported() -> None:
    problems = layer_problems([], {("exchange.a", "exchange.b"): "gone"}, _folder_of({}))
    assert problems == ["KNOWN entry exchange.a → exchange.b (gone) no longer occurs: delete it"]


def test_a_circle_between_folders_is_reported_though_no_module_circle_is() -> None:
    imports = [
        Import("exchange.api.app", "exchange.web", ROOT / "x.py", 1),
        Import("exchange.web.guard", "exchange.api.deps", ROOT / "y.py", 2),
    ]
    problems = layer_problems(imports, {}, _folder_of({}))
    assert problems == [
        "import circle between folders exchange.api, exchange.web:\n"
        "  x.py:1: exchange.api.app → exchange.web\n"
        "  y.py:2: exchange.web.guard → exchange.api.deps"
    ]


# what connectors stand on must stay light: a department's machine runs them without
# the exchange's storage or web stack
_FLOOR = ("connectors", "exchange.bus", "exchange.client")
_HEAVY = ("duckdb", "pyarrow", "fastapi", "starlette", "exchange.records", "exchange.service")


@pytest.mark.parametrize(
    "modules",
    [
        ["connectors"],
        ["connectors.sealer"],
        sorted(m for m in _modules() if _under(m, *_FLOOR)),
    ],
    ids=["connectors", "connectors.sealer", "every-floor-module"],
)
def test_connectors_and_the_bus_load_no_duckdb_fastapi_or_exchange_internals(
    modules: list[str],
) -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    print(f"{len(modules)} module(s) imported; heavy modules loaded: {done.stdout.strip()}")
    assert done.stdout.strip() == "[]"
