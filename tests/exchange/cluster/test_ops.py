"""``govex cluster status`` on an exchange that is no cluster node, and a single node that
ignores the cluster's read-your-writes header (one node is exactly as before)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from exchange.admin.operations import Operator, run_operation
from exchange.errors import InvalidRequest
from exchange.service import Exchange
from schemas.errors import ErrorCode


def test_cluster_status_on_a_single_node_says_it_is_none(exchange: Exchange) -> None:
    with pytest.raises(InvalidRequest) as refused:
        run_operation(exchange, "cluster.status", {}, Operator.local_user("op", "direct"))
    assert refused.value.code is ErrorCode.NOT_A_CLUSTER
    assert "--node-id" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "params"), [("cluster.drain", {}), ("cluster.remove", {"node": "b"})]
)
def test_drain_and_remove_on_a_single_node_say_it_is_none(
    exchange: Exchange, name: str, params: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        run_operation(exchange, name, params, Operator.local_user("op", "direct"))
    assert refused.value.code is ErrorCode.NOT_A_CLUSTER


def test_a_single_node_ignores_govex_after_and_sends_no_control_offset(
    client: TestClient, auth: Callable[[str], dict[str, str]]
) -> None:
    r = client.post(
        "/v1/grants",
        headers={**auth("renshe"), "Govex-After": "12"},
        json={
            "resource": "gongan.resident_id_card",
            "fields": ["name"],
            "purposes": ["weijian.newborn_birth"],
            "reason": "出生医学证明 核验父母身份",
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    assert "govex-control-offset" not in r.headers
