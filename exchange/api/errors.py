"""The one place where exceptions become RFC 9457 problem+json responses.

Every refusal carries a stable ``code``; bad input is a 4xx, never a 5xx.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from exchange.boundary import translate
from exchange.errors import ExchangeError
from schemas.errors import ErrorCode, Problem, SchemaError
from schemas.text import INVALID_TEXT_TYPE
from signing.errors import SigningError

__all__ = [
    "PROBLEM_JSON",
    "VALIDATION_CODES",
    "exchange_error_response",
    "install_error_handlers",
    "internal_error_response",
    "problem_body",
    "problem_response",
    "unexpected_error_response",
]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("govex.api")


def problem_body(problem: Problem) -> bytes:
    """A problem's JSON body, for answers written without a response class."""
    return orjson.dumps(problem.model_dump(exclude_none=True))


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _instance(request: Request) -> str:
    # the decoded path as served (what the read hot path names too); request.url.path
    # re-parses the URL, which drops control characters such as a decoded "%0A". A route
    # whose path holds a subject's identifier answers its template instead, whatever
    # refuses the request (no token, a role, the route itself): the number is not echoed
    template = getattr(request.scope.get("route"), "path", "")
    if "{subject}" in template:
        return str(template)
    return str(request.scope["path"])


def exchange_error_response(exc: ExchangeError, instance: str) -> JSONResponse:
    """The problem+json answer to an :class:`ExchangeError` raised while serving ``instance``.

    An error whose ``extra`` names its own ``instance`` is answered with that one (a
    path that held an ID number is not echoed back, see ``exchange.subject_in_url``)."""
    headers = {"WWW-Authenticate": 'Bearer realm="govex"'} if exc.status == 401 else None
    extra = dict(exc.extra)
    instance = str(extra.pop("instance", instance))
    return problem_response(
        Problem.of(exc.code, exc.status, exc.title, exc.message, instance=instance, **extra),
        headers,
    )


def internal_error_response(instance: str) -> JSONResponse:
    """The answer to an unexpected exception: 500 ``exchange.internal`` (the error is logged)."""
    return problem_response(
        Problem.of(
            ErrorCode.INTERNAL,
            500,
            "Internal error",
            "the exchange failed to answer; the error is logged",
            instance=instance,
        )
    )


def unexpected_error_response(exc: Exception, instance: str) -> JSONResponse:
    """The answer to an exception no handler took: a third-party error the boundary table
    knows (DuckDB, OS, PyJWT, cryptography, Kafka) as its code, anything else 500
    ``exchange.internal``; both logged."""
    ours = translate(exc)  # exchange.boundary
    if isinstance(ours, ExchangeError):
        log.warning("on %s: %s", instance, ours.message, exc_info=exc)
        return exchange_error_response(ours, instance)
    log.error("unexpected error on %s", instance, exc_info=exc)
    return internal_error_response(instance)


# pydantic error types with a code of their own (the others are schema.invalid_request)
VALIDATION_CODES: dict[str, ErrorCode] = {
    "json_invalid": ErrorCode.MALFORMED_JSON,
    INVALID_TEXT_TYPE: ErrorCode.INVALID_TEXT,
    "string_unicode": ErrorCode.INVALID_TEXT,  # pydantic's own refusal of a lone surrogate
    "string_too_long": ErrorCode.TOO_LONG,
    "too_long": ErrorCode.TOO_LONG,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ExchangeError)
    async def exchange_error(request: Request, exc: ExchangeError) -> JSONResponse:
        return exchange_error_response(exc, _instance(request))

    @app.exception_handler(SchemaError)
    async def schema_error(request: Request, exc: SchemaError) -> JSONResponse:
        return problem_response(
            Problem.of(exc.code, 422, "Invalid input", exc.message, instance=_instance(request))
        )

    @app.exception_handler(SigningError)
    async def signing_error(request: Request, exc: SigningError) -> JSONResponse:
        return problem_response(
            Problem.of(
                exc.code,
                422,
                "Signature or proof refused",
                exc.message,
                instance=_instance(request),
            )
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = []
        for err in exc.errors()[:50]:
            loc = [str(p) for p in err.get("loc", ())]
            errors.append(
                {
                    "location": ".".join(loc),
                    "message": str(err.get("msg", "")),
                    "type": str(err.get("type", "")),
                }
            )
        code = next(
            (VALIDATION_CODES[e["type"]] for e in errors if e["type"] in VALIDATION_CODES),
            ErrorCode.INVALID_REQUEST,
        )
        first = errors[0] if errors else {"location": "", "message": "invalid request"}
        detail = f"{first['location']}: {first['message']}".lstrip(": ")
        return problem_response(
            Problem.of(
                code, 422, "Invalid request", detail, instance=_instance(request), errors=errors
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            401: ErrorCode.UNAUTHENTICATED,
            413: ErrorCode.PAYLOAD_TOO_LARGE,
        }.get(exc.status_code, ErrorCode.INVALID_REQUEST)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return problem_response(
            Problem.of(code, exc.status_code, title, str(exc.detail), instance=_instance(request)),
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(exc, _instance(request))
