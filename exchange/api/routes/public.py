"""The public list: health, the exchange's public keys, and the token endpoint."""

from __future__ import annotations

from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Form
from fastapi.responses import JSONResponse

from exchange.api.deps import ExchangeDep
from exchange.client import ASSERTION_TYPE
from exchange.errors import InvalidRequest
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
    body = {
        "status": "ok" if healthy else "degraded",
        "audit": state,
        "audit_disk": {"free_bytes": space.free_bytes(), "min_free_bytes": space.min_free_bytes},
    }
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


@router.post("/v1/token", summary="Exchange an RFC 7523 client assertion for an access token")
def token(
    exchange: ExchangeDep,
    grant_type: Annotated[str, Form(max_length=64)],
    client_assertion_type: Annotated[str, Form(max_length=128)],
    client_assertion: Annotated[str, Form(max_length=8192)],
) -> dict[str, Any]:
    if grant_type != "client_credentials":
        raise InvalidRequest(
            "grant_type must be client_credentials", code=ErrorCode.UNSUPPORTED_GRANT_TYPE
        )
    if client_assertion_type != ASSERTION_TYPE:
        raise InvalidRequest(
            f"client_assertion_type must be {ASSERTION_TYPE}", code=ErrorCode.UNSUPPORTED_GRANT_TYPE
        )
    issued = exchange.tokens.exchange_assertion(client_assertion)
    return {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
    }
