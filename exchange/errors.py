"""Errors of the exchange.

Exception tree (each carries a stable ``code`` and an HTTP ``status``; classes defined
outside this module name their module)::

    ExchangeError
    ├── NotInitialised        503: the data directory holds no exchange (run govex init)
    ├── StoreLocked           503: another exchange process owns the data directory
    ├── StoreUnavailable      503: the data directory or its database cannot be used
    ├── AuthError             401: missing, malformed, forged or expired credentials
    │   └── CredentialsRefused  client: the exchange refused a department's assertion
    ├── Forbidden             403: authenticated, but not allowed (role, grant, ownership)
    ├── NotFound              404
    ├── Conflict              409
    ├── InvalidRequest        422: a well-formed request that breaks a rule
    │   ├── QrError           certificates.qr: QR text that is not a govex credential
    │   └── CredentialTooDeep  certificates.intake: a credential nested too deep
    ├── MethodNotAllowed      405: e.g. an ID number sent in a URL (use the POST form)
    ├── PayloadTooLarge       413
    │   └── CredentialTooLarge  certificates.intake: a credential over its size cap
    ├── RateLimited           429: too many attempts (sign-in); try again later
    ├── AuditUnavailable      503: the audit writer failed; no data is served (fail closed)
    │   └── AuditDiskFull     503: the log's disk is below its free-space floor
    ├── Internal              500: a failure of the exchange itself, not of the request
    ├── TrustError            certificates.vocabulary: an unusable trust bundle or status source
    ├── CertificateRefused    certificates.verifier: a certificate that failed a check
    ├── VerifierBusy          certificates.intake, 503: every verification worker is busy
    ├── AuditExportInvalid    audit.verify: an audit export that does not verify
    ├── PoisonMessage         bus.message: a bus message that can never be ingested
    ├── SignInOff             web.oidc_client, 404: no identity provider for citizens configured
    ├── RemoteProblem         admin.channel: an operation refused at the other end of a channel
    ├── NodeBehind            cluster.plane, 503: this node has not applied a control offset yet
    └── ControlUnavailable    cluster.plane, 503: a control event could not be published

Only ``exchange/api/errors.py`` turns these into RFC 9457 problem+json.
"""

from __future__ import annotations

from typing import Any

from schemas.errors import ErrorCode

__all__ = [
    "AuditDiskFull",
    "AuditUnavailable",
    "AuthError",
    "Conflict",
    "ExchangeError",
    "Forbidden",
    "Internal",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "NotInitialised",
    "PayloadTooLarge",
    "RateLimited",
    "StoreLocked",
    "StoreUnavailable",
]


class ExchangeError(Exception):
    """Root of the errors raised by ``exchange``."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST
    status: int = 400
    title: str = "Bad request"

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.extra = extra or {}

    @property
    def message(self) -> str:
        return str(self.args[0])


class NotInitialised(ExchangeError):
    code = ErrorCode.STORE_NOT_INITIALISED
    status = 503
    title = "Exchange not initialised"


class StoreLocked(ExchangeError):
    code = ErrorCode.STORE_LOCKED
    status = 503
    title = "Data directory in use"


class StoreUnavailable(ExchangeError):
    code = ErrorCode.STORE_UNAVAILABLE
    status = 503
    title = "Data directory unusable"


class AuthError(ExchangeError):
    code = ErrorCode.UNAUTHENTICATED
    status = 401
    title = "Unauthenticated"


class Forbidden(ExchangeError):
    code = ErrorCode.FORBIDDEN
    status = 403
    title = "Forbidden"


class NotFound(ExchangeError):
    code = ErrorCode.NOT_FOUND
    status = 404
    title = "Not found"


class Conflict(ExchangeError):
    code = ErrorCode.CONFLICT
    status = 409
    title = "Conflict"


class InvalidRequest(ExchangeError):
    code = ErrorCode.INVALID_REQUEST
    status = 422
    title = "Invalid request"


class MethodNotAllowed(ExchangeError):
    code = ErrorCode.METHOD_NOT_ALLOWED
    status = 405
    title = "Method not allowed"


class PayloadTooLarge(ExchangeError):
    code = ErrorCode.PAYLOAD_TOO_LARGE
    status = 413
    title = "Payload too large"


class RateLimited(ExchangeError):
    code = ErrorCode.RATE_LIMITED
    status = 429
    title = "Too many requests"


class AuditUnavailable(ExchangeError):
    code = ErrorCode.AUDIT_UNAVAILABLE
    status = 503
    title = "Audit log unavailable"


class Internal(ExchangeError):
    code = ErrorCode.INTERNAL
    status = 500
    title = "Internal error"


class AuditDiskFull(AuditUnavailable):
    """Free space below the audit log's floor: no new work until space is back."""

    code = ErrorCode.AUDIT_DISK_FULL
    title = "Audit log disk full"
