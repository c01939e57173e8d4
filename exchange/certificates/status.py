"""Certificate status: revoke, suspend, resume; and withdrawing a cert key.

Revoke, suspend and resume flip bits of the live status lists; the online verifier reads
those lists directly, so a change takes effect at once. ``GET /v1/status-lists/{n}``
serves each list signed (see :mod:`exchange.certificates.status_lists`), with a TTL hint
and a ``validUntil`` one day ahead: an offline verifier uses a snapshot until then and
refuses afterwards (fail closed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import duckdb

from exchange import moment
from exchange.audit.log import AuditEvent, AuditLog
from exchange.certificates.models import (
    CertificatePublic,
    CertificateStatus,
    StatusAction,
    StatusChange,
)
from exchange.certificates.register import CertificateRegister, valid_id
from exchange.certificates.status_lists import PublishedLists
from exchange.certificates.trust import KeyRevocation
from exchange.certificates.vocabulary import certificate_id_of
from exchange.departments.registry import KeyState, Registry
from exchange.errors import Conflict, ExchangeError, Forbidden, NotFound
from schemas.errors import ErrorCode

__all__ = ["StatusChanges"]


class StatusChanges:
    """Changes certificate status (issuer only) and withdraws cert keys (operator); audited."""

    def __init__(
        self,
        *,
        register: CertificateRegister,
        registry: Registry,
        audit: AuditLog,
        lists: Callable[[], PublishedLists],
        revocations: Mapping[str, KeyRevocation],
        lock: threading.RLock,
    ) -> None:
        self.register = register
        self.store = register.store
        self.registry = registry
        self.audit = audit
        self._lists = lists
        self._revocations = revocations
        self._lock = lock

    @property
    def lists(self) -> PublishedLists:
        return self._lists()

    def change_status(
        self, actor: str, certificate_id: str, change: StatusChange
    ) -> CertificatePublic:
        """Revoke, suspend or resume (issuer only); takes effect online at once; audited."""
        cid = certificate_id_of(certificate_id)
        event = AuditEvent(
            actor=actor,
            action=f"cert.{change.action.value}",
            outcome="ok",
            target=cid[:200],
            detail={"reason": change.reason},
        )
        with self._lock:
            try:
                valid_id(cid)
                row = self.store.fetchone(
                    "SELECT issuer, status, revocation_list, suspension_list, status_index, "
                    "holder_code FROM certificates WHERE id = ?",
                    [cid],
                )
                if row is None:
                    raise NotFound(f"no certificate {cid}")
                issuer, status, revocation, suspension, index, holder = row
                event.subject = holder
                if issuer != actor:
                    raise Forbidden(
                        "only the issuing department changes a certificate's status",
                        code=ErrorCode.NOT_OWNER,
                    )
                new_status, list_no, bit = _transition(
                    CertificateStatus(status), change.action, int(revocation), int(suspension)
                )
            except ExchangeError as exc:
                event.outcome, event.code = "refused", exc.code.value
                self.audit.append(event)
                raise
            bits = self.lists.bits_with(list_no, int(index), bit)
            now = moment.now()

            def work(cur: duckdb.DuckDBPyConnection) -> None:
                cur.execute(
                    "UPDATE certificates SET status = ?, status_reason = ?, status_changed_at = ? "
                    "WHERE id = ?",
                    [new_status.value, change.reason, now, cid],
                )
                cur.execute(
                    "UPDATE status_lists SET bits = ?, updated_at = ? WHERE list_no = ?",
                    [bits, now, list_no],
                )

            event.detail = {"reason": change.reason, "status": new_status.value, "list": list_no}
            self.audit.append(event, work)
            self.lists.apply(list_no, int(index), bit)
        return self.register.get(cid)

    def revoke_seal_key(self, actor: str, kid: str, reason: str) -> KeyRevocation:
        """Withdraw a cert key: proofs it makes from now on are refused (audited).

        Proofs made before verify with a note. The department lifecycle
        (:mod:`exchange.departments.lifecycle`) revokes keys of every purpose.
        """
        key = self.registry.key(kid, "cert")
        if key is None:
            raise NotFound(f"no registered cert key {kid}")
        if key.state is KeyState.REVOKED:
            raise Conflict(f"cert key {kid} is already revoked")
        at = moment.now()
        self.audit.append(
            AuditEvent(
                actor=actor,
                action="seal_key.revoke",
                outcome="ok",
                target=kid,
                detail={"reason": reason},
            ),
            lambda cur: self.registry.write_key_state(cur, key, KeyState.REVOKED, at, reason),
        )
        self.registry.reload()
        return self._revocations[kid]


def _transition(
    status: CertificateStatus, action: StatusAction, revocation: int, suspension: int
) -> tuple[CertificateStatus, int, bool]:
    """(new status, list to change, bit value) or :class:`Conflict`."""
    if status is CertificateStatus.REVOKED:
        raise Conflict("the certificate is revoked; revocation is final")
    if action is StatusAction.REVOKE:
        return CertificateStatus.REVOKED, revocation, True
    if action is StatusAction.SUSPEND:
        if status is CertificateStatus.SUSPENDED:
            raise Conflict("the certificate is already suspended")
        return CertificateStatus.SUSPENDED, suspension, True
    if status is not CertificateStatus.SUSPENDED:
        raise Conflict("only a suspended certificate can be resumed")
    return CertificateStatus.ACTIVE, suspension, False
