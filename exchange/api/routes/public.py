"""The public list: health, the exchange's public keys, discovery and the token endpoint.

``router`` holds the problem+json routes; ``token_router`` the OAuth 2.0 token endpoint,
whose failures are RFC 6749 errors (:mod:`exchange.api.oauth`).
"""

from __future__ import annotations

from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from exchange.api.deps import ExchangeDep
from exchange.api.oauth import (
    OAuthError,
    OAuthRoute,
    TokenRefused,
    TokenResponse,
    authorization_server_metadata,
)
from exchange.client import ASSERTION_TYPE
from schemas.errors import ErrorCode
from signing.keys import public_jwk

router = APIRouter(tags=["public"])


@router.get("/healthz", summary="Liveness, audit-writer health and the audit disk's floor")
async def healthz(exchange: ExchangeDep) -> JSONResponse:
    audit = exchange.audit
    space = audit.space
    room = space.ok
    healthy = audit.healthy and room
    if not audit.healthy:
        state = "unavailable: the exchange serves no data"
    elif not room:
        state = "disk below the floor: the exchange takes no new work (exchange.audit_disk_full)"
    else:
        state = "ok"
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "audit": state,
        "audit_disk": {"free_bytes": space.free_bytes(), "min_free_bytes": space.min_free_bytes},
        # durable entries the searchable index does not hold yet (searches wait for them)
        "audit_index": {"size": audit.size, "indexed": audit.indexed, "lag": audit.index_lag},
    }
    if exchange.consumer is not None:
        # the Kafka consumer: per partition committed offset, position, lag, last commit;
        # refused topics, re-created sessions. Behind or stalled is "degraded" (200); a
        # stopped consumer is 503
        bus = exchange.consumer.health()
        limit = exchange.settings.kafka.catchup_lag
        lag = bus["lag"]
        bus["catching_up"] = limit is not None and lag is not None and lag > limit
        body["bus"] = bus
        if bus["status"] != "ok" or bus["catching_up"]:
            body["status"] = "degraded"
        healthy = healthy and bus["status"] != "failed"
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/v1/keys", summary="The exchange's public keys (JWKS, log key, root CA)")
def keys(exchange: ExchangeDep) -> dict[str, Any]:
    kr = exchange.keyring
    return {
        "keys": [public_jwk(kr.public("token"), kr.kids["token"])],
        "log_key": public_jwk(kr.public("log"), kr.kids["log"]),
        "seal_key": public_jwk(kr.public("seal"), kr.kids["seal"]),
        "root_ca_pem": kr.ca_certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


@router.get("/.well-known/govex", summary="Discovery: issuer, token endpoint and audience")
def discovery(exchange: ExchangeDep) -> dict[str, Any]:
    return {
        "issuer": exchange.identity.issuer,
        "name": exchange.identity.name,
        "token_endpoint": exchange.tokens.token_endpoint,
        "client_assertion_audience": exchange.tokens.token_endpoint,
        "log_origin": exchange.identity.origin,
        # the C2SP note verifier key of the log's checkpoints, and its tiles (tlog-tiles)
        "log_vkey": exchange.checkpoints.verifier.vkey,
        "log_prefix": "/log",
    }


TOKEN_REQUEST_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# the token endpoint answers RFC 6749 errors, not problem+json (exchange.api.oauth)
token_router = APIRouter(tags=["public"], route_class=OAuthRoute)


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2.0 authorization-server metadata (RFC 8414)",
)
def oauth_metadata(exchange: ExchangeDep) -> dict[str, Any]:
    return authorization_server_metadata(exchange)


@token_router.post(
    "/v1/token",
    summary="Exchange an RFC 7523 client assertion for an access token (OAuth 2.0)",
    description=(
        "RFC 6749 client credentials grant with RFC 7523 client authentication "
        "(`private_key_jwt`): an `application/x-www-form-urlencoded` body with "
        "`grant_type=client_credentials`, `client_assertion_type="
        f"{ASSERTION_TYPE}` and `client_assertion`. Answers and errors as RFC 6749 "
        "§5.1/§5.2 (`error`, `error_description`, and govex's stable `code`)."
    ),
    response_model=TokenResponse,
)
def token(
    request: Request,
    exchange: ExchangeDep,
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
    client_assertion_type: Annotated[str | None, Form(max_length=128)] = None,
    client_assertion: Annotated[str | None, Form(max_length=8192)] = None,
) -> TokenResponse:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in TOKEN_REQUEST_TYPES:
        raise TokenRefused(
            OAuthError.INVALID_REQUEST,
            "send the token request as application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
            ErrorCode.INVALID_REQUEST,
        )
    if not grant_type:
        raise TokenRefused(
            OAuthError.INVALID_REQUEST,
            "grant_type is required (client_credentials)",
            ErrorCode.INVALID_REQUEST,
        )
    if grant_type != "client_credentials":
        raise TokenRefused(
            OAuthError.UNSUPPORTED_GRANT_TYPE,
            "grant_type must be client_credentials",
            ErrorCode.UNSUPPORTED_GRANT_TYPE,
        )
    if client_assertion_type != ASSERTION_TYPE or not client_assertion:
        # no or another client authentication method: RFC 6749 §5.2 invalid_client
        raise TokenRefused(
            OAuthError.INVALID_CLIENT,
            f"authenticate with client_assertion_type {ASSERTION_TYPE} and a "
            "client_assertion signed by your department's auth key (private_key_jwt)",
            ErrorCode.UNAUTHENTICATED,
        )
    issued = exchange.tokens.exchange_assertion(client_assertion)
    return TokenResponse(
        access_token=issued.access_token,
        token_type=issued.token_type,
        expires_in=issued.expires_in,
    )
