"""The token endpoint's OAuth 2.0 side: RFC 6749 §5.1 answers, §5.2 errors, RFC 8414 metadata.

``POST /v1/token`` is read by OAuth client libraries, which parse ``error`` from an
``application/json`` body, not RFC 9457 problems; so this route alone answers failures as

    {"error": "invalid_client", "error_description": "…", "code": "exchange.replay"}

``error`` is the RFC 6749 §5.2 code, ``code`` govex's stable code. Errors are 400, except
``invalid_client`` (client authentication failed: RFC 7521 §4.2.1, RFC 7523 §3.2) which is
401 with a ``WWW-Authenticate`` challenge (RFC 9110 §15.5.2): for the scheme of the
``Authorization`` header when the client sent one (RFC 6749 §5.2), else ``Bearer``, the
scheme of every other route. Failures of the exchange itself keep their 5xx status with
``server_error`` or ``temporarily_unavailable``. Every answer carries
``Cache-Control: no-store`` and ``Pragma: no-cache`` (RFC 6749 §5.1).

- :class:`OAuthRoute` — the route class that turns exceptions into these answers;
- :class:`TokenResponse`, :class:`OAuthErrorBody` — the documented bodies;
- :func:`oauth_error_response`, :func:`authorization_server_metadata`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from exchange.api.errors import VALIDATION_CODES
from exchange.boundary import translate
from exchange.client import JWT_ALG
from exchange.errors import AuthError, ExchangeError
from exchange.service import Exchange
from schemas.errors import ErrorCode, SchemaError
from signing.errors import SigningError

__all__ = [
    "NO_STORE",
    "OAuthError",
    "OAuthErrorBody",
    "OAuthRoute",
    "TokenRefused",
    "TokenResponse",
    "authorization_server_metadata",
    "oauth_error_response",
]

log = logging.getLogger("govex.api")

# RFC 6749 §5.1: "MUST include ... Cache-Control: no-store, Pragma: no-cache"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(StrEnum):
    """The RFC 6749 §5.2 error codes the token endpoint answers with."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"
    SERVER_ERROR = "server_error"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


class TokenResponse(BaseModel):
    """RFC 6749 §5.1: an access token (a JWT signed by the exchange) and its lifetime."""

    access_token: str
    token_type: str = Field(description="always Bearer (RFC 6750)", examples=["Bearer"])
    expires_in: int = Field(description="lifetime of the access token in seconds")


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2 error response, with govex's stable ``code`` beside ``error``."""

    error: OAuthError
    error_description: str | None = None
    code: str = Field(description="stable govex error code, e.g. exchange.replay")


class TokenRefused(Exception):
    """A token request the endpoint refuses with an RFC 6749 error (raised by the route)."""

    def __init__(self, error: OAuthError, description: str, code: ErrorCode) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.code = code


def _challenge(request: Request) -> str:
    scheme = request.headers.get("authorization", "").partition(" ")[0].strip()
    if not scheme.isascii() or not scheme.isalnum():
        scheme = "Bearer"
    return f'{scheme} realm="govex"'


def oauth_error_response(
    request: Request, error: OAuthError, description: str, code: str, status: int | None = None
) -> JSONResponse:
    """The RFC 6749 §5.2 answer: 400, or 401 with a challenge for ``invalid_client``."""
    if status is None:
        status = 401 if error is OAuthError.INVALID_CLIENT else 400
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = _challenge(request)
    body = {"error": error.value, "error_description": description, "code": code}
    return JSONResponse(body, status_code=status, headers=headers)


def _exchange_error(request: Request, exc: ExchangeError) -> JSONResponse:
    if isinstance(exc, AuthError):  # the client assertion was refused (RFC 7523 §3.2)
        return oauth_error_response(
            request, OAuthError.INVALID_CLIENT, exc.message, exc.code.value, 401
        )
    if exc.status >= 500:
        error = OAuthError.TEMPORARILY_UNAVAILABLE if exc.status == 503 else OAuthError.SERVER_ERROR
        return oauth_error_response(request, error, exc.message, exc.code.value, exc.status)
    return oauth_error_response(request, OAuthError.INVALID_REQUEST, exc.message, exc.code.value)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:])
    description = f"{where}: {first.get('msg', 'invalid request')}".lstrip(": ")
    code = next(
        (VALIDATION_CODES[e["type"]] for e in errors if e.get("type") in VALIDATION_CODES),
        ErrorCode.INVALID_REQUEST,
    )
    return oauth_error_response(request, OAuthError.INVALID_REQUEST, description, code.value)


class OAuthRoute(APIRoute):
    """A route whose failures are RFC 6749 §5.2 errors instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except TokenRefused as exc:
                return oauth_error_response(request, exc.error, exc.description, exc.code.value)
            except RequestValidationError as exc:
                return _validation_error(request, exc)
            except ExchangeError as exc:
                return _exchange_error(request, exc)
            except (SchemaError, SigningError) as exc:
                return oauth_error_response(
                    request, OAuthError.INVALID_REQUEST, exc.message, exc.code.value
                )
            except Exception as exc:  # the last resort, as exchange.api.errors has it
                ours = translate(exc)  # exchange.boundary: DuckDB, OS, PyJWT, …
                if isinstance(ours, ExchangeError):
                    log.warning("on %s: %s", request.url.path, ours.message, exc_info=exc)
                    return _exchange_error(request, ours)
                log.exception("unexpected error on %s", request.url.path)
                return oauth_error_response(
                    request,
                    OAuthError.SERVER_ERROR,
                    "the exchange failed to answer; the error is logged",
                    ErrorCode.INTERNAL.value,
                    500,
                )
            response.headers.update(NO_STORE)
            return response

        return route


def authorization_server_metadata(exchange: Exchange) -> dict[str, Any]:
    """RFC 8414 authorization-server metadata of the token endpoint."""
    issuer = exchange.identity.issuer
    return {
        "issuer": issuer,
        "token_endpoint": exchange.tokens.token_endpoint,
        "jwks_uri": f"{issuer}/v1/keys",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(set(JWT_ALG.values())),
        # no authorization endpoint: only client_credentials, so no response type
        "response_types_supported": [],
    }
