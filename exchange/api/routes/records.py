"""Publish sealed batches; read shared records for a purpose and a case."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Query, Response

from exchange.api.deps import ExchangeDep, Publisher, Reader, protected_router
from exchange.bus.models import BatchIn, IngestResult
from exchange.errors import InvalidRequest
from exchange.records.query import CASE_PATTERN, RecordPublic, RecordsPublic
from schemas.errors import ErrorCode

router = protected_router("/v1", ["records"])

Purpose = Annotated[
    str,
    Query(min_length=1, max_length=200, description="事项 code or purpose of the read (required)"),
]
Case = Annotated[
    str,
    Query(
        alias="case",
        pattern=CASE_PATTERN,
        description="办件编号: the case this read serves (required)",
    ),
]

Version = Annotated[
    int | None,
    Query(
        ge=1,
        le=999_999,
        description="major version of the resource's schema you read (default: the latest); "
        "each record names the version it was validated against, and a record of another "
        "major version is answered as stored",
    ),
]


@router.post(
    "/records", summary="Publish a sealed batch of records of a resource you own", status_code=200
)
def publish(batch: BatchIn, exchange: ExchangeDep, principal: Publisher) -> IngestResult:
    limit = exchange.settings.api.max_batch_records
    if len(batch.records) > limit:
        raise InvalidRequest(
            f"a batch holds at most {limit} records; split it", code=ErrorCode.PAYLOAD_TOO_LARGE
        )
    result = exchange.ingestor.ingest(batch, principal.uscc, source="http")
    if result.quarantined and all(
        q.reason_code == ErrorCode.INVALID_SEAL.value for q in result.quarantined
    ):
        raise InvalidRequest(
            f"batch refused and quarantined: {result.quarantined[0].reason}",
            code=ErrorCode.INVALID_SEAL,
            extra={"batch_id": result.batch_id, "quarantined": len(result.quarantined)},
        )
    return result


@router.get(
    "/resources/{code}/records/{key}",
    summary="Read one record (purpose and case required)",
    response_model=RecordPublic,
)
async def read_record(
    code: str,
    key: str,
    purpose: Purpose,
    case_no: Case,
    exchange: ExchangeDep,
    principal: Reader,
    version: Version = None,
) -> Response:
    record = await exchange.reader.read_async(
        principal.uscc, code, key, purpose=purpose, case_no=case_no, version=version
    )
    # the hot path: serialise once with orjson instead of re-validating the model
    return Response(orjson.dumps(record.model_dump()), media_type="application/json")


@router.get("/resources/{code}/records", summary="Records about one person or company")
def records_by_subject(
    code: str,
    exchange: ExchangeDep,
    principal: Reader,
    purpose: Purpose,
    case_no: Case,
    subject: Annotated[
        str, Query(min_length=1, max_length=64, description="ID number or USCC of the data subject")
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    version: Version = None,
) -> RecordsPublic:
    return exchange.reader.by_subject(
        principal.uscc,
        code,
        subject,
        purpose=purpose,
        case_no=case_no,
        limit=limit,
        version=version,
    )
