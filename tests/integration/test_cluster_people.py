"""One exchange on three nodes: staff, case bundles and quarantine decisions (issue 23).

Three ``govex serve --node-id`` processes on copies of one provisioned data directory,
one broker: a staff member added and enrolled on A signs in on B; the enrolment code
used on A is refused on B; a quarantined record released on A shows released on C; a
case bundle resolved on A is served by B byte for byte; afterwards every node's state
digest is the same.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from schemas.identifiers import make_id_number
from tests.support.kafka import KafkaBroker

from .test_cluster_control import (
    BOUND_S,
    MATTER,
    RESOURCE,
    Cluster,
    Node,
    _govex,
    _offset,
    three_nodes,
)

pytestmark = pytest.mark.kafka

PASSWORD = "长白山天池-2026-安全"


@pytest.fixture(scope="module")
def nodes(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with three_nodes(
        kafka_broker, tmp_path_factory.mktemp("people"), ("gongan", "weijian", "dashuju")
    ) as found:
        yield found


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def _enrol(node: Node, staff_id: str, code: str) -> httpx.Response:
    with httpx.Client(base_url=node.process.url, timeout=30) as client:
        csrf = _csrf(client, "/console/enrol")
        return client.post(
            "/console/enrol",
            data={"csrf": csrf, "staff_id": staff_id, "code": code, "password": PASSWORD},
        )


def _sign_in(node: Node, staff_id: str) -> httpx.Response:
    with httpx.Client(base_url=node.process.url, timeout=30) as client:
        csrf = _csrf(client, "/console/login")
        return client.post(
            "/console/login",
            data={
                "csrf": csrf,
                "method": "staff",
                "department": "gongan",
                "staff_id": staff_id,
                "password": PASSWORD,
            },
        )


def _until(what: str, seen: Any) -> float:
    start = time.monotonic()
    while not seen():
        assert time.monotonic() < start + BOUND_S, f"{what}: not seen within {BOUND_S}s"
        time.sleep(0.01)
    return time.monotonic() - start


def test_staff_added_on_a_signs_in_on_b_and_the_code_is_used_once(nodes: Cluster) -> None:
    a, b = nodes.nodes["a"], nodes.nodes["b"]
    said = _govex(
        a, "staff", "add", "--dept", "gongan", "--staff-id", "gongan.zhao", "--name", "赵敏",
        "--roles", "clerk",
    )  # fmt: skip
    found = re.search(r"enrolment code for gongan\.zhao: (\S+)", said)
    assert found is not None, said
    enrolled = _enrol(a, "gongan.zhao", found.group(1))
    assert enrolled.status_code == 200, enrolled.text[:500]
    took = _until("sign-in on B", lambda: _sign_in(b, "gongan.zhao").status_code in (302, 303))
    print(f"cluster: a person enrolled on A signs in on B after {took * 1000:.0f} ms")
    again = _enrol(b, "gongan.zhao", found.group(1))
    assert again.status_code == 401, again.text[:500]
    assert "Enrolment refused" in again.text


def test_a_quarantine_release_on_a_shows_on_c(nodes: Cluster) -> None:
    from kafka import KafkaProducer

    a, c = nodes.nodes["a"], nodes.nodes["c"]
    operator = nodes.depts["dashuju"]
    producer = KafkaProducer(bootstrap_servers=nodes.broker.bootstrap.split(","))
    try:  # a message cut short: every node quarantines it, under ids of its own
        producer.send(nodes.prefix + RESOURCE, b'{"resource": "' + RESOURCE.encode()).get(30)
    finally:
        producer.close()

    def rows(node: Node, after: int | None = None) -> list[dict[str, Any]]:
        found = node.call(operator, "GET", "/v1/quarantine", after=after)
        assert found.status_code == 200, found.text
        return list(found.json()["data"])

    _until("quarantined on A and C", lambda: bool(rows(a)) and bool(rows(c)))
    (row,) = rows(a)
    decided = a.call(
        operator,
        "POST",
        f"/v1/quarantine/{row['id']}/decision",
        json={"decision": "release", "reason": "发布方已更正重发 (sent again)"},
    )
    assert decided.status_code == 200, decided.text
    (seen,) = rows(c, after=_offset(decided))
    assert seen["decision"] == "release", seen
    late = c.call(
        operator,
        "POST",
        f"/v1/quarantine/{seen['id']}/decision",
        json={"decision": "discard", "reason": "迟到 (late)"},
    )
    assert late.status_code == 409, late.text


def test_a_case_bundle_made_on_a_is_served_identically_by_b(nodes: Cluster) -> None:
    a, b = nodes.nodes["a"], nodes.nodes["b"]
    weijian = nodes.depts["weijian"]
    mother = make_id_number("411502", date(1993, 3, 3), 34, female=True)
    made = a.call(
        weijian,
        "POST",
        "/v1/cases",
        json={"matter": MATTER, "applicants": [{"role": "mother", "id": mother}]},
    )
    assert made.status_code == 201, made.text
    case_no = made.json()["case"]
    after = max(_offset(made), 0)
    served = [n.call(weijian, "GET", f"/v1/cases/{case_no}", after=after) for n in (a, b)]
    assert served[1].status_code == 200, served[1].text
    assert served[0].content == served[1].content


def test_every_node_ends_in_the_same_state(nodes: Cluster) -> None:
    statuses: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + BOUND_S
    while True:
        statuses = {name: node.status() for name, node in nodes.nodes.items()}
        ends = {s["control_end"] for s in statuses.values()}
        applied = {s["applied"] for s in statuses.values()}
        if len(ends) == 1 and applied == {max(ends) - 1}:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)
    digests = {name: s["digest"] for name, s in statuses.items()}
    assert len(set(digests.values())) == 1, digests
