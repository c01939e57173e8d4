"""The OpenAPI document as clients see it: who needs a token, and what every refusal looks like.

FastAPI documents the bearer scheme (``bearerAuth``) on each operation that depends on
:func:`exchange.api.deps.current_principal`, the dependency that enforces it. This module
completes the document once, when it is first asked for:

- every 4xx (and the 503) an operation can answer is documented as RFC 9457
  ``application/problem+json`` with one ``Problem`` schema and an example; FastAPI's
  ``HTTPValidationError`` shape, which the exchange never sends, is gone;
- the token endpoint documents its RFC 6749 answers (``TokenResponse`` with its
  ``Cache-Control``/``Pragma`` headers, ``OAuthErrorBody`` for 400 and 401).

Which statuses an operation can answer follows from what it is: 401 and 403 for every
protected operation (no or a bad token; a missing role or grant), 404 for any with a path
parameter and protected ones that name something in their query or body, 422 for any with
parameters or a body, 400, 409 and 413 for those that take a body (413 also for any other
non-GET: the body limit runs before routing), 503 for all (the audit log or the store
unavailable). No route answers
429, so none documents it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from exchange.api.errors import PROBLEM_JSON
from exchange.api.oauth import NO_STORE, OAuthErrorBody
from exchange.client import ASSERTION_TYPE
from schemas.errors import ErrorCode, Problem

__all__ = ["PROBLEM_EXAMPLES", "TOKEN_PATH", "document_problems", "install_openapi"]

TOKEN_PATH = "/v1/token"  # noqa: S105 - a path, not a secret
_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# status → (title, code, detail) of its documented example
PROBLEM_EXAMPLES: dict[int, tuple[str, ErrorCode, str]] = {
    400: ("Bad request", ErrorCode.INVALID_REQUEST, "the request cannot be served as sent"),
    401: (
        "Unauthenticated",
        ErrorCode.UNAUTHENTICATED,
        "this route needs an access token: Authorization: Bearer <token> "
        "(get one at POST /v1/token)",
    ),
    403: (
        "Forbidden",
        ErrorCode.ROLE_FORBIDDEN,
        "this function needs the auditor role; 市公安局 does not hold it",
    ),
    404: ("Not found", ErrorCode.NOT_FOUND, "no such record"),
    409: ("Conflict", ErrorCode.CONFLICT, "the request conflicts with the current state"),
    413: ("Payload too large", ErrorCode.PAYLOAD_TOO_LARGE, "the body is larger than allowed"),
    422: ("Invalid request", ErrorCode.INVALID_REQUEST, "query.purpose: Field required"),
    503: (
        "Audit log unavailable",
        ErrorCode.AUDIT_UNAVAILABLE,
        "the audit log cannot record this request; the exchange serves no data",
    ),
}
_DESCRIPTIONS = {
    400: "Bad request",
    401: "No or an invalid access token",
    403: "The caller's roles or grants do not allow this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Body too large",
    422: "Invalid parameters or body",
    503: "The audit log or the store is unavailable",
}


def _problem_response(status: int, path: str) -> dict[str, Any]:
    title, code, detail = PROBLEM_EXAMPLES[status]
    example = Problem.of(code, status, title, detail, instance=path).model_dump(exclude_none=True)
    return {
        "description": _DESCRIPTIONS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"{_REF}Problem"}, "example": example}},
    }


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    protected = bool(operation.get("security"))
    params = operation.get("parameters", [])
    body = "requestBody" in operation
    statuses = {503}
    if protected:
        statuses |= {401, 403}
    if any(p.get("in") == "path" for p in params) or (protected and (params or body)):
        statuses.add(404)  # a named thing that does not exist
    if params or body:
        statuses.add(422)
    if body:
        statuses |= {400, 409}
    if method != "get":
        statuses.add(413)
    return statuses


def _problem_schema() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template=_REF + "{model}")
    schema["description"] = "RFC 9457 problem details with govex's stable code"
    return schema


def _token_request() -> dict[str, Any]:
    """The token request body as RFC 6749 §4.4.2 and RFC 7523 §2.2 require it (every field).

    The route reads each field as optional only to answer a missing one with an RFC 6749
    error (``invalid_request``, ``invalid_client``) instead of a validation error.
    """
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "client_assertion_type", "client_assertion"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_assertion_type": {"type": "string", "enum": [ASSERTION_TYPE]},
                        "client_assertion": {
                            "type": "string",
                            "maxLength": 8192,
                            "description": "a JWT signed by the department's auth key "
                            "(RFC 7523 private_key_jwt)",
                        },
                    },
                }
            }
        },
    }


def _document_token(operation: dict[str, Any]) -> None:
    operation["requestBody"] = _token_request()
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    headers = {
        name: {"schema": {"type": "string", "enum": [value]}} for name, value in NO_STORE.items()
    }
    responses["200"]["headers"] = headers
    error_ref = {"schema": {"$ref": f"{_REF}OAuthErrorBody"}}
    responses["400"] = {
        "description": "RFC 6749 §5.2 error: invalid_request, unsupported_grant_type, …",
        "headers": headers,
        "content": {
            "application/json": {
                **error_ref,
                "example": {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                    "code": ErrorCode.UNSUPPORTED_GRANT_TYPE.value,
                },
            }
        },
    }
    responses["401"] = {
        "description": "RFC 6749 §5.2 invalid_client: the client assertion was refused",
        "headers": {
            **headers,
            "WWW-Authenticate": {"schema": {"type": "string"}},
        },
        "content": {
            "application/json": {
                **error_ref,
                "example": {
                    "error": "invalid_client",
                    "error_description": "client assertion was already used (jti replay)",
                    "code": ErrorCode.REPLAY.value,
                },
            }
        },
    }
    responses["413"] = _problem_response(413, TOKEN_PATH)
    responses["503"] = {
        "description": "RFC 6749 error temporarily_unavailable",
        "content": {"application/json": error_ref},
    }


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (FastAPI's OpenAPI document) with its refusals documented; changed in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = _problem_schema()
    components["OAuthErrorBody"] = OAuthErrorBody.model_json_schema(ref_template=_REF + "{model}")
    components.update(components["OAuthErrorBody"].pop("$defs", {}))
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if path == TOKEN_PATH:
                _document_token(operation)
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(path, method, operation)):
                if str(status) in responses and status != 422:
                    continue  # documented by the route itself
                responses[str(status)] = _problem_response(status, path)
            operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError", "Body_token_v1_token_post"):
        components.pop(name, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (``/openapi.json``, ``/docs``) the completed document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
