"""The nodes topic as a node reads it, without a broker: a node removed (``govex cluster
remove``) that beats again is not listed as if it had never been removed."""

from __future__ import annotations

import time

from kafka.consumer.fetcher import ConsumerRecord

from exchange.cluster.membership import Heartbeat
from exchange.cluster.plane import ControlPlane
from exchange.cluster.status import cluster_status
from tests.exchange.cluster.test_plane import two

__all__ = ["two"]  # the fixture, used by name


def _record(offset: int, node: str, value: bytes | None, at: float) -> ConsumerRecord:
    return ConsumerRecord(
        "govex.t.nodes", 0, 0, offset, int(at * 1000), 0, node.encode(), value, [], None, 0, 0, 0
    )


def _beat(node: str, at: float) -> bytes:
    return Heartbeat(node=node, at=at, applied=-1, control_end=0, record_lag=None).encode()


def test_a_removed_node_that_beats_again_shows_so(two: tuple[ControlPlane, ControlPlane]) -> None:
    a, _ = two
    now = time.time()
    a._heard(_record(0, "b", _beat("b", now - 60), now - 60))  # silent: removable
    a._heard(_record(1, "b", None, now - 30))  # govex cluster remove --node-id b
    assert "b" not in {n["node"] for n in cluster_status(a)["nodes"]}
    a._heard(_record(2, "b", _beat("b", now), now))  # it was only cut off: it beats again
    (b,) = (n for n in cluster_status(a)["nodes"] if n["node"] == "b")
    assert b["state"].startswith("removed "), b
    assert b["state"].endswith(", then heard again (live)"), b
    assert b["removed_s_ago"] >= 30
    a._heard(_record(3, "c", _beat("c", now), now))  # a node never removed: as it was
    (c,) = (n for n in cluster_status(a)["nodes"] if n["node"] == "c")
    assert (c["state"], c["removed_s_ago"]) == ("live", None)
