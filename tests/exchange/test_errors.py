"""The exception trees drawn at the top of each errors module are the real class trees."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

# a class line: nesting units ("│   " or "    "), a branch ("├── " or "└── "), a class name;
# a line without a branch continues the description above it
_CLASS = re.compile(r"^(?P<prefix>(?:[│ ]   )*[├└]── )?(?P<name>[A-Z]\w*)\b")


def drawn_tree(doc: str) -> set[tuple[str, str]]:
    """(parent, child) edges of the tree drawn in the first ``::`` block of ``doc``."""
    lines = doc.split("::\n", 1)[1].split("\n")
    edges: set[tuple[str, str]] = set()
    stack: list[str] = []
    for raw in lines:
        if not raw.strip():
            if stack:
                break
            continue
        if not raw.startswith("    "):
            break
        match = _CLASS.match(raw[4:])
        if match is None or (match["prefix"] is None and stack):
            continue  # a description's continuation line
        depth = len(match["prefix"] or "") // 4
        del stack[depth:]
        if stack:
            edges.add((stack[-1], match["name"]))
        stack.append(match["name"])
    return edges


def real_tree(package: str, root: type) -> set[tuple[str, str]]:
    """(parent, child) edges of ``root``'s subclasses defined anywhere in ``package``."""
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    edges: set[tuple[str, str]] = set()
    todo = [root]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.split(".")[0] == package:
                edges.add((cls.__name__, sub.__name__))
                todo.append(sub)
    return edges


@pytest.mark.parametrize(
    ("module", "root"),
    [
        ("exchange.errors", "ExchangeError"),
        ("schemas.errors", "SchemaError"),
        ("signing.errors", "SigningError"),
        ("connectors.errors", "ConnectorError"),
    ],
)
def test_the_drawn_error_tree_is_the_class_tree(module: str, root: str) -> None:
    errors = importlib.import_module(module)
    drawn = drawn_tree(errors.__doc__ or "")
    real = real_tree(module.split(".")[0], getattr(errors, root))
    assert drawn, f"{module} draws no tree"
    assert drawn == real, (
        f"{module}: drawn but not real {sorted(drawn - real)}; "
        f"real but not drawn {sorted(real - drawn)}"
    )


# refusals that repeat a pydantic validation message, whose first error names the field
_GENERIC_ALLOWED = {"exchange/web/routes/grants.py", "exchange/web/routes/cases.py"}


def test_every_invalid_request_names_its_own_code() -> None:
    """No ``InvalidRequest`` falls back on the catch-all schema.invalid_request where a
    precise code can say what was wrong (form validation summaries aside)."""
    root = Path(importlib.import_module("exchange").__file__ or "").parent
    generic = []
    for path in sorted(root.rglob("*.py")):
        relative = f"exchange/{path.relative_to(root).as_posix()}"
        text = path.read_text("utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call) or getattr(node.func, "id", None) != "InvalidRequest":
                continue
            code = next((ast.unparse(k.value) for k in node.keywords if k.arg == "code"), None)
            if (
                code in (None, "ErrorCode.INVALID_REQUEST")
                and relative not in _GENERIC_ALLOWED
                and "pragma: no cover" not in lines[node.lineno - 1]
            ):
                generic.append(f"{relative}:{node.lineno}")
    assert generic == []
