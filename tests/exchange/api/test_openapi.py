"""The OpenAPI document clients generate from: security where auth is enforced, problem+json
for every refusal, a valid OpenAPI 3.1 document."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from exchange.api.deps import PUBLIC_PATHS, api_routes, current_principal
from exchange.api.errors import PROBLEM_JSON
from exchange.api.openapi import TOKEN_PATH, document_problems
from exchange.client import ASSERTION_TYPE

METHODS = ("get", "put", "post", "delete", "patch")


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): item[method]
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    }


def _secured(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        key for key, op in _operations(doc).items() if {"bearerAuth": []} in op.get("security", [])
    }


def _protected(app: FastAPI) -> set[tuple[str, str]]:
    """What the A1 test (tests/exchange/api/test_access.py) holds protected, as documented."""
    return {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path))
        for r in api_routes(app)
        if r.path not in PUBLIC_PATHS and getattr(r, "include_in_schema", True)
        for method in r.methods
        if method != "HEAD"
    }


def test_every_protected_operation_and_only_those_carry_the_bearer_scheme(
    client: TestClient,
) -> None:
    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    secured, protected = _secured(doc), _protected(client.app)  # type: ignore[arg-type]
    print(f"OpenAPI operations {len(_operations(doc))}, secured {len(secured)}")
    assert len(protected) > 20
    assert secured == protected


def test_a_route_guarded_by_the_dependency_is_documented_as_secured() -> None:
    """The security follows the dependency: a new guarded route needs no extra step."""
    app = FastAPI()
    router = APIRouter(dependencies=[Depends(current_principal)])

    @router.get("/v1/new")
    def new() -> dict[str, str]:
        return {}

    @app.get("/open")
    def open_() -> dict[str, str]:
        return {}

    app.include_router(router)
    assert _secured(document_problems(app.openapi())) == {("GET", "/v1/new")}


def test_every_refusal_is_documented_as_problem_json(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    problem = {"$ref": "#/components/schemas/Problem"}
    counts: dict[str, int] = {}
    for (method, path), op in _operations(doc).items():
        responses = op["responses"]
        if path == TOKEN_PATH:
            continue
        if "security" in op:
            assert {"401", "403"} <= set(responses), (method, path)
        if op.get("parameters") or "requestBody" in op:
            assert "422" in responses, (method, path)
        if "requestBody" in op:
            assert {"400", "409", "413"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith("4") or status == "503":
                if path == "/healthz" and status == "503":
                    continue
                counts[status] = counts.get(status, 0) + 1
                content = response["content"]
                assert list(content) == [PROBLEM_JSON], (method, path, status)
                assert content[PROBLEM_JSON]["schema"] == problem
                example = content[PROBLEM_JSON]["example"]
                jsonschema.validate(example, doc["components"]["schemas"]["Problem"])
                assert example["status"] == int(status)
    print("OpenAPI problem+json responses by status:", dict(sorted(counts.items())))
    assert {"400", "401", "403", "404", "409", "413", "422", "503"} <= set(counts)
    assert "HTTPValidationError" not in str(doc)


def test_the_token_endpoint_documents_its_oauth_answers(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"][TOKEN_PATH]["post"]
    assert "security" not in op
    assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
    ok = op["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/TokenResponse")
    assert ok["headers"]["Cache-Control"]["schema"]["enum"] == ["no-store"]
    for status in ("400", "401"):
        error = op["responses"][status]["content"]["application/json"]
        assert error["schema"]["$ref"].endswith("/OAuthErrorBody")
    assert "422" not in op["responses"]


def test_the_token_request_fields_are_documented_as_required(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    body = doc["paths"][TOKEN_PATH]["post"]["requestBody"]
    schema = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert body["required"] is True
    assert schema["required"] == ["grant_type", "client_assertion_type", "client_assertion"]
    assert schema["properties"]["grant_type"]["enum"] == ["client_credentials"]
    assert schema["properties"]["client_assertion_type"]["enum"] == [ASSERTION_TYPE]


def test_the_document_is_valid_openapi(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
