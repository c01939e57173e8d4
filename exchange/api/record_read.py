"""The single-record read as one contract: one parser, one authorisation, one renderer.

``GET /v1/resources/{code}/records/{key}?purpose=…&case=…`` is served by two front
doors: the FastAPI route (:func:`exchange.api.routes.records.read_record`) and the hot
path (:mod:`exchange.api.middleware.fastread`, README Performance P3). Both go through the
functions here, so a rule added for one is a rule for the other:

- :data:`READ_PATH` — the path both match (the route registers it, the hot path
  compiles it with Starlette's own ``compile_path``);
- :func:`bearer_token` — the ``Authorization: Bearer`` parsing (of :mod:`exchange.api.deps`,
  where every protected route's authentication uses it);
- :func:`authorise_read` — the reader role check, and the person (``act``) where the
  department requires it (``require_act``);
- :func:`parse_read` — the parameter rules (purpose, case number), giving a
  :class:`RecordRead`;
- :func:`answer_read` — the read itself and its rendering to JSON bytes.

The hot path hands every request it cannot parse or authorise to the route, which then
answers with the same functions (``signing/canonical.py`` is the model: one function,
a fallback, a property test that the two agree —
``tests/exchange/api/middleware/test_fastread.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import Depends

from exchange.api.deps import CurrentDept, ExchangeDep, bearer_token, check_reader
from exchange.departments.auth import Principal
from exchange.errors import InvalidRequest
from exchange.records.query import CASE_PATTERN, RecordPublic
from exchange.service import Exchange
from schemas.errors import ErrorCode
from schemas.text import clean_text

__all__ = [
    "MEDIA_TYPE",
    "PURPOSE_MAX",
    "READ_PATH",
    "READ_ROUTE",
    "RecordRead",
    "answer_read",
    "authorise_read",
    "bearer_token",
    "check_purpose",
    "parse_read",
]

API_PREFIX = "/v1"
READ_ROUTE = "/resources/{code}/records/{key}"  # under the records router's /v1 prefix
READ_PATH = API_PREFIX + READ_ROUTE
PURPOSE_MAX = 200
MEDIA_TYPE = "application/json"
_CASE = re.compile(CASE_PATTERN.removeprefix("^").removesuffix("$"))


@dataclass(frozen=True, slots=True)
class RecordRead:
    """A well-formed read: which record, for which purpose (事项) and case (办件编号)."""

    code: str
    key: str
    purpose: str
    case_no: str
    version: int | None = None  # major version of the resource's schema; None: the latest


def check_purpose(purpose: str, case_no: str) -> None:
    """The rules of a read's purpose and case number (every read route applies them)."""
    if not 1 <= len(purpose) <= PURPOSE_MAX:
        raise InvalidRequest(
            f"purpose must be 1 to {PURPOSE_MAX} characters (事项 code or reason of the read)",
            code=ErrorCode.INVALID_PURPOSE,
        )
    clean_text(purpose, "purpose")
    if not _CASE.fullmatch(case_no):
        raise InvalidRequest(
            "case (办件编号, case number) must be 1 to 64 letters, digits and ._:/- "
            "starting with a letter or digit",
            code=ErrorCode.INVALID_CASE_NUMBER,
        )


def parse_read(
    code: str, key: str, purpose: str, case_no: str, version: int | None = None
) -> RecordRead:
    """The read the parameters ask for; raises :class:`InvalidRequest` (422) if they break
    a rule."""
    check_purpose(purpose, case_no)
    return RecordRead(code, key, purpose, case_no, version)


def authorise_read(exchange: Exchange, principal: Principal) -> Principal:
    """The caller, if it may read shared records; raises Forbidden (403) otherwise: without
    a reader role, or without the person (``act``) its department requires on reads."""
    return check_reader(exchange, principal)


async def _reader(principal: CurrentDept, exchange: ExchangeDep) -> Principal:
    return authorise_read(exchange, principal)


ReadPrincipal = Annotated[Principal, Depends(_reader)]


async def answer_read(exchange: Exchange, principal: Principal, read: RecordRead) -> bytes:
    """Read the record (audited by the reader) and render it as the JSON body of the answer."""
    record: RecordPublic = await exchange.reader.read_async(
        principal.uscc,
        read.code,
        read.key,
        purpose=read.purpose,
        case_no=read.case_no,
        version=read.version,
    )
    # serialise once with orjson instead of re-validating the response model
    return orjson.dumps(record.model_dump())
