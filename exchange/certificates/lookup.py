"""Reading certificates: by id for the issuer or an approver, by holder for an approver.

Every read is audited with the purpose and the case it was made for.
"""

from __future__ import annotations

from exchange.audit.log import AuditEvent, AuditLog
from exchange.certificates.models import CertificatePublic, CertificatesPublic
from exchange.certificates.register import CertificateRegister, valid_id
from exchange.certificates.subjects import certificate_subjects
from exchange.certificates.vocabulary import certificate_id_of
from exchange.departments.auth import Principal
from exchange.errors import ExchangeError, Forbidden, InvalidRequest, NotFound
from schemas.catalog import Role
from schemas.certificates import certificate_type
from schemas.errors import ErrorCode, SchemaError
from schemas.identifiers import parse_certificate_id

__all__ = ["CertificateLookup"]


class CertificateLookup:
    """Audited reads of the certificate register."""

    def __init__(self, register: CertificateRegister, audit: AuditLog) -> None:
        self.register = register
        self.audit = audit

    def read(
        self, principal: Principal, certificate_id: str, *, purpose: str | None, case_no: str | None
    ) -> CertificatePublic:
        """A certificate for its issuer, or for an approver with a purpose and a case; audited."""
        cid = certificate_id_of(certificate_id)
        event = AuditEvent(
            actor=principal.uscc,
            action="cert.read",
            outcome="allowed",
            target=cid[:200],
            purpose=purpose,
            case_no=case_no,
        )
        try:
            issuer = parse_certificate_id(valid_id(cid)).issuer
            if issuer != principal.uscc:
                if not principal.has(Role.APPROVER):
                    raise Forbidden(
                        "only the issuer and approvers (with a purpose and a case) read a "
                        "certificate",
                        code=ErrorCode.FORBIDDEN,
                    )
                if not purpose or not case_no:
                    raise InvalidRequest(
                        "reading another department's certificate needs purpose and case",
                        code=ErrorCode.PURPOSE_REQUIRED,
                    )
            certificate = self.register.get(cid)
        except ExchangeError as exc:
            event.outcome = "not_found" if isinstance(exc, NotFound) else "refused"
            event.code = exc.code.value
            self.audit.append(event)
            raise
        event.subjects = _subjects(certificate)
        self.audit.append(event)
        return certificate

    def lookup(
        self,
        principal: Principal,
        holder: str,
        type_code: str | None,
        *,
        purpose: str,
        case_no: str,
        limit: int = 100,
    ) -> CertificatesPublic:
        """An approver's lookup of a holder's certificates for a case; audited."""
        event = AuditEvent(
            actor=principal.uscc,
            action="cert.lookup",
            outcome="allowed",
            target=type_code,
            subject=holder,
            purpose=purpose,
            case_no=case_no,
        )
        try:
            if type_code is not None:
                certificate_type(type_code)
            where, params = "holder_code = ?", [holder.strip().upper()]
            if type_code is not None:
                where += " AND type = ?"
                params.append(type_code)
            data = self.register.select(where, params, limit=limit)
        except (ExchangeError, SchemaError) as exc:
            event.outcome, event.code = "refused", exc.code.value
            self.audit.append(event)
            raise
        event.detail = {"count": len(data)}
        event.subjects = [s for c in data for s in _subjects(c)]
        self.audit.append(event)
        return CertificatesPublic(data=data, count=len(data))


def _subjects(certificate: CertificatePublic) -> list[str]:
    """Everyone a certificate names, for its read's audit entry (RELIABILITY D5)."""
    return certificate_subjects(certificate.type, certificate.holder_code, certificate.credential)
