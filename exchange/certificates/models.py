"""The certificate service's wire models: requests, public views, bulk items and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from schemas.base import StrictModel

__all__ = [
    "BulkItem",
    "BulkResult",
    "CertificatePublic",
    "CertificateRequest",
    "CertificateStatus",
    "CertificatesPublic",
    "StatusAction",
    "StatusChange",
]


class CertificateStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class StatusAction(StrEnum):
    REVOKE = "revoke"
    SUSPEND = "suspend"
    RESUME = "resume"


class CertificateRequest(StrictModel):
    """What a department sends to issue one certificate."""

    type: str = Field(max_length=64, description="certificate type code, e.g. resident_id_card")
    subject: dict[str, Any] = Field(max_length=256, description="the holder's fields")
    valid_from: date | None = None
    valid_until: date | None = None


class StatusChange(StrictModel):
    """Revoke, suspend or resume a certificate, with the reason (audited)."""

    action: StatusAction
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class CertificatePublic(StrictModel):
    """A stored certificate: its current status and the signed credential."""

    id: str
    type: str
    issuer: str
    holder_name: str
    holder_code: str
    status: CertificateStatus
    status_reason: str | None = None
    issued_at: datetime
    credential: dict[str, Any]


class CertificatesPublic(StrictModel):
    data: list[CertificatePublic]
    count: int


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One certificate of a bulk issuance; ``line`` is where it came from (for refusals)."""

    line: int
    subject: dict[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass
class BulkResult:
    issued: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
