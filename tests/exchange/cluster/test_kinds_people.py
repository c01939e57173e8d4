"""Staff, case bundles and quarantine decisions through the control plane, without a broker.

Two copies of one provisioned exchange apply the same ordered events (the control topic
stands in as one list both copies apply, as in :mod:`tests.exchange.cluster.test_plane`):
a person added on A signs in on B, an enrolment code used on A is refused on B, a
disabled account is disabled on both, a case bundle resolved on A is B's answer byte for
byte, a quarantined record released on A shows released on B; the state digests agree.
"""

from __future__ import annotations

from datetime import date

import pyotp
import pytest

from exchange.cases.models import CaseRequest
from exchange.cluster.plane import ControlPlane
from exchange.cluster.status import state_digest
from exchange.departments.staff_roles import StaffRole
from exchange.errors import AuthError, Conflict
from exchange.records.quarantine import list_quarantine
from schemas.errors import ErrorCode
from schemas.identifiers import make_id_number
from tests.exchange.cluster.test_plane import _Topic, two

__all__ = ["two"]  # the fixture, used by name

PASSWORD = "长白山天池-2026-安全"


def test_staff_added_and_enrolled_on_a_signs_in_on_b(
    two: tuple[ControlPlane, ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    topic = _Topic((a, b), monkeypatch)
    gongan = str(a.exchange.registry.by_code("gongan").uscc)
    enrolment = a.exchange.staff.add(
        gongan, "gongan.wang", "王芳", frozenset({StaffRole.CLERK}), actor=gongan
    )
    assert b.exchange.staff.get(gongan, "gongan.wang").status == "pending"
    a.exchange.staff.enrol("gongan.wang", enrolment.code, PASSWORD)
    assert b.exchange.staff.check_password("gongan.wang", PASSWORD).name == "王芳"
    with pytest.raises(AuthError) as refused:  # the code is used: refused on B too
        b.exchange.staff.enrol("gongan.wang", enrolment.code, PASSWORD + "!")
    assert refused.value.code is ErrorCode.ENROLMENT_INVALID
    b.exchange.staff.set_status(gongan, "gongan.wang", False, actor=gongan)
    assert a.exchange.staff.get(gongan, "gongan.wang").status == "disabled"
    with pytest.raises(Conflict):  # the staff id is taken on both
        b.exchange.staff.add(
            gongan, "gongan.wang", "王芳", frozenset({StaffRole.CLERK}), actor=gongan
        )
    a.exchange.staff.set_require_act(gongan, True, actor=gongan)
    assert b.exchange.staff.requires_act(gongan)
    a.exchange.staff.oidc.set(
        gongan,
        issuer="https://idp.gongan.example",
        client_id="govex",
        client_secret="s3",
        actor=gongan,
    )
    assert b.exchange.staff.oidc.get(gongan) is not None
    b.exchange.staff.oidc.remove(gongan, actor=gongan)
    assert a.exchange.staff.oidc.get(gongan) is None
    assert a.applied == b.applied == topic.offset
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def test_an_enrolment_with_totp_on_a_checks_its_codes_on_b(
    two: tuple[ControlPlane, ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    _Topic((a, b), monkeypatch)
    gongan = str(a.exchange.registry.by_code("gongan").uscc)
    code = a.exchange.staff.add(
        gongan, "gongan.li", "李强", frozenset({StaffRole.SECURITY_OFFICER}), actor=gongan
    ).code
    enrolled = a.exchange.staff.enrol("gongan.li", code, PASSWORD)
    assert enrolled.totp_secret is not None
    now = pyotp.TOTP(enrolled.totp_secret).now()
    assert b.exchange.staff.check_password("gongan.li", PASSWORD, now).staff_id == "gongan.li"
    reset = b.exchange.staff.reset(gongan, "gongan.li", actor=gongan)
    assert a.exchange.staff.get(gongan, "gongan.li").status == "pending"
    assert reset.code != code
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def test_a_case_bundle_resolved_on_a_is_served_alike_by_b(
    two: tuple[ControlPlane, ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    _Topic((a, b), monkeypatch)
    weijian = str(a.exchange.registry.by_code("weijian").uscc)
    approver = a.exchange.tokens.authenticate(a.exchange.tokens.mint(weijian))
    mother = make_id_number("411502", date(1992, 2, 2), 22, female=True)
    request = CaseRequest.model_validate(
        {"matter": "weijian.newborn_birth", "applicants": [{"role": "mother", "id": mother}]}
    )
    bundle = a.exchange.cases.resolve(approver, request)
    reader = b.exchange.tokens.authenticate(b.exchange.tokens.mint(weijian))
    assert b.exchange.cases.get(bundle["case"], reader) == bundle
    query = "SELECT bundle FROM cases WHERE case_no = ?"
    texts = [p.exchange.store.fetchone(query, [bundle["case"]]) for p in (a, b)]
    assert texts[0] is not None
    assert texts[0] == texts[1]
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def test_a_quarantined_record_released_on_a_is_released_on_b(
    two: tuple[ControlPlane, ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    _Topic((a, b), monkeypatch)
    poison = b'{"resource": "gongan.resident_id_card", "records": ['  # cut short
    for plane in (a, b):  # each node quarantines what it consumed, under ids of its own
        plane.exchange.intake.take(poison, source="kafka")
    (row,) = list_quarantine(a.exchange.store, None, everyone=True)
    operator = str(a.exchange.identity.uscc)
    a.exchange.quarantine.decide_row(row.id, "release", "发布方已更正重发 (sent again)", operator)
    (seen,) = list_quarantine(b.exchange.store, None, everyone=True)
    assert seen.id != row.id
    assert seen.decision == "release"
    with pytest.raises(Conflict):  # decided once: refused on B
        b.exchange.quarantine.decide_row(seen.id, "discard", "迟到 (late)", operator)
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)
