"""A readable trail: the entries of a subject, a case or a department, each proven.

Every entry shown is also checked against the latest signed checkpoint: its leaf is
recomputed from its fields and its inclusion proof verified, so the trail printed is
the trail the exchange signed (archived entries included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exchange.audit.leaf import AuditEntry
from exchange.audit.query import EntryFilter, Scope, search
from signing.errors import MerkleProofError
from signing.merkle import verify_inclusion

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = ["Trail", "trail"]


@dataclass(frozen=True)
class Trail:
    """The entries found and how many of them were proven in the latest checkpoint."""

    entries: list[AuditEntry]
    checkpoint_size: int | None
    proven: int
    failed: list[int]

    def summary(self) -> str:
        if not self.entries:
            return "no entries"
        if self.checkpoint_size is None:
            return f"{len(self.entries)} entries; no signed checkpoint yet"
        text = (
            f"{len(self.entries)} entries; {self.proven} proven in the signed checkpoint of size "
            f"{self.checkpoint_size} (leaf recomputed, inclusion proof verified)"
        )
        pending = len(self.entries) - self.proven - len(self.failed)
        if pending:
            text += f"; {pending} newer than it"
        if self.failed:
            text += f"; NOT in the signed tree: {', '.join(map(str, self.failed))}"
        return text


def trail(
    exchange: Exchange,
    *,
    subject: str | None = None,
    case: str | None = None,
    dept: str | None = None,
    limit: int = 1000,
) -> Trail:
    """Entries about ``subject``, of ``case`` or by ``dept`` (all that are given)."""
    subject_hash = exchange.audit.find_subject_hash(subject) if subject else None
    if subject and subject_hash is None:
        return Trail([], None, 0, [])
    found = search(
        exchange.store,
        EntryFilter(subject_hash=subject_hash, case_no=case, actor=dept),
        Scope.everything(),
        limit=limit,
        archived=True,
    )
    latest = exchange.checkpoints.latest()
    proven, failed = 0, []
    for stored in found:
        entry = stored.entry
        if latest is None or entry.seq >= latest.size:
            continue
        proof = exchange.audit.inclusion_proof(entry.seq, latest.size)
        try:
            verify_inclusion(entry.leaf_hash(), entry.seq, latest.size, proof, latest.root)
            proven += 1
        except MerkleProofError:
            failed.append(entry.seq)
    return Trail([s.entry for s in found], None if latest is None else latest.size, proven, failed)
