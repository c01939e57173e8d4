"""Publish sealed batches; read shared records for a purpose and a case."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from exchange.api.deps import ExchangeDep, Publisher, Reader, protected_router
from exchange.api.record_read import (
    MEDIA_TYPE,
    PURPOSE_MAX,
    READ_ROUTE,
    ReadPrincipal,
    answer_read,
    check_purpose,
    parse_read,
)
from exchange.bus.models import BatchIn, IngestResult
from exchange.errors import InvalidRequest
from exchange.records.query import CASE_PATTERN, RecordPublic, RecordsPublic
from schemas.errors import ErrorCode

router = protected_router("/v1", ["records"])

# the rules are checked by exchange.api.record_read.check_purpose (the hot path's too);
# the schema below only documents them in the OpenAPI document
Purpose = Annotated[
    str,
    Query(
        description="事项 code or purpose of the read (required)",
        json_schema_extra={"minLength": 1, "maxLength": PURPOSE_MAX},
    ),
]
Case = Annotated[
    str,
    Query(
        alias="case",
        description="办件编号: the case this read serves (required)",
        json_schema_extra={"pattern": CASE_PATTERN},
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
    READ_ROUTE,
    summary="Read one record (purpose and case required)",
    response_model=RecordPublic,
)
async def read_record(
    code: str,
    key: str,
    purpose: Purpose,
    case_no: Case,
    exchange: ExchangeDep,
    principal: ReadPrincipal,
    version: Version = None,
) -> Response:
    # a thin adapter over exchange.api.record_read, which the hot path (fastread) calls too
    read = parse_read(code, key, purpose, case_no, version)
    return Response(await answer_read(exchange, principal, read), media_type=MEDIA_TYPE)


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
    check_purpose(purpose, case_no)
    return exchange.reader.by_subject(
        principal.uscc,
        code,
        subject,
        purpose=purpose,
        case_no=case_no,
        limit=limit,
        version=version,
    )
