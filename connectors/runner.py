"""One connector run: read → map → validate → outbox → seal batch → publish → mark sent.

::

    source ──rows──▶ mapper ──▶ validator ──▶ outbox (durable) ──▶ sealer ──▶ publisher
                       │            │                                 (one seal per batch)
                       └── refused rows, with line numbers and reasons ──▶ summary

Order matters for "nothing lost": a record is in the outbox (with the watermark that
covers it, same transaction) before anything is published; a batch is marked sent only
after the other side acknowledged it. A run first resends batches a crashed run left
sealed-but-unacknowledged, then goes on from the watermark.

The watermark is saved with each chunk while rows arrive in watermark order (SQL reads
``ORDER BY`` it); if a file source delivers them out of order it is saved only once the
whole source was read — re-reading is harmless, ``(key, version)`` is unique in the outbox.

Refused rows are remembered in the outbox: while some are, the next run reads the
source from its beginning, skips what the watermark covers except those rows, and so
retries each one after it was fixed at the source; a remembered row no longer in the
source is reported as withdrawn and forgotten. ``since`` starts a run at another
watermark (``--since``); :meth:`connectors.outbox.Outbox.reset_watermark` forgets it.

``dry_run`` reads, maps and validates only: nothing is stored or published, and the
summary says what would be refused.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.publishers.base import Delivery, Publisher

from .base import Columnar, RowProblem, Source, SourceRecord
from .mapping import MappedRecord, Mapper
from .outbox import Outbox, OutboxBatch, PendingRecord, refused_ident, watermark_key
from .sealer import Sealer
from .validator import RecordValidator

__all__ = [
    "EXIT_ROWS_REFUSED",
    "ProgressSink",
    "RichProgress",
    "RunSummary",
    "Runner",
    "render_summary",
]

EXIT_ROWS_REFUSED = 3
"""Exit code of ``govex connector run`` when it completed but refused some rows."""

_BATCH_OVERHEAD = 1024  # the seal and the envelope of a message, in bytes


class ProgressSink(Protocol):
    """Receives progress as the run goes (the CLI draws a rich progress bar)."""

    def update(self, *, read: int, published: int, refused: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunSummary:
    """What one run did; ``exit_code`` is 0, or 3 when rows were refused or quarantined."""

    connector: str
    resource: str
    target: str
    dry_run: bool = False
    read: int = 0
    stored: int = 0
    already: int = 0
    skipped: int = 0
    published: int = 0
    batches: int = 0
    resent: int = 0
    accepted: int | None = None
    duplicates: int | None = None
    refused: list[RowProblem] = field(default_factory=list)
    quarantined: list[RowProblem] = field(default_factory=list)
    refused_batches: list[str] = field(default_factory=list)
    retried: int = 0
    withdrawn: list[RowProblem] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def rows_refused(self) -> int:
        return len(self.refused) + len(self.quarantined)

    @property
    def exit_code(self) -> int:
        return EXIT_ROWS_REFUSED if self.rows_refused or self.refused_batches else 0

    def add_delivery(self, delivery: Delivery) -> None:
        self.published += delivery.records
        self.batches += 1
        if delivery.accepted is not None:
            self.accepted = (self.accepted or 0) + delivery.accepted
        if delivery.duplicates is not None:
            self.duplicates = (self.duplicates or 0) + delivery.duplicates
        if delivery.refused is not None:
            self.refused_batches.append(f"{delivery.batch_id}: {delivery.refused}")


class Runner:
    """Runs one connector: a source, a mapping, an outbox, a sealer and a publisher."""

    def __init__(
        self,
        *,
        name: str,
        source: Source,
        mapper: Mapper,
        sealer: Sealer | None,
        outbox: Outbox | None,
        publisher: Publisher | None,
        batch_size: int = 1000,
        max_batch_bytes: int = 900_000,
        progress: ProgressSink | None = None,
        since: Any = None,
    ) -> None:
        self.name = name
        self.since = since
        self.source = source
        self.mapper = mapper
        self.validator = RecordValidator(mapper.definition)
        self.sealer = sealer
        self.outbox = outbox
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.progress = progress

    def run(self, *, dry_run: bool = False) -> RunSummary:
        """Run to the end of the source; raises ConnectorError subclasses on failure (the
        outbox keeps whatever was not acknowledged)."""
        started = time.perf_counter()
        resource = self.mapper.definition.code
        target = "dry run" if dry_run else (self.publisher.describe() if self.publisher else "-")
        summary = RunSummary(self.name, resource, target, dry_run=dry_run)
        try:
            if not dry_run:
                self._require()
                leftover = self._outbox().unsent()
                if leftover:
                    before = summary.published
                    self._publish(leftover, summary)
                    summary.resent = summary.published - before
            retry = {} if dry_run else self._outbox().refused()
            seen = self._read(summary, dry_run=dry_run, retry=retry)
            if not dry_run:
                self._outbox().remember_refused(summary.refused)
                summary.withdrawn = [p for i, p in retry.items() if i not in seen]
                self._flush(summary, final=True)
        finally:
            if self.outbox is not None and not dry_run:
                summary.outbox = self.outbox.counts()
            summary.elapsed_s = time.perf_counter() - started
            if self.progress is not None:
                self._tick(summary)
                self.progress.close()
        return summary

    # -- reading ---------------------------------------------------
    def _read(
        self, summary: RunSummary, *, dry_run: bool, retry: dict[str, RowProblem]
    ) -> set[str]:
        """Read, map, validate and store; the identities of the remembered refused rows
        (``retry``) this read met again."""
        since = self.since if self.since is not None or dry_run else self._outbox().watermark()
        since_key = None if since is None else watermark_key(since)
        top: Any = since
        ordered = True
        chunk: list[MappedRecord] = []
        marks: list[int] = []
        chunk_size = self.batch_size * self._groups()
        seen: set[str] = set()
        ident = ""
        for row, mark, mapped in self._rows(None if retry else since, columnar=not retry):
            summary.read += 1
            if retry:
                assert row is not None
                mapped = self.mapper.map(row)
                ident = refused_ident(
                    mapped
                    if isinstance(mapped, RowProblem)
                    else RowProblem(row.line, "", key=mapped.key)
                )
                if ident in retry:
                    seen.add(ident)
            if mark is not None:
                key = watermark_key(mark)
                if since_key is not None and key <= since_key:
                    if not (retry and ident in retry):
                        summary.skipped += 1
                        continue
                    summary.retried += 1
                elif top is None or key >= watermark_key(top):
                    top = mark
                else:
                    ordered = False
            if mapped is None:
                assert row is not None
                mapped = self.mapper.map(row)
            if isinstance(mapped, RowProblem):
                summary.refused.append(mapped)
                continue
            chunk.append(mapped)
            marks.append(len(summary.refused))
            if len(chunk) >= chunk_size:
                chunk = self._validate(chunk, marks, summary)
                self._store(chunk, top if ordered else None, summary, dry_run=dry_run)
                chunk, marks = [], []
                if not dry_run:
                    self._flush(summary, final=False)
            if self.progress is not None and summary.read % 1000 == 0:
                self._tick(summary)
        chunk = self._validate(chunk, marks, summary)
        self._store(chunk, top, summary, dry_run=dry_run)
        return seen

    def _rows(
        self, since: Any, *, columnar: bool
    ) -> Iterator[tuple[SourceRecord | None, Any, MappedRecord | RowProblem | None]]:
        """Each row (None when it came as a column), its watermark and, when already mapped
        column by column (:mod:`connectors.columns`), what the mapping made of it."""
        columns = (
            self.source.read_columns() if columnar and isinstance(self.source, Columnar) else None
        )
        done = None if columns is None else self.mapper.map_columns(columns)
        if done is not None:
            for mark, mapped in done:
                yield None, mark, mapped
            return
        watermark = self.mapper.watermark
        for row in self.source.read(since):
            yield row, watermark(row), None

    def _validate(
        self, chunk: list[MappedRecord], marks: list[int], summary: RunSummary
    ) -> list[MappedRecord]:
        """The records of ``chunk`` that pass the resource's schema (checked as one batch);
        each refused one goes into ``summary.refused`` where it would have gone row by row
        (``marks[i]``: how many rows had been refused when ``chunk[i]`` was read)."""
        reasons = self.validator.check_many([mapped.data for mapped in chunk])
        if not any(reasons):
            return chunk
        refused = [
            (mark, RowProblem(mapped.line, reason, key=mapped.key))
            for mapped, mark, reason in zip(chunk, marks, reasons, strict=True)
            if reason is not None
        ]
        for mark, problem in reversed(refused):
            summary.refused.insert(mark, problem)
        return [mapped for mapped, reason in zip(chunk, reasons, strict=True) if reason is None]

    def _store(
        self, chunk: list[MappedRecord], top: Any, summary: RunSummary, *, dry_run: bool
    ) -> None:
        if dry_run:
            summary.stored += len(chunk)
            return
        added = self._outbox().add(chunk, top)
        summary.stored += added
        summary.already += len(chunk) - added

    # -- sealing and publishing -----------------------------------
    def _groups(self) -> int:
        return 1 if self.publisher is None else max(1, self.publisher.groups())

    def _flush(self, summary: RunSummary, *, final: bool) -> None:
        outbox = self._outbox()
        while True:
            pending = outbox.pending(self.batch_size * 64)
            if not pending:
                break
            sealed = self._seal(pending, final=final)
            if not sealed:
                break
            self._publish(sealed, summary)
            if len(pending) < self.batch_size * 64:
                break

    def _seal(self, pending: list[PendingRecord], *, final: bool) -> list[OutboxBatch]:
        assert self.publisher is not None
        groups: dict[int, list[PendingRecord]] = defaultdict(list)
        for record in pending:
            groups[self.publisher.partition_of(record.key)].append(record)
        out: list[OutboxBatch] = []
        for records in groups.values():
            for batch, full in self._split(records):
                if not final and not full:
                    break  # wait for more records of this group
                assert self.sealer is not None
                batch_id, payload = self.sealer.seal(batch)
                out.append(self._outbox().save_batch(batch_id, batch, payload))
        return out

    def _split(self, records: list[PendingRecord]) -> Iterable[tuple[list[PendingRecord], bool]]:
        """Batches of at most ``batch_size`` records and ``max_batch_bytes`` bytes, each with
        whether it is full (the last one of a group may wait for more records)."""
        batch: list[PendingRecord] = []
        size = _BATCH_OVERHEAD
        for record in records:
            grown = size + len(record.body) + 1
            if batch and (len(batch) >= self.batch_size or grown > self.max_batch_bytes):
                yield batch, True
                batch, grown = [], _BATCH_OVERHEAD + len(record.body) + 1
            batch.append(record)
            size = grown
        if batch:
            yield batch, len(batch) >= self.batch_size

    def _publish(self, batches: list[OutboxBatch], summary: RunSummary) -> None:
        assert self.publisher is not None
        outbox = self._outbox()
        for delivery in self.publisher.publish(batches):
            if delivery.refused is not None:
                outbox.mark_refused(delivery.batch_id, delivery.refused)
            else:
                outbox.mark_sent(
                    delivery.batch_id,
                    {"accepted": delivery.accepted, "duplicates": delivery.duplicates},
                )
            if delivery.quarantined:
                lines = outbox.lines(delivery.batch_id)
                summary.quarantined.extend(
                    RowProblem(lines.get(q.index, 0), q.reason, key=q.key, code=q.reason_code)
                    for q in delivery.quarantined
                )
            summary.add_delivery(delivery)
            if self.progress is not None:
                self._tick(summary)

    # -- helpers ---------------------------------------------------
    def _require(self) -> None:
        if self.outbox is None or self.publisher is None or self.sealer is None:
            raise ValueError("a run that publishes needs an outbox, a sealer and a publisher")

    def _outbox(self) -> Outbox:
        assert self.outbox is not None
        return self.outbox

    def _tick(self, summary: RunSummary) -> None:
        assert self.progress is not None
        self.progress.update(
            read=summary.read, published=summary.published, refused=summary.rows_refused
        )


class RichProgress:
    """A rich progress display: rows read and records published, live."""

    def __init__(self, console: Console, description: str) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None, counts="")
        self._progress.start()

    def update(self, *, read: int, published: int, refused: int) -> None:
        self._progress.update(
            self._task,
            counts=f"read {read:,}  published {published:,}  refused {refused:,}",
        )

    def close(self) -> None:
        self._progress.stop()


def render_summary(summary: RunSummary, console: Console, *, limit: int = 50) -> None:
    """Print the final summary: the counts, then every refused row with line and reason."""
    title = f"{summary.connector} → {summary.resource} ({summary.target})"
    table = Table("", "records", title=title, show_header=False)
    rows: list[tuple[str, Any]] = [
        ("rows read", summary.read),
        ("not newer than the watermark", summary.skipped),
        ("retried (refused by an earlier run)", summary.retried),
        ("refused by the connector", len(summary.refused)),
    ]
    if summary.dry_run:
        rows.append(("would be published", summary.stored))
    else:
        rows += [
            ("stored in the outbox (new)", summary.stored),
            ("already in the outbox (same key and version)", summary.already),
            ("resent from an earlier run", summary.resent),
            ("published (acknowledged)", f"{summary.published} in {summary.batches} batches"),
        ]
        if summary.accepted is not None:
            rows.append(("accepted by the exchange", summary.accepted))
            rows.append(("duplicates dropped by the exchange", summary.duplicates or 0))
            rows.append(("quarantined by the exchange", len(summary.quarantined)))
        if summary.outbox:
            left = summary.outbox.get("pending", 0) + summary.outbox.get("sealed", 0)
            rows.append(("left in the outbox", left))
    for label, value in rows:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    problems = [("refused", p) for p in summary.refused] + [
        ("quarantined", p) for p in summary.quarantined
    ]
    for verdict, problem in sorted(problems, key=lambda vp: vp[1].line)[:limit]:
        console.print(f"  {verdict}: {problem}", markup=False, highlight=False)
    if len(problems) > limit:
        console.print(f"  … and {len(problems) - limit} more", markup=False)
    for text in summary.refused_batches:
        console.print(f"  batch refused: {text}", markup=False, highlight=False)
    for problem in summary.withdrawn:
        console.print(
            f"  withdrawn: {problem} — no longer in the source, forgotten",
            markup=False,
            highlight=False,
        )
    verb = "would be refused" if summary.dry_run else "refused"
    if summary.rows_refused:
        console.print(
            f"{summary.rows_refused} row(s) {verb}; fix them at the source and run again",
            markup=False,
        )
