"""Every connectors module lists its public API in ``__all__``, and only what exists."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import connectors

MODULES = sorted(
    info.name.removeprefix("connectors.")
    for info in pkgutil.walk_packages(connectors.__path__, prefix="connectors.")
    if not info.name.rpartition(".")[2].startswith("_")
)


def test_every_module_is_checked() -> None:
    assert {"base", "csv", "jsonl", "sql", "http", "mapping", "config", "outbox"} <= set(MODULES)
    assert {"publishers", "runner", "errors", "sealer", "validator", "codes"} <= set(MODULES)
    assert {f"publishers.{n}" for n in ("base", "http", "kafka", "embedded")} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_public_api_is_listed(name: str) -> None:
    module = importlib.import_module(f"connectors.{name}")
    exported = set(module.__all__)
    assert all(hasattr(module, n) for n in exported)
    defined = {
        n
        for n, value in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }
    assert defined <= exported, f"public but not in __all__: {sorted(defined - exported)}"
