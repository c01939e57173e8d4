"""The applier without a broker: the same control events applied on two copies of one
provisioned exchange leave them equal (ids, times, serials, status-list indexes), a
conflicting command is refused alike on both, and a cluster node refuses bulk issuance.
Departments, their keys and the catalog changed on one copy through its live services
reach the other (the control topic stands in as one ordered list both copies apply)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.catalog.grants import GrantDecision, GrantRequest
from exchange.catalog.service import catalog_service
from exchange.certificates.models import CertificateRequest, StatusChange
from exchange.client import make_client_assertion
from exchange.cluster.events import ControlEvent, ControlTopics
from exchange.cluster.kinds import KINDS, Kind
from exchange.cluster.plane import ApplyFailed, ControlPlane, _Waiter
from exchange.cluster.status import state_digest
from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.departments.keyfolder import KeyMaterial
from exchange.departments.registry import DepartmentState, KeyState
from exchange.errors import AuthError, Conflict, InvalidRequest, NotFound
from exchange.service import Exchange
from schemas.catalog import Department, Role
from schemas.errors import ErrorCode
from signing.csr import csr_to_pem, make_request
from signing.keys import generate_key, kid_of, public_pem
from tests.schemas.test_certificates import SUBJECTS

AT = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)


def _plane(exchange: Exchange, node: str) -> ControlPlane:
    plane = ControlPlane(
        exchange,
        bootstrap="127.0.0.1:9",
        security=exchange.settings.kafka,
        tls=False,
        node=node,
        topics=ControlTopics.for_prefix("govex.t.records."),
    )
    exchange.cluster = plane
    plane.install()
    return plane


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[ControlPlane, ControlPlane]]:
    create_demo(Settings(data=tmp_path / "a")).close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a = Exchange.open(Settings(data=tmp_path / "a"))
    b = Exchange.open(Settings(data=tmp_path / "b"))
    try:
        yield _plane(a, "a"), _plane(b, "b")
    finally:
        for exchange in (a, b):
            exchange.cluster = None
            exchange.close()


def _event(kind: str, *args: Any, at: datetime = AT, n: int = 0) -> bytes:
    encoded = KINDS[kind].encode(args)
    return ControlEvent(kind, encoded, at, f"seed-{n}".encode(), "a", f"e{n}").encode()


def test_the_same_events_leave_two_copies_equal(two: tuple[ControlPlane, ControlPlane]) -> None:
    a, b = two
    registry = a.exchange.registry
    renshe, gongan = (str(registry.by_code(c).uscc) for c in ("renshe", "gongan"))
    request = GrantRequest(
        resource="gongan.resident_id_card",
        fields=["name"],
        purposes=["weijian.newborn_birth"],
        reason="出生医学证明 核验父母身份",
        expires_at=AT + timedelta(days=30),
    )
    for plane in (a, b):
        plane.apply(0, _event("grant.request", renshe, request, n=0))
    grant = a.exchange.grants.every()[0].id
    assert b.exchange.grants.every()[0].id == grant
    certificate = CertificateRequest(type="resident_id_card", subject=SUBJECTS["resident_id_card"])
    events = [
        _event("grant.decide", grant, gongan, GrantDecision(approve=True, reason="依法"), n=1),
        _event("cert.issue", gongan, certificate, n=2),
        _event("case.number", str(registry.by_code("weijian").uscc), "weijian", None, n=3),
        _event("auth.jti", gongan, "jti-1", AT.timestamp() + 600, n=4),
    ]
    for plane in (a, b):
        for offset, raw in enumerate(events, start=1):
            plane.apply(offset, raw)
    row = a.exchange.store.fetchone("SELECT id FROM certificates ORDER BY id DESC LIMIT 1")
    assert row is not None
    cid = str(row[0])
    later = [
        _event("cert.status", gongan, cid, StatusChange(action="revoke", reason="遗失"), n=5),
        # a second decision of the decided grant: refused alike on both
        _event("grant.decide", grant, gongan, GrantDecision(approve=False, reason="迟"), n=6),
    ]
    for plane in (a, b):
        for offset, raw in enumerate(later, start=len(events) + 1):
            plane.apply(offset, raw)
    assert a.exchange.grants.grant(grant).status == "approved"
    assert a.exchange.certificates.get(cid).status == "revoked"
    assert b.exchange.certificates.get(cid).status == "revoked"
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)
    assert a.applied == b.applied == 6
    assert a.skipped == b.skipped == 0


def test_a_refused_apply_is_what_the_origin_answers(two: tuple[ControlPlane, ControlPlane]) -> None:
    a, _ = two
    gongan = str(a.exchange.registry.by_code("gongan").uscc)
    from exchange.cluster.plane import _Waiter

    waiter = a._waiters["e9"] = _Waiter()
    decision = GrantDecision(approve=True, reason="x")
    a.apply(0, _event("grant.decide", "grt_nosuch", gongan, decision, n=9))
    assert waiter.done.is_set()
    assert waiter.error is not None
    assert a.applied == 0
    a.apply(1, b"not an event")  # skipped, counted, still applied in order
    assert (a.applied, a.skipped) == (1, 1)


def test_a_replayed_client_assertion_is_refused_within_the_applys_transaction(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    """A ``jti`` used twice: the second apply is a refusal, not a failure of the node (the
    replay's failed insert aborted the apply's one transaction and stopped the node)."""
    a, _ = two
    gongan = str(a.exchange.registry.by_code("gongan").uscc)
    a.apply(0, _event("auth.jti", gongan, "jti-7", AT.timestamp() + 600, n=0))
    waiter = a._waiters["e1"] = _Waiter()
    a.apply(1, _event("auth.jti", gongan, "jti-7", AT.timestamp() + 600, n=1))
    assert isinstance(waiter.error, AuthError)
    assert waiter.error.code is ErrorCode.REPLAY
    assert (a.applied, a.failure) == (1, None)
    a.apply(2, _event("auth.jti", gongan, "jti-8", AT.timestamp() + 600, n=2))
    assert a.applied == 2


def test_a_cluster_node_refuses_bulk_issuance(two: tuple[ControlPlane, ControlPlane]) -> None:
    a, _ = two
    with pytest.raises(InvalidRequest) as refused:
        a.exchange.certificates.issue_many("x", "resident_id_card", [])
    assert refused.value.code is ErrorCode.NOT_IN_CLUSTER


def test_an_apply_that_fails_on_one_node_only_is_not_counted_applied(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    """A failure of the node's own (its store, not a refusal every node makes alike) leaves
    the event unapplied there: the node stays behind and applies it once started again,
    rather than going on past it with a state the other nodes do not have."""
    a, b = two
    renshe = str(a.exchange.registry.by_code("renshe").uscc)
    request = GrantRequest(
        resource="gongan.resident_id_card",
        fields=["name"],
        purposes=["weijian.newborn_birth"],
        reason="出生医学证明 核验父母身份",
        expires_at=AT + timedelta(days=30),
    )
    raw = _event("grant.request", renshe, request, n=0)
    a.apply(0, raw)
    b.exchange.store.execute("ALTER TABLE grants RENAME TO grants_away")
    with pytest.raises(ApplyFailed):
        b.apply(0, raw)
    assert b.applied == -1
    b.exchange.store.execute("ALTER TABLE grants_away RENAME TO grants")
    b.apply(0, raw)  # again, as the applier does once started again
    assert b.applied == 0
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def _issue(plane: ControlPlane, n: int) -> bytes:
    gongan = str(plane.exchange.registry.by_code("gongan").uscc)
    certificate = CertificateRequest(type="resident_id_card", subject=SUBJECTS["resident_id_card"])
    return _event("cert.issue", gongan, certificate, n=n)


def _certificates(plane: ControlPlane) -> int:
    row = plane.exchange.store.fetchone("SELECT count(*) FROM certificates")
    assert row is not None
    return int(row[0])


def test_an_event_seen_twice_on_the_topic_applies_once(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    """A producer's retry can write one event twice: one command, one certificate."""
    a, b = two
    before = _certificates(a)
    raw = _issue(a, 7)
    for plane in (a, b):
        plane.apply(0, raw)
        plane.apply(1, raw)
    assert _certificates(a) == _certificates(b) == before + 1
    assert a.applied == b.applied == 1
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def test_a_node_that_lost_its_offset_file_does_not_apply_again(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    """The applied events are known to the store itself: a lost (or stale) offset file
    does not make a restarted node issue the same certificate a second time."""
    a, _ = two
    before = _certificates(a)
    events = [_issue(a, n) for n in range(3)]
    for offset, raw in enumerate(events):
        a.apply(offset, raw)
    (Path(a.exchange.settings.data) / "cluster" / "control.json").unlink()
    again = _plane(a.exchange, "a")  # started again: it goes on from the store's offset
    assert again._load_applied() == 2
    for offset, raw in enumerate(events):  # were they read again, nothing changes
        again.apply(offset, raw)
    assert _certificates(a) == before + 3


def test_a_failure_after_the_services_write_leaves_nothing_to_apply_twice(
    tmp_path: Path,
) -> None:
    """The apply and its applied-mark commit together: a failure after the service wrote
    its certificate but before the mark leaves neither, and the node started again
    issues it once (it issued a second certificate on this node alone)."""
    create_demo(Settings(data=tmp_path / "a")).close()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a = _plane(Exchange.open(Settings(data=tmp_path / "a")), "a")
    b = _plane(Exchange.open(Settings(data=tmp_path / "b")), "b")
    try:
        before = _certificates(a)
        issue = a._originals["cert.issue"]

        def then_fail(*args: Any) -> Any:
            issue(*args)
            raise RuntimeError("the node's disk went away")

        a._originals["cert.issue"] = then_fail
        raw = _issue(a, 11)
        with pytest.raises(ApplyFailed):
            a.apply(0, raw)
        assert a.applied == -1
        a.exchange.cluster = None
        a.exchange.close()  # the node stops applying; started again, it applies anew
        a = _plane(Exchange.open(Settings(data=tmp_path / "a")), "a")
        assert a._load_applied() == -1
        a.apply(0, raw)
        b.apply(0, raw)
        assert _certificates(a) == _certificates(b) == before + 1
        assert state_digest(a.exchange.store) == state_digest(b.exchange.store)
    finally:
        for plane in (a, b):
            plane.exchange.cluster = None
            plane.exchange.close()


_CRASHING_APPLY = """
import sys
from pathlib import Path
from exchange.config import Settings
from exchange.service import Exchange
from tests.exchange.cluster.test_plane import _issue, _plane

exchange = Exchange.open(Settings(data=Path(sys.argv[1])))
plane = _plane(exchange, "a")
plane.apply(0, _issue(plane, 12))
"""


def test_a_node_killed_between_the_apply_and_its_mark_issues_once(tmp_path: Path) -> None:
    """kill -9 of a node process after the apply's writes, before they are marked
    applied: started again, the node applies the event once (one certificate)."""
    import os
    import subprocess
    import sys

    create_demo(Settings(data=tmp_path / "a")).close()
    exchange = Exchange.open(Settings(data=tmp_path / "a"))
    before = _certificates(_plane(exchange, "a"))
    exchange.cluster = None
    exchange.close()
    env = {**os.environ, "GOVEX_AUDIT_CRASH": "control"}
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_APPLY, str(tmp_path / "a")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == -9, done.stdout + done.stderr
    exchange = Exchange.open(Settings(data=tmp_path / "a"))
    try:
        plane = _plane(exchange, "a")
        start = plane._load_applied() + 1
        if start == 0:
            plane.apply(0, _issue(plane, 12))  # what the applier reads again
        assert _certificates(plane) == before + 1
    finally:
        exchange.cluster = None
        exchange.close()


def test_an_offset_file_that_cannot_be_written_does_not_stop_the_applier(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    """The store knows what was applied: a full disk or a broken path for the offset file
    is logged, and the applier goes on (it ended the applier thread, silently)."""
    a, _ = two
    (Path(a.exchange.settings.data) / "cluster").write_text("not a folder", "utf-8")
    a.apply(0, _issue(a, 0))
    assert a.applied == 0
    assert a._load_applied() == 0


def test_the_store_says_where_to_go_on_even_when_the_offset_file_is_ahead(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    """An offset file restored apart from the store (newer than it) would skip events the
    store never applied: the store's own mark decides."""
    a, _ = two
    a.apply(0, _issue(a, 0))
    state = Path(a.exchange.settings.data) / "cluster" / "control.json"
    state.write_text(state.read_text("utf-8").replace('"applied":0', '"applied":5'), "utf-8")
    assert _plane(a.exchange, "a")._load_applied() == 0


class _Topic:
    """The control topic without a broker: a command taken on either copy is one event,
    applied on both copies in one order; the origin answers what its own apply returned."""

    def __init__(self, planes: tuple[ControlPlane, ...], monkeypatch: pytest.MonkeyPatch) -> None:
        self.planes = planes
        self.offset = max(p.applied for p in planes)
        for plane in planes:
            monkeypatch.setattr(plane, "submit", self._submit(plane))

    def _submit(self, origin: ControlPlane) -> Any:
        def submit(kind: Kind, args: tuple[Any, ...]) -> Any:
            event = ControlEvent.new(kind.name, kind.encode(args), origin.node)
            waiter = origin._waiters[event.id] = _Waiter()
            self.offset += 1
            for plane in self.planes:
                plane.apply(self.offset, event.encode())
            origin._waiters.pop(event.id)
            if waiter.error is not None:
                raise waiter.error
            return waiter.result

        return submit


def _assertion(exchange: Exchange, key: Any, uscc: str) -> str:
    kid = kid_of(key.public_key())
    return make_client_assertion(key, kid, uscc, exchange.tokens.token_endpoint)


def test_departments_and_their_keys_changed_on_a_hold_on_b(
    two: tuple[ControlPlane, ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    topic = _Topic((a, b), monkeypatch)
    operator = str(a.exchange.identity.uscc)
    # a department added on A reads on B, and its auth key gets a token there
    uscc = "11411500000005004H"
    keys = {p: generate_key() for p in ("auth", "seal", "cert")}
    material = [
        KeyMaterial("auth", public_pem(keys["auth"].public_key())),
        KeyMaterial("seal", csr_to_pem(make_request(keys["seal"], uscc=uscc, purpose="seal"))),
        KeyMaterial("cert", csr_to_pem(make_request(keys["cert"], uscc=uscc, purpose="cert"))),
    ]
    added = Department(
        uscc=uscc, code="jiaoyu", name="信阳市教育局", region="411500", roles=[Role.DEPARTMENT]
    )
    a.exchange.departments.add(operator, added, material)
    assert b.exchange.registry.by_code("jiaoyu").name == "信阳市教育局"
    assert b.exchange.tokens.exchange_assertion(_assertion(b.exchange, keys["auth"], uscc))
    with pytest.raises(Conflict):  # the same department again: refused alike on both
        a.exchange.departments.add(operator, added, material)
    # gongan's auth key rotated on A: an assertion signed with the new key gets a token on B
    gongan = b.exchange.registry.by_code("gongan").uscc
    old_token = b.exchange.tokens.mint(gongan)
    new_auth = generate_key()
    rotated = a.exchange.departments.rotate_key(
        operator, "gongan", KeyMaterial("auth", public_pem(new_auth.public_key()))
    )
    assert rotated.kid == kid_of(new_auth.public_key())
    assert b.exchange.registry.current_key(gongan, "auth").kid == rotated.kid
    token = b.exchange.tokens.exchange_assertion(
        _assertion(b.exchange, new_auth, gongan)
    ).access_token
    assert b.exchange.tokens.authenticate(token).uscc == gongan
    assert b.exchange.tokens.authenticate(old_token).uscc == gongan  # rotation: runs to expiry
    # the new key revoked on A: its token is refused on B at once
    a.exchange.departments.revoke_key(operator, "gongan", "auth", "密钥泄露 (key leaked)")
    assert b.exchange.registry.key(rotated.kid, "auth").state is KeyState.REVOKED  # type: ignore[union-attr]
    with pytest.raises(AuthError) as refused:
        b.exchange.tokens.authenticate(token)
    assert refused.value.code is ErrorCode.KEY_REVOKED
    # suspend, resume, remove on A: the same state on B
    a.exchange.departments.suspend(operator, "jiaoyu", "核查 (under review)")
    assert b.exchange.registry.status(uscc).state is DepartmentState.SUSPENDED
    a.exchange.departments.resume(operator, "jiaoyu", "核查完毕 (reviewed)")
    assert b.exchange.registry.is_active(uscc)
    a.exchange.departments.remove(operator, "jiaoyu", "机构撤并 (merged)")
    assert b.exchange.registry.status(uscc).state is DepartmentState.REMOVED
    with pytest.raises(Conflict):
        b.exchange.departments.resume(operator, "jiaoyu", "again")
    assert a.applied == b.applied == topic.offset
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def test_catalog_resources_added_and_updated_on_a_hold_on_b(
    two: tuple[ControlPlane, ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    topic = _Topic((a, b), monkeypatch)
    operator = str(a.exchange.identity.uscc)
    base = a.exchange.catalog.resource("gongan.resident_id_card")
    definition = base.model_dump(mode="json", by_alias=True)
    definition.update(code="gongan.resident_id_card_copy", name="居民身份证 副本 (copy)")
    added = catalog_service(a.exchange).add(definition, actor=operator)
    assert added.version == "1.0"
    assert b.exchange.catalog.resource("gongan.resident_id_card_copy").version == "1.0"
    definition["schema"]["properties"]["contact_phone"] = {
        "type": "string",
        "title": "联系电话 (contact phone)",
        "maxLength": 20,
    }
    updated = catalog_service(b.exchange).update(definition, actor=operator)
    assert updated.version == "1.1"
    assert a.exchange.catalog.resource("gongan.resident_id_card_copy").version == "1.1"
    with pytest.raises(NotFound):  # refused alike on both
        catalog_service(a.exchange).update({**definition, "code": "gongan.nosuch"}, actor=operator)
    listed = [catalog_service(p.exchange).list() for p in (a, b)]
    assert listed[0] == listed[1]
    assert a.applied == b.applied == topic.offset
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)
