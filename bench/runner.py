"""Run the benchmarks of README.md's Performance table and collect their figures."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .figures import Figure

__all__ = ["run"]

# (module, function) in the order they run; modules that are not there yet are skipped
SUITE: list[tuple[str, str]] = [
    ("bench.ingest", "p1"),
    ("bench.ingest", "p2"),
    ("bench.ingest", "p2_secure"),
    ("bench.query", "p3"),
    ("bench.certificates", "p4"),
    ("bench.certificates", "p5"),
    ("bench.certificates", "p4_sm2"),
    ("bench.certificates", "p5_sm2"),
    ("bench.audit", "p6"),
    ("bench.audit", "p6_verify_10m"),
    ("bench.scale", "p7"),
    ("bench.cases", "cases"),
    ("bench.demo", "p8"),
    ("bench.mixed", "h1"),
    ("bench.cluster_audit", "cluster_audit"),
    ("bench.cluster", "cluster_control"),
    ("bench.cluster_p3", "cluster_p3"),
]
# run only when named with --only (P6 with --full measures the same figure)
ON_REQUEST = {"p6_verify_10m"}


def run(*, quick: bool, progress: Any = None, only: set[str] | None = None) -> list[Figure]:
    def log(text: str) -> None:
        if progress is not None:
            progress.print(f"[dim]{text}[/dim]")

    figures: list[Figure] = []
    for module_name, func_name in SUITE:
        if (func_name not in only) if only else (func_name in ON_REQUEST):
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        fn: Callable[..., Any] | None = getattr(module, func_name, None)
        if fn is None:
            continue
        log(f"running {func_name.upper()} ({'quick' if quick else 'full'})")
        kwargs: dict[str, Any] = {"quick": quick}
        if "log" in fn.__code__.co_varnames:
            kwargs["log"] = log
        out = fn(**kwargs)
        figures.extend(out if isinstance(out, list) else [out])
    return figures
