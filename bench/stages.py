"""Where the time of one record goes: per-record microseconds of each stage of P1.

The stages are timed on the real objects of a run by wrapping their methods on the
instance (nothing in the product code knows about it), so the README's profile is the
bench's own, not a hand-written one:

- connector: ``read`` (the source, CSV parsing included; a plain export read as
  columns), ``map/validate`` (the mapping, row by row or column by column, and the schema
  check), ``outbox`` (SQLite: records in, batch saved, batch marked
  sent), ``seal`` (leaves, Merkle root, the signature, the message bytes);
- exchange: ``decode`` (the message into a plain batch), ``seal + leaf check`` (seal,
  certificate and the leaves recomputed), ``record checks`` (key, size, schema),
  ``insert`` (records, subjects, batch rows in the transaction), ``audit + commit``
  (the audit entry and the DuckDB commit).

Each wrapper costs one ``perf_counter`` pair per call; ``read`` is per row (a generator).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["StageClock", "connector_stages", "exchange_stages"]


class StageClock:
    """Seconds spent per stage, in the order the stages were first met."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def timed(self, stage: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - started)

        return wrapper

    def per_record(self, records: int) -> dict[str, float]:
        """Microseconds per record of each stage."""
        return {k: v * 1e6 / max(1, records) for k, v in self.seconds.items()}

    def describe(self, records: int) -> str:
        """``read 3.1 µs, map/validate 9.0 µs, …`` (per record)."""
        return ", ".join(f"{k} {v:.1f} µs" for k, v in self.per_record(records).items())


def _timed_generator(clock: StageClock, stage: str, read: Callable[..., Any]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = iter(read(*args, **kwargs))
        while True:
            started = time.perf_counter()
            try:
                row = next(rows)
            except StopIteration:
                clock.add(stage, time.perf_counter() - started)
                return
            clock.add(stage, time.perf_counter() - started)
            yield row

    return wrapper


def connector_stages(runner: Any, clock: StageClock) -> None:
    """Time the stages of a :class:`connectors.runner.Runner` (for this runner only)."""
    runner.source.read = _timed_generator(clock, "read", runner.source.read)
    if hasattr(runner.source, "read_columns"):  # a plain export, read as columns
        runner.source.read_columns = clock.timed("read", runner.source.read_columns)
    runner.mapper.map = clock.timed("map/validate", runner.mapper.map)
    runner.mapper.map_columns = clock.timed("map/validate", runner.mapper.map_columns)
    runner.validator.check_many = clock.timed("map/validate", runner.validator.check_many)
    for name in ("add", "save_batch", "mark_sent", "mark_refused"):
        setattr(runner.outbox, name, clock.timed("outbox", getattr(runner.outbox, name)))
    runner.sealer.seal = clock.timed("seal", runner.sealer.seal)


@contextmanager
def exchange_stages(exchange: Any, clock: StageClock) -> Iterator[None]:
    """Time the stages of the exchange's intake while the block runs."""
    intake, ingestor = exchange.intake, exchange.ingestor
    audit = ingestor.audit
    intake.decode = clock.timed("decode", intake.decode)
    ingestor._check_seal = clock.timed("seal + leaf check", ingestor._check_seal)
    ingestor._check_records = clock.timed("record checks", ingestor._check_records)
    append = audit.append

    def timed_append(event: Any, work: Any = None) -> Any:
        inner = [0.0]

        def timed_work(tx: Any) -> Any:
            started = time.perf_counter()
            try:
                return work(tx)
            finally:
                inner[0] = time.perf_counter() - started

        started = time.perf_counter()
        try:
            return append(event, work=None if work is None else timed_work)
        finally:
            clock.add("insert", inner[0])
            clock.add("audit + commit", time.perf_counter() - started - inner[0])

    audit.append = timed_append
    try:
        yield
    finally:
        for target, name in (
            (intake, "decode"),
            (ingestor, "_check_seal"),
            (ingestor, "_check_records"),
            (audit, "append"),
        ):
            vars(target).pop(name, None)
