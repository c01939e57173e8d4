"""A readable trail: the entries of a subject, a case or a department, each proven.

Every entry shown is also checked against the latest signed checkpoint: its leaf is
recomputed from its fields and its inclusion proof verified, so the trail printed is
the trail the exchange signed (archived entries included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from exchange.audit.checkpoints import Checkpointer
from exchange.audit.leaf import AuditEntry
from exchange.audit.log import AuditLog
from exchange.audit.query import EntryFilter, Scope, search
from exchange.errors import ExchangeError
from signing.errors import SigningError
from signing.merkle import verify_inclusion

__all__ = ["Proof", "ProofSource", "Trail", "prove_entry", "trail"]

ProofSource = Sequence[bytes] | Callable[[int, int], Sequence[bytes]]
"""An inclusion proof already at hand, or where to get one: ``(index, size) -> hashes``
(:meth:`exchange.audit.log.AuditLog.inclusion_proof`)."""


@dataclass(frozen=True)
class Proof:
    """Whether an entry is proven in a signed checkpoint: verified, failed (why), or
    pending (newer than the checkpoint)."""

    status: Literal["verified", "failed", "pending"]
    reason: str | None = None


def prove_entry(
    entry: AuditEntry,
    size: int,
    root: bytes,
    proof: ProofSource,
    *,
    leaf_hash: bytes | None = None,
) -> Proof:
    """Prove one entry against the signed checkpoint of ``size`` entries with ``root``.

    The leaf is recomputed from the entry's own fields (so an edited entry is caught),
    compared with ``leaf_hash`` (the hash stored beside it) when given, and its RFC 6962
    inclusion proof is verified against ``root``. The checkpoint's signature is the
    caller's to check before.
    """
    seq = entry.seq
    if seq >= size:
        return Proof("pending", f"newer than the checkpoint (size {size})")
    leaf = entry.leaf_hash()
    if leaf_hash is not None and leaf != leaf_hash:
        return Proof("failed", "the entry's content does not hash to its stored leaf")
    try:
        path = proof(seq, size) if callable(proof) else proof
        verify_inclusion(leaf, seq, size, path, root)
    except (SigningError, ExchangeError) as exc:
        return Proof("failed", exc.message)
    return Proof("verified", f"leaf {seq} of {size}, {len(path)} hashes")


@dataclass(frozen=True)
class Trail:
    """The entries found and how many of them were proven in the latest checkpoint."""

    entries: list[AuditEntry]
    checkpoint_size: int | None
    proven: int
    failed: list[int]
    more: bool = False  # older entries exist beyond the limit

    def summary(self) -> str:
        if not self.entries:
            return "no entries"
        older = "; older entries not shown (raise the limit)" if self.more else ""
        if self.checkpoint_size is None:
            return f"{len(self.entries)} entries; no signed checkpoint yet{older}"
        text = (
            f"{len(self.entries)} entries; {self.proven} proven in the signed checkpoint of size "
            f"{self.checkpoint_size} (leaf recomputed, inclusion proof verified)"
        )
        pending = len(self.entries) - self.proven - len(self.failed)
        if pending:
            text += f"; {pending} newer than it"
        if self.failed:
            text += f"; NOT in the signed tree: {', '.join(map(str, self.failed))}"
        return text + older


def trail(
    log: AuditLog,
    checkpoints: Checkpointer,
    *,
    subject: str | None = None,
    case: str | None = None,
    dept: str | None = None,
    limit: int = 1000,
) -> Trail:
    """Entries about ``subject``, of ``case`` or by ``dept`` (all that are given): the
    newest ``limit`` of them, oldest first (``more`` tells whether older ones exist)."""
    subject_hash = log.find_subject_hash(subject) if subject else None
    if subject and subject_hash is None:
        return Trail([], None, 0, [])
    found = search(
        log.store,
        EntryFilter(subject_hash=subject_hash, case_no=case, actor=dept),
        Scope.everything(),
        limit=limit + 1,
        archived=True,
        newest_first=True,
    )
    more = len(found) > limit
    found = found[:limit][::-1]
    latest = checkpoints.latest()
    proven, failed = 0, []
    if latest is not None:
        for stored in found:
            proof = prove_entry(
                stored.entry,
                latest.size,
                latest.root,
                log.inclusion_proof,
                leaf_hash=stored.leaf_hash,
            )
            if proof.status == "verified":
                proven += 1
            elif proof.status == "failed":
                failed.append(stored.entry.seq)
    size = None if latest is None else latest.size
    return Trail([s.entry for s in found], size, proven, failed, more)
