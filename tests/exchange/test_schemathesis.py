"""RELIABILITY G1: schemathesis over the whole OpenAPI, with a token for each role.

Every operation gets generated requests (bounded per operation) from the four roles
and from nobody; none may answer with a server error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
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


def test_no_operation_answers_with_a_server_error(
    exchange: Exchange, token_for: Callable[[str], str]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", build_app(exchange))
    headers = [{"Authorization": f"Bearer {token_for(code)}"} for code in ROLES.values()] + [{}]
    seen = {"operations": 0, "requests": 0, "server_errors": 0}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen["operations"] += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            for h in headers:
                response = case.call(headers=h)
                seen["requests"] += 1
                if response.status_code >= 500:
                    seen["server_errors"] += 1
                    failures.append(
                        f"{case.method} {case.formatted_path} "
                        f"{response.status_code} {response.text[:200]}"
                    )

        run()
    print(
        f"G1 schemathesis operations {seen['operations']}, requests {seen['requests']}, "
        f"server errors {seen['server_errors']}"
    )
    assert seen["operations"] > 20
    assert failures == []
