"""What the exchange publishes for verifiers, public and cacheable: the govex JSON-LD
context, the VC JSON Schema of each certificate type, and the ``did:web`` documents of the
exchange and its departments (:mod:`exchange.certificates.context`,
:mod:`~exchange.certificates.credential_schema`, :mod:`~exchange.certificates.did`).

The paths are those the credentials name below the issuer URL; a reverse proxy that
publishes the exchange under a path prefix strips it, as for ``/v1/status-lists``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from exchange.api.deps import ExchangeDep
from exchange.certificates.context import CONTEXT_PATH
from exchange.certificates.credential_schema import SCHEMA_PATH

router = APIRouter(tags=["public"])

_VERSIONED = "public, max-age=86400"
"""Versioned documents (v1) change only when a type is added: a day in caches."""
_KEYS = "public, max-age=300"
"""DID documents change when a department's key does: five minutes, like a status list."""


def _answer(body: dict[str, Any], media_type: str, cache: str) -> JSONResponse:
    return JSONResponse(body, media_type=media_type, headers={"Cache-Control": cache})


@router.get(CONTEXT_PATH, summary="The govex JSON-LD context (every term govex credentials use)")
def context(exchange: ExchangeDep) -> JSONResponse:
    return _answer(exchange.certificates.context(), "application/ld+json", _VERSIONED)


@router.get(
    SCHEMA_PATH + "/{code}.json",
    summary="The VC JSON Schema of one certificate type (validates the whole credential)",
)
def credential_schema(code: str, exchange: ExchangeDep) -> JSONResponse:
    body = exchange.certificates.credential_schema(code)
    return _answer(body, "application/schema+json", _VERSIONED)


@router.get("/.well-known/did.json", summary="The exchange's DID document (did:web, no path)")
def exchange_did(exchange: ExchangeDep) -> JSONResponse:
    return _answer(exchange.certificates.did_document(), "application/did+ld+json", _KEYS)


@router.get("/did.json", summary="The exchange's DID document (did:web of an issuer with a path)")
def exchange_did_with_path(exchange: ExchangeDep) -> JSONResponse:
    return _answer(exchange.certificates.did_document(), "application/did+ld+json", _KEYS)


@router.get(
    "/departments/{uscc}/did.json",
    summary="A department's DID document: its current and past certificate keys (Multikey)",
)
def department_did(uscc: str, exchange: ExchangeDep) -> JSONResponse:
    body = exchange.certificates.did_document(uscc)
    return _answer(body, "application/did+ld+json", _KEYS)
