"""Audited reads of the audit log: entry search and the "who used my data" report.

The API and the console both answer through :class:`AuditReports`, so both apply the
same visibility (:class:`exchange.audit.query.Scope`) and both leave the same audit
entry (``audit.read``, ``audit.subject_report``) before anything is answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from exchange.audit.checkpoints import Checkpointer, StoredCheckpoint
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.query import EntryFilter, Scope, StoredEntry, search
from exchange.store import Store
from schemas.catalog import Role

if TYPE_CHECKING:  # the log sits below the departments, which write into it
    from exchange.departments.auth import Principal

__all__ = ["AuditReports", "EntryPage", "SubjectAccesses", "View"]

View = Literal["actions", "data"]


@dataclass(frozen=True)
class EntryPage:
    entries: list[StoredEntry]
    tree_size: int
    next_offset: int | None


@dataclass(frozen=True)
class SubjectAccesses:
    """Entries about one subject, each with its inclusion proof in ``checkpoint``."""

    subject_hash: str
    checkpoint: StoredCheckpoint
    accesses: list[tuple[StoredEntry, list[bytes]]]


class AuditReports:
    def __init__(self, store: Store, audit: AuditLog, checkpoints: Checkpointer) -> None:
        self.store = store
        self.audit = audit
        self.checkpoints = checkpoints

    @staticmethod
    def scope(principal: Principal, view: View) -> Scope:
        if principal.has(Role.AUDITOR):
            return Scope.everything()
        if view == "data":
            return Scope.data_of(principal.uscc)
        return Scope.actions_of(principal.uscc)

    def entries(
        self,
        principal: Principal,
        *,
        subject: str | None = None,
        dept: str | None = None,
        case: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        view: View = "actions",
        limit: int = 100,
        offset: int = 0,
    ) -> EntryPage:
        """Search the entries ``principal`` may see; the search itself is audited first."""
        filters = {"dept": dept, "case": case, "action": action, "view": view}
        self.audit.append(
            AuditEvent(
                actor=principal.uscc,
                action="audit.read",
                outcome="ok",
                target="entries",
                subject=subject,
                detail={k: v for k, v in filters.items() if v is not None},
            )
        )
        subject_hash = self.audit.find_subject_hash(subject) if subject else None
        found = search(
            self.store,
            EntryFilter(
                subject_hash=subject_hash,
                actor=dept,
                case_no=case,
                action=action,
                since=since,
                until=until,
            ),
            self.scope(principal, view),
            limit=limit,
            offset=offset,
        )
        return EntryPage(
            entries=found,
            tree_size=self.audit.size,
            next_offset=offset + limit if len(found) == limit else None,
        )

    def subject_accesses(
        self,
        principal: Principal,
        subject: str,
        *,
        view: View = "data",
        limit: int = 200,
        offset: int = 0,
    ) -> SubjectAccesses:
        """Every entry about ``subject`` with its proof in a checkpoint signed now."""
        self.audit.append(
            AuditEvent(
                actor=principal.uscc,
                action="audit.subject_report",
                outcome="ok",
                target="subject",
                subject=subject,
            )
        )
        subject_hash = self.audit.subject_hash(subject)
        signed = self.checkpoints.sign_now()  # covers every entry so far, this one included
        found = search(
            self.store,
            EntryFilter(subject_hash=subject_hash, end_seq=signed.size),
            self.scope(principal, view),
            limit=limit,
            offset=offset,
        )
        return SubjectAccesses(
            subject_hash=subject_hash,
            checkpoint=signed,
            accesses=[(e, self.audit.inclusion_proof(e.entry.seq, signed.size)) for e in found],
        )
