"""Bulk issuance: many certificates of one type, signed on every core.

:class:`BulkIssuance` drafts each chunk through :class:`~.issuance.Issuance` (every
check, serial and status index, in order, under its lock), has the chunk's signatures
made by signer processes (:mod:`signing.pool`) while it drafts the next chunk, and writes
the chunks in order, each in one transaction with one ``cert.issue_bulk`` audit entry.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from exchange.audit.log import AuditEvent
from exchange.certificates.models import BulkItem, BulkResult, BulkSink, CertificateStatus
from exchange.errors import ExchangeError
from schemas.certificates import CertificateType
from schemas.errors import SchemaError
from signing.errors import SigningError
from signing.pool import SigningPool, sign_encoded

if TYPE_CHECKING:
    from exchange.certificates.issuance import Draft, Issuance, Issued

__all__ = ["BulkIssuance"]


class BulkIssuance:
    """The bulk path of an :class:`~.issuance.Issuance`, with its signer processes."""

    def __init__(self, issuance: Issuance, sign_workers: int) -> None:
        self.issuance = issuance
        self.sign_workers = sign_workers
        self._pool: SigningPool | None = None

    def close(self) -> None:
        """Stop the signer processes, if any were started."""
        if self._pool is not None:
            self._pool.close()

    def issue_many(
        self,
        issuer: str,
        type_code: str,
        items: Iterable[BulkItem],
        *,
        chunk_size: int = 2_000,
        progress: Callable[[int], None] | None = None,
        reissue: bool = False,
        sink: BulkSink | None = None,
        workers: int | None = None,
    ) -> BulkResult:
        """Issue many certificates of one type; refusals are collected with their line numbers.

        A holder who already has a certificate of this type from this issuer (active or
        suspended), or who came earlier in the same items, is skipped with that
        certificate's id, unless ``reissue``. Each chunk is written in one transaction with
        one ``cert.issue_bulk`` audit entry naming the type, the count, the serial range it
        used and every holder (so each holder finds the issuance in their own trail);
        ``sink`` hears of each certificate once its chunk is written.

        Every check, identifier, serial and status index is drawn here, in order; the
        signatures are made by ``workers`` signer processes (default: the
        ``sign_workers``, one per core; 0 signs in this process), the
        same bytes either way. Signing a chunk overlaps with drafting the next one and
        writing the one before; chunks are written in order, so an interrupted run is
        resumed by running it again (holders already issued are skipped).
        """
        with _collector_paused():
            return self._issue_many(
                issuer, type_code, items, chunk_size, progress, reissue, sink, workers
            )

    def _issue_many(
        self,
        issuer: str,
        type_code: str,
        items: Iterable[BulkItem],
        chunk_size: int,
        progress: Callable[[int], None] | None,
        reissue: bool,
        sink: BulkSink | None,
        workers: int | None,
    ) -> BulkResult:
        issuance = self.issuance
        ctype = issuance.competent(issuer, type_code)
        kid, key = issuance.seal_key(issuer)
        result = BulkResult()
        held = {} if reissue else self._held(issuer, ctype)
        workers = self.sign_workers if workers is None else workers
        pool = self._signers(workers)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="govex-cert-writer") as writer:
                landed: Future[None] | None = None
                signing: _Signing | None = None
                for chunk in _chunks(items, chunk_size):
                    drafts: list[tuple[int, Draft]] = []
                    with issuance.lock:
                        for item in chunk:
                            holder = _holder(item.subject)
                            if holder is not None and holder in held:
                                result.skipped.append((item.line, held[holder]))
                                continue
                            try:
                                draft = issuance.draft(
                                    issuer,
                                    ctype,
                                    kid,
                                    key,
                                    item.subject,
                                    item.valid_from,
                                    item.valid_until,
                                )
                            except (ExchangeError, SchemaError, SigningError) as exc:
                                result.refused.append((item.line, f"[{exc.code.value}] {exc}"))
                                continue
                            drafts.append((item.line, draft))
                            if not reissue and holder is not None:
                                held[holder] = draft.id
                    messages = [d.message for _, d in drafts]
                    values = (
                        pool.submit(key, messages)
                        if pool is not None and messages
                        else partial(sign_encoded, key, messages)
                    )
                    if signing is not None:  # the chunk before, signed meanwhile, is written
                        landed = self._land(writer, landed, signing, issuer, ctype, result, sink)
                        if progress is not None:
                            progress(signing.size)
                    signing = _Signing(drafts, values, len(chunk))
                if signing is not None:
                    landed = self._land(writer, landed, signing, issuer, ctype, result, sink)
                    if progress is not None:
                        progress(signing.size)
                if landed is not None:
                    landed.result()
        except BaseException:
            # serials drafted but never written are drawn again: the next run (a resumed
            # one) reads the last written serial from the register
            issuance.forget_serial(ctype.type_code, issuer)
            raise
        return result

    def _signers(self, workers: int) -> SigningPool | None:
        """The pool of ``workers`` signer processes (None: sign in this process)."""
        if workers < 1:
            return None
        if self._pool is not None and self._pool.workers != workers:
            self._pool.close()
            self._pool = None
        if self._pool is None:
            self._pool = SigningPool(workers)
        return self._pool

    def _land(
        self,
        writer: ThreadPoolExecutor,
        landed: Future[None] | None,
        signing: _Signing,
        issuer: str,
        ctype: CertificateType,
        result: BulkResult,
        sink: BulkSink | None,
    ) -> Future[None] | None:
        """Finish a signed chunk and write it once the chunk before it is written."""
        issued = [
            (line, self.issuance.finish(draft, value))
            for (line, draft), value in zip(signing.drafts, signing.values(), strict=True)
        ]
        if landed is not None:
            landed.result()
        if not issued:
            return None
        return writer.submit(self._write_chunk, issuer, ctype, issued, signing.size, result, sink)

    def _held(self, issuer: str, ctype: CertificateType) -> dict[str, str]:
        """Holder code → the id of the (active or suspended) certificate of this type they
        already hold from ``issuer``."""
        rows = self.issuance.store.fetchall(
            "SELECT holder_code, max(id) FROM certificates WHERE type_code = ? AND issuer = ? "
            "AND status <> ? GROUP BY holder_code",
            [ctype.type_code, issuer, CertificateStatus.REVOKED.value],
        )
        return {str(holder): str(cid) for holder, cid in rows}

    def _write_chunk(
        self,
        issuer: str,
        ctype: CertificateType,
        issued: list[tuple[int, Issued]],
        size: int,
        result: BulkResult,
        sink: BulkSink | None,
    ) -> None:
        rows = [i.row for _, i in issued]
        holders = [str(row[5]) for row in rows]
        first, last = issued[0][1], issued[-1][1]
        self.issuance.audit.append(
            AuditEvent(
                actor=issuer,
                action="cert.issue_bulk",
                outcome="ok",
                target=first.id,
                subject=holders[0],
                subjects=holders[1:],
                detail={
                    "type": ctype.code,
                    "count": len(issued),
                    "serials": [first.serial, last.serial],
                    "refused": size - len(issued),
                },
            ),
            lambda cur: self.issuance.register.insert(cur, rows),
        )
        result.issued += len(issued)
        result.first_id = result.first_id or first.id
        result.last_id = last.id
        if sink is not None:
            for line, one in issued:
                sink(line, one.id, one.credential)


@dataclass(frozen=True, slots=True)
class _Signing:
    """A chunk whose signatures are being made: its drafts (with their lines), a call
    that waits for their proof values, and the chunk's size (refused items included)."""

    drafts: list[tuple[int, Draft]]
    values: Callable[[], list[str]]
    size: int


_paused = [0, True]  # bulk runs in progress; whether the collector was on before the first
_paused_lock = threading.Lock()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while certificates are issued in bulk.

    A chunk's drafts live until the chunk is written, so every young collection walked
    and promoted them, and each full one walked the whole heap: 15–30 µs of CPU per
    certificate, measured, while a run of 20,000 left no cyclic garbage at all (reference
    counting frees all of it). The collector is on again once the last bulk run of the
    process ends (if it was on before); anything cyclic made meanwhile is collected then.
    """
    with _paused_lock:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


def _holder(subject: Mapping[str, Any]) -> str | None:
    holder = subject.get("holder_code")
    return holder.strip().upper() if isinstance(holder, str) and holder.strip() else None


def _chunks(items: Iterable[BulkItem], size: int) -> Iterator[list[BulkItem]]:
    chunk: list[BulkItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
