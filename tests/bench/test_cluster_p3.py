"""CLUSTER-P3 and CLUSTER-PROP in a tiny mode: three real ``govex serve --node-id``
processes and one plain node on a real broker, the figures' shape (no timing asserted)."""

from __future__ import annotations

from bench.cluster_p3 import KINDS, TARGET, Sizes, measure
from bench.runner import SUITE
from tests.support.kafka import KafkaBroker


def test_cluster_reads_and_propagation_under_load_come_out_beside_their_peers(
    kafka_broker: KafkaBroker,
) -> None:
    assert ("bench.cluster_p3", "cluster_p3") in SUITE  # `govex bench --only cluster_p3`
    figures = measure(
        Sizes(records=300, seconds=1.0, rounds=2, connections=6), bootstrap=kafka_broker.bootstrap
    )
    p3, prop = figures
    for figure in figures:
        assert not figure.note.startswith("not measured"), figure.note
        assert "load average" in figure.note

    assert (p3.id, p3.unit) == ("CLUSTER-P3", "req/s")
    assert p3.value > 0
    assert p3.peer_value is not None
    assert p3.peer_value > 0
    assert p3.ratio == round(p3.value / p3.peer_value, 2)
    for part in ("three nodes: ", "one node: ", "node A of the cluster alone: ", "per read"):
        assert part in p3.note

    assert (prop.id, prop.unit, prop.target) == ("CLUSTER-PROP", "ms", TARGET)
    assert prop.value > 0
    assert prop.peer_value is not None
    assert prop.peer_value > 0
    assert prop.met is (prop.value <= 1000)
    under, without = prop.note.split("; without load: ")
    assert under.startswith("under load: ")
    for kind in KINDS:  # each kind measured both ways
        assert f"{kind} p50 " in under
        assert f"{kind} p50 " in without
    assert "nan" not in prop.note
    assert "req/s" in prop.note  # the reads that ran meanwhile
