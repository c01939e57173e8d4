"""Who a case is about, for the audit log: its applicants' keyed hashes, and re-reads.

A case names its applicants (申请人); the bundle keeps only their masked identifiers.
When the case is resolved, the keyed hashes of their identifiers (never the identifiers)
are kept in ``case_subjects``, written in the transaction of the ``case.resolve`` entry.
Every later read of the bundle (``GET /v1/cases/{no}``, the console's case page and
bundle download) is a ``case.read`` entry with the case number and every applicant as
its subjects, so each applicant's "who used my data" report and the case's trail show it.
"""

from __future__ import annotations

from typing import Any

from exchange.audit.log import AuditEvent, AuditLog
from exchange.departments.auth import Principal
from exchange.store import Store

__all__ = ["applicant_hashes", "audit_case_read", "store_applicants"]


def applicant_hashes(audit: AuditLog, identifiers: list[str]) -> list[str]:
    """The keyed hashes of the applicants' identifiers, each once, in order."""
    return list(dict.fromkeys(audit.subject_hash(i) for i in identifiers))


def store_applicants(cur: Any, approver: str, case_no: str, hashes: list[str]) -> None:
    """Keep a case's applicant hashes (inside the case's own transaction)."""
    cur.executemany(
        "INSERT INTO case_subjects VALUES (?, ?, ?)", [[approver, case_no, h] for h in hashes]
    )


def audit_case_read(
    audit: AuditLog, store: Store, reader: Principal, approver: str, case_no: str, matter: str
) -> int:
    """Write the ``case.read`` entry of one re-read of a bundle; return its seq."""
    hashes = [
        str(r[0])
        for r in store.fetchall(
            "SELECT subject_hash FROM case_subjects WHERE approver = ? AND case_no = ?",
            [approver, case_no],
        )
    ]
    seq, _ = audit.append(
        AuditEvent(
            actor=reader.uscc,
            action="case.read",
            outcome="ok",
            target=matter,
            case_no=case_no,
            subject_hashes=hashes,
            detail={"approver": approver},
        )
    )
    return seq
