"""E-certificates: issue, read, look up by holder, change status, status lists, verify."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from exchange.api.deps import (
    Approver,
    CurrentDept,
    ExchangeDep,
    Publisher,
    Reader,
    protected_router,
)
from exchange.certificates.intake import (
    VERIFY_QUEUE,
    VERIFY_WORKERS,
    VerifierBusy,
    credential_text_limits,
)
from exchange.certificates.models import (
    CertificatePublic,
    CertificateRequest,
    CertificatesPublic,
    StatusChange,
)
from exchange.certificates.qr import QR_PREFIX, credential_from_qr_text
from exchange.certificates.verifier import Verdict
from exchange.records.query import CASE_PATTERN
from schemas.base import StrictModel

__all__ = ["router"]

protected = protected_router("/v1", ["certificates"])
public = APIRouter(tags=["certificates"])


class CheckPublic(StrictModel):
    name: str
    passed: bool
    reason: str | None


class VerdictPublic(StrictModel):
    valid: bool
    credential_id: str | None
    issuer: str | None
    type: str | None
    checks: list[CheckPublic]


@protected.post(
    "/certificates",
    summary="Issue a certificate of a type your department is competent for",
    status_code=201,
)
def issue(
    request: CertificateRequest, exchange: ExchangeDep, principal: Publisher
) -> CertificatePublic:
    return exchange.certificates.issue(principal.uscc, request)


@protected.get(
    "/certificates",
    summary="An approver looks up a holder's certificates (purpose and case required, audited)",
)
def lookup(
    exchange: ExchangeDep,
    principal: Approver,
    holder: Annotated[
        str, Query(min_length=1, max_length=64, description="holder code: ID number or USCC")
    ],
    purpose: Annotated[str, Query(min_length=1, max_length=200, description="事项 or purpose")],
    case_no: Annotated[str, Query(alias="case", pattern=CASE_PATTERN, description="办件编号")],
    type: Annotated[
        str | None, Query(max_length=64, description="certificate type code, e.g. resident_id_card")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CertificatesPublic:
    return exchange.certificates.lookup(
        principal, holder, type, purpose=purpose, case_no=case_no, limit=limit
    )


@protected.get(
    "/certificates/{certificate_id}",
    summary="One certificate: its issuer, or an approver with purpose and case (audited)",
)
def read(
    certificate_id: str,
    exchange: ExchangeDep,
    principal: CurrentDept,
    purpose: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    case_no: Annotated[str | None, Query(alias="case", pattern=CASE_PATTERN)] = None,
) -> CertificatePublic:
    return exchange.certificates.read(principal, certificate_id, purpose=purpose, case_no=case_no)


@protected.post(
    "/certificates/{certificate_id}/status",
    summary="Revoke, suspend or resume a certificate you issued (reason required, audited)",
)
def change_status(
    certificate_id: str, change: StatusChange, exchange: ExchangeDep, principal: Publisher
) -> CertificatePublic:
    return exchange.certificates.change_status(principal.uscc, certificate_id, change)


@protected.post(
    "/verify",
    summary="Verify a credential: one result per check (proof, issuer chain, validity, "
    "status, schema, identifier); audited",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/plain": {"schema": {"type": "string", "description": "GX1: QR text"}},
            },
        }
    },
)
async def verify(request: Request, exchange: ExchangeDep, principal: Reader) -> VerdictPublic:
    body = await request.body()
    credential: Any = body
    if body.lstrip().startswith(QR_PREFIX.encode()):
        credential = credential_from_qr_text(body.decode("ascii", "replace"))
    else:
        credential_text_limits(body)  # 413 / 422 before anything parses it
    # parse_strict inside refuses duplicate keys, NaN and unsafe integers in the text
    pool = _verify_pool(request)
    verdict = await pool.run(exchange.certificates.verify, principal.uscc, credential)
    return VerdictPublic.model_validate(verdict.to_json())


class _VerifyPool:
    """At most ``workers`` verifications in threads, ``queue`` more waiting; then 503."""

    def __init__(self, workers: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(workers)
        self._limit = workers + queue
        self._admitted = 0

    async def run(self, fn: Callable[..., Verdict], *args: Any) -> Verdict:
        if self._admitted >= self._limit:
            raise VerifierBusy(
                f"{self._limit} verifications are running or waiting; try again shortly"
            )
        self._admitted += 1
        try:
            async with self._slots:
                return await run_in_threadpool(fn, *args)
        finally:
            self._admitted -= 1


def _verify_pool(request: Request) -> _VerifyPool:
    """The app's verification pool (one per app: its semaphore belongs to its event loop)."""
    pool: _VerifyPool | None = getattr(request.app.state, "verify_pool", None)
    if pool is None:
        pool = _VerifyPool(VERIFY_WORKERS, VERIFY_QUEUE)
        request.app.state.verify_pool = pool
    return pool


# Public on purpose: verifiers anywhere must fetch status lists without an account
# (W3C Bitstring Status List). A list reveals nothing by itself: it is a bitstring of
# at least 131,072 random positions, and only the holder of a credential knows which
# position is theirs (herd privacy). It is signed, so it cannot be forged in transit.
@public.get(
    "/v1/status-lists/{n}",
    summary="A signed Bitstring Status List credential (public; cache for its ttl)",
)
def status_list(n: int, exchange: ExchangeDep) -> JSONResponse:
    credential = exchange.certificates.status_list_credential(n)
    ttl = int(exchange.certificates.ttl.total_seconds())
    return JSONResponse(credential, headers={"Cache-Control": f"public, max-age={ttl}"})


router = APIRouter()
router.include_router(protected)
router.include_router(public)
