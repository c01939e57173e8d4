"""Control events on the wire, the cluster's topic names and the kinds' arguments."""

from __future__ import annotations

import orjson
import pytest

from exchange.catalog.grants import GrantDecision
from exchange.cluster.events import ControlEvent, ControlTopics, EventUnreadable
from exchange.cluster.kinds import KINDS


def test_the_topics_sit_beside_the_record_topics() -> None:
    assert ControlTopics.for_prefix("govex.records.") == ControlTopics(
        "govex.control", "govex.nodes"
    )
    assert ControlTopics.for_prefix("govex.t1.records.").control == "govex.t1.control"
    assert ControlTopics.for_prefix("city.").nodes == "city.nodes"


def test_an_event_travels_with_its_time_seed_and_arguments() -> None:
    kind = KINDS["grant.decide"]
    args = ("grt_0011", "91411500MA000000XX", GrantDecision(approve=True, reason="依法核验"))
    event = ControlEvent.new(kind.name, kind.encode(args), "node-a")
    back = ControlEvent.decode(event.encode())
    assert back == event
    assert kind.decode(back.args) == args


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        orjson.dumps({"v": 99, "kind": "grant.decide"}),
        orjson.dumps(
            {
                "v": 1,
                "id": "x",
                "kind": "k",
                "args": [],
                "at": "2026-05-01T08:00:00",
                "seed": "00",
                "origin": "a",
            }
        ),
        orjson.dumps({"v": 1, "kind": "k"}),
    ],
)
def test_an_unreadable_message_is_named_so(raw: bytes) -> None:
    with pytest.raises(EventUnreadable):
        ControlEvent.decode(raw)


def test_every_kind_names_a_method_of_a_live_service() -> None:
    assert set(KINDS) == {
        "grant.request",
        "grant.decide",
        "grant.revoke",
        "grant.narrow",
        "cert.issue",
        "cert.status",
        "auth.jti",
        "case.number",
        "department.add",
        "department.key.rotate",
        "department.key.revoke",
        "department.suspend",
        "department.resume",
        "department.remove",
        "catalog.add",
        "catalog.update",
        "staff.add",
        "staff.reset",
        "staff.status",
        "staff.enrol",
        "staff.require_act",
        "staff.oidc.set",
        "staff.oidc.remove",
        "case.bundle",
        "quarantine.decide",
    }
