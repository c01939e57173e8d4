"""RELIABILITY G1: schemathesis over the whole OpenAPI, with a token for each role.

Every operation gets generated requests (bounded per operation) from the four roles
and from nobody; then, once per operation, hostile variants of a generated request: lone
surrogates in every string of its JSON body, huge integers, deep nesting, oversize query
values, and a deep JSON text sent under every content type. None may answer with a
server error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from exchange.server import build_app
from exchange.service import Exchange

ROLES = {
    "department": "gongan",
    "approver": "budongchan",
    "auditor": "shenji",
    "operator": "dashuju",
}
EXAMPLES_PER_OPERATION = 10
DEEP = 200  # levels of nesting, well past the API's limit (api.max_json_depth)
RAW_BODIES = [
    (content_type, b"[" * 5000 + b"]" * 5000)
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded")
] + [(None, b'{"a":' * 5000 + b"1" + b"}" * 5000)]


def _mapped(value: Any, leaf: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _mapped(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_mapped(v, leaf) for v in value]
    return leaf(value)


def _surrogates(v: Any) -> Any:
    return f"{v}\ud800" if isinstance(v, str) else v


def _huge(v: Any) -> Any:
    return 10**40 if isinstance(v, int) and not isinstance(v, bool) else v


def _deep(body: Any) -> Any:
    for _ in range(DEEP):
        body = [body]
    return body


def hostile_bodies(body: Any) -> list[Any]:
    """Variants of a generated JSON body that a careless parser or store would choke on."""
    if not isinstance(body, dict | list):
        return []
    variants = [_mapped(body, _surrogates), _mapped(body, _huge), _deep(body)]
    if isinstance(body, dict):
        variants.append({**body, "\udc00": "lone surrogate key"})
    return variants


def hostile_queries(query: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not query:
        return []
    return [
        {k: 10**30 if isinstance(v, int) else v for k, v in query.items()},
        {k: "x" * 20_000 if isinstance(v, str) else v for k, v in query.items()},
    ]


def test_no_operation_answers_with_a_server_error(
    exchange: Exchange, token_for: Callable[[str], str]
) -> None:
    app = build_app(exchange)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    raw_client = TestClient(app, raise_server_exceptions=False)
    headers = [{"Authorization": f"Bearer {token_for(code)}"} for code in ROLES.values()] + [{}]
    hostile_headers = headers[:2]  # a department and an approver get past authentication
    seen = {"operations": 0, "requests": 0, "hostile": 0, "server_errors": 0}
    failures: list[str] = []

    def check(what: str, status: int, text: str) -> None:
        seen["requests"] += 1
        if status >= 500:
            seen["server_errors"] += 1
            failures.append(f"{what} {status} {text[:200]}")

    for result in schema.get_all_operations():
        operation = result.ok()
        seen["operations"] += 1
        hostile_sent = False

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal hostile_sent
            what = f"{case.method} {case.formatted_path}"
            for h in headers:
                response = case.call(headers=h)
                check(what, response.status_code, response.text)
            if hostile_sent:
                return
            hostile_sent = True
            body, query = getattr(case, "body", None), getattr(case, "query", None)
            json_body = "json" in (getattr(case, "media_type", None) or "")
            for variant in hostile_bodies(body) if json_body else []:
                for h in hostile_headers:
                    seen["hostile"] += 1
                    r = raw_client.request(
                        case.method,
                        case.formatted_path,
                        params=query,
                        content=json.dumps(variant),  # lone surrogates as \u escapes
                        headers={**h, "content-type": "application/json"},
                    )
                    check(f"{what} hostile body", r.status_code, r.text)
            for variant in hostile_queries(query):
                seen["hostile"] += 1
                r = raw_client.request(
                    case.method, case.formatted_path, params=variant, headers=hostile_headers[0]
                )
                check(f"{what} hostile query", r.status_code, r.text)
            if case.method.upper() in ("POST", "PUT", "PATCH"):
                for content_type, raw in RAW_BODIES:
                    h = dict(hostile_headers[0])
                    if content_type is not None:
                        h["content-type"] = content_type
                    seen["hostile"] += 1
                    r = raw_client.request(case.method, case.formatted_path, content=raw, headers=h)
                    check(f"{what} deep {content_type}", r.status_code, r.text)

        run()
    print(
        f"G1 schemathesis operations {seen['operations']}, requests {seen['requests']} "
        f"(hostile {seen['hostile']}), server errors {seen['server_errors']}"
    )
    assert seen["operations"] > 20
    assert failures == []
