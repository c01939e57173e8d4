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
from exchange.audit.query import EntryFilter, Scope, StoredEntry, count, search
from exchange.store import Store
from schemas.catalog import Role

if TYPE_CHECKING:  # the log sits below the departments, which write into it
    from exchange.departments.auth import Principal

__all__ = ["AuditReports", "EntryPage", "Kind", "SubjectAccesses", "View"]

View = Literal["actions", "data"]
Kind = Literal["reads", "lookups"]


@dataclass(frozen=True)
class EntryPage:
    entries: list[StoredEntry]
    tree_size: int
    next_offset: int | None
    matched: int | None = None  # how many entries match in all (when asked for)


@dataclass(frozen=True)
class SubjectAccesses:
    """Entries about one subject, newest first, each with its inclusion proof in
    ``checkpoint`` (an empty proof: newer than the checkpoint, proven at the next one).

    ``subject_hash`` is ``None`` when the exchange never met the subject (no entry is
    about it); ``next_before`` is the cursor of the next (older) page, ``None`` at the end.
    """

    subject_hash: str | None
    checkpoint: StoredCheckpoint
    accesses: list[tuple[StoredEntry, list[bytes]]]
    next_before: int | None = None


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
        page_views: bool | None = None,
        newest: bool = False,
    ) -> EntryPage:
        """Search the entries ``principal`` may see; the search itself is audited first.

        ``page_views=False`` leaves out the console's page loads; ``newest`` answers the
        last page (``offset`` counted back from the number of matches, which it reports).
        A subject the exchange never met has no entries: the answer is empty, and no salt
        is drawn for it (a search is no reason to remember a subject)."""
        filters: dict[str, str | bool | None] = {
            "dept": dept,
            "case": case,
            "action": action,
            "view": view,
        }
        if page_views is not None:
            filters["page_views"] = page_views
        subject_hash = self.audit.find_subject_hash(subject) if subject else None
        self.audit.append(
            AuditEvent(
                actor=principal.uscc,
                action="audit.read",
                outcome="ok",
                target="entries",
                subject_hash=subject_hash,
                detail={k: v for k, v in filters.items() if v is not None},
            )
        )
        if subject and subject_hash is None:
            return EntryPage(entries=[], tree_size=self.audit.size, next_offset=None)
        flt = EntryFilter(
            subject_hash=subject_hash,
            actor=dept,
            case_no=case,
            action=action,
            since=since,
            until=until,
            page_views=page_views,
        )
        scope = self.scope(principal, view)
        matched = count(self.store, flt, scope) if newest else None
        if matched is not None:
            offset = max(0, matched - limit)
        found = search(self.store, flt, scope, limit=limit, offset=offset)
        return EntryPage(
            entries=found,
            tree_size=self.audit.size,
            next_offset=offset + limit if len(found) == limit and not newest else None,
            matched=matched,
        )

    def subject_accesses(
        self,
        principal: Principal,
        subject: str,
        *,
        view: View = "data",
        limit: int = 200,
        offset: int = 0,
        before: int | None = None,
        kind: Kind = "reads",
    ) -> SubjectAccesses:
        """Entries about ``subject``, newest first, each proven in the latest checkpoint.

        ``kind="reads"``: what was done with the subject's data (every action but the
        log's own reads); ``kind="lookups"``: who looked the subject up in the log
        (``audit.*`` entries, this report's own included). ``before`` (a sequence number,
        exclusive) pages back: pass the answer's ``next_before``.

        A report costs one entry and nothing else: it draws no salt for a subject the
        exchange never met and signs no checkpoint (the latest one, signed on the
        checkpoint schedule, proves the entries it covers; newer ones come with an empty
        proof). Only a log that was never checkpointed gets its first checkpoint here.
        """
        return self._report(
            principal.uscc,
            self.scope(principal, view),
            subject,
            limit=limit,
            offset=offset,
            before=before,
            kind=kind,
        )

    def own_accesses(
        self, actor: str, subject: str, *, limit: int = 200, before: int | None = None
    ) -> SubjectAccesses:
        """A data subject's own report (the citizen's view): every entry about ``subject``
        (every department's), answered and audited exactly like :meth:`subject_accesses`
        but with ``actor`` naming who the subject signed in as."""
        return self._report(actor, Scope.everything(), subject, limit=limit, before=before)

    def _report(
        self,
        actor: str,
        scope: Scope,
        subject: str,
        *,
        limit: int,
        offset: int = 0,
        before: int | None = None,
        kind: Kind = "reads",
    ) -> SubjectAccesses:
        subject_hash = self.audit.find_subject_hash(subject)
        self.audit.append(
            AuditEvent(
                actor=actor,
                action="audit.subject_report",
                outcome="ok",
                target="subject",
                subject_hash=subject_hash,
                detail={"kind": kind},
            )
        )
        signed = self.checkpoints.latest() or self.checkpoints.sign_now()
        if subject_hash is None:
            return SubjectAccesses(None, signed, [])
        found = search(
            self.store,
            EntryFilter(subject_hash=subject_hash, end_seq=before, audit_actions=kind == "lookups"),
            scope,
            limit=limit + 1,
            offset=offset,
            newest_first=True,
        )
        more = len(found) > limit
        found = found[:limit]
        return SubjectAccesses(
            subject_hash=subject_hash,
            checkpoint=signed,
            accesses=[(e, self._proof(e, signed.size)) for e in found],
            next_before=found[-1].entry.seq if more else None,
        )

    def _proof(self, stored: StoredEntry, size: int) -> list[bytes]:
        seq = stored.entry.seq
        return self.audit.inclusion_proof(seq, size) if seq < size else []
