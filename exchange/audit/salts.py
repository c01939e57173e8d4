"""Subject salts drawn once for a cluster (:mod:`exchange.audit.cluster`).

A node that meets a subject without a salt proposes one on the audit topic; every node's
replica applies the proposals in the topic's order and keeps the first for each subject,
so a subject hashes alike on every node ("who used my data" is the same everywhere).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from exchange.audit.subjects import SubjectKeys, normalise_subject
from exchange.errors import AuditUnavailable
from exchange.store import Store

if TYPE_CHECKING:
    from exchange.audit.cluster import ClusterAuditLog

__all__ = ["SharedSubjectKeys"]


class SharedSubjectKeys(SubjectKeys):
    """Salts drawn once for the cluster: proposed on the audit topic, first one wins."""

    def __init__(self, store: Store, key: bytes, log: ClusterAuditLog) -> None:
        super().__init__(store, key)
        self._log = log

    def hash(self, subject: str) -> str:
        found = self.find(subject)
        if found is not None:
            return found
        ref = self.ref(normalise_subject(subject))
        self._log.publish_salt(ref, secrets.token_bytes(32))
        found = self.find(subject)
        if found is None:
            raise AuditUnavailable("the subject's salt was not applied")
        return found

    def prefetch(self, subjects: list[str], *, create: bool = True) -> None:
        super().prefetch(subjects, create=False)  # new salts are the cluster's to draw

    def insert_if_absent(self, ref: str, salt: bytes) -> None:
        """Apply a salt proposal: kept only when the subject has no salt yet."""
        self.store.execute(
            "INSERT INTO audit_subject_salts SELECT ?, ?, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM audit_subject_salts WHERE ref = ?)",
            [ref, salt, datetime.now(UTC), ref],
        )
