"""The audit API bounds what it is asked: proof indexes JSON numbers cannot hold are refused
with a stable code, and the refusal is audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/audit/proofs/inclusion", {"index": 2**53}),
        ("/v1/audit/proofs/inclusion", {"index": 0, "size": 2**60}),
        ("/v1/audit/proofs/consistency", {"first": 2**53}),
        ("/v1/audit/proofs/consistency", {"first": 1, "second": 2**62}),
    ],
)
def test_proof_indexes_beyond_2_53_are_refused_and_audited(
    exchange: Exchange, client: TestClient, auth: Auth, path: str, params: dict[str, int]
) -> None:
    headers = auth("shenji")  # issuing the token is an entry of its own (token.issue)
    before = exchange.audit.size
    r = client.get(path, params=params, headers=headers)
    assert r.status_code == 422
    assert r.json()["code"] == "schema.invalid_request"
    assert exchange.audit.size - before == 1
