"""The secret arguments of control events travel sealed for the nodes, without a broker.

A stand-in producer at the Kafka boundary records what a node publishes on the control
topic and hands it, in order, to both copies of one provisioned exchange: the TOTP secret
of an enrolment and a department identity provider's client secret are nowhere in the
published bytes, yet the person's codes are checked on B and B holds the client secret. A
sealed argument moved into another event does not open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pyotp
import pytest

from exchange.cluster.events import ControlEvent
from exchange.cluster.plane import ApplyFailed, ControlPlane
from exchange.cluster.status import state_digest
from exchange.departments.staff_roles import StaffRole
from tests.exchange.cluster.test_plane import two

__all__ = ["two"]  # the fixture, used by name

PASSWORD = "长白山天池-2026-安全"
CLIENT_SECRET = "s3cret-from-the-provider"


@dataclass
class _Sent:
    offset: int

    def get(self, timeout: float) -> _Sent:
        return self


class _Broker:
    """The control topic's one partition: every value sent, applied on each plane in order."""

    def __init__(self, planes: tuple[ControlPlane, ...]) -> None:
        self.planes = planes
        self.values: list[bytes] = []
        for plane in planes:
            plane._producer = self

    def send(self, topic: str, *, value: bytes, key: bytes, partition: int) -> _Sent:
        self.values.append(value)
        offset = len(self.values) - 1
        for plane in self.planes:
            plane.apply(offset, value)
        return _Sent(offset)


def test_totp_and_client_secrets_are_sealed_on_the_topic_and_open_on_b(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    a, b = two
    broker = _Broker((a, b))
    gongan = str(a.exchange.registry.by_code("gongan").uscc)
    code = a.exchange.staff.add(
        gongan, "gongan.li", "李强", frozenset({StaffRole.SECURITY_OFFICER}), actor=gongan
    ).code
    enrolled = a.exchange.staff.enrol("gongan.li", code, PASSWORD)
    secret = enrolled.totp_secret
    assert secret is not None
    a.exchange.staff.oidc.set(
        gongan,
        issuer="https://idp.gongan.example",
        client_id="govex",
        client_secret=CLIENT_SECRET,
        actor=gongan,
    )
    kinds = [ControlEvent.decode(v).kind for v in broker.values]
    assert kinds == ["staff.add", "staff.enrol", "staff.oidc.set"]
    for value in broker.values:  # what a reader of the control topic reads
        assert secret.encode() not in value
        assert CLIENT_SECRET.encode() not in value
    now = pyotp.TOTP(secret).now()
    assert b.exchange.staff.check_password("gongan.li", PASSWORD, now).staff_id == "gongan.li"
    settings = b.exchange.staff.oidc.get(gongan)
    assert settings is not None
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET
    assert state_digest(a.exchange.store) == state_digest(b.exchange.store)


def test_a_sealed_argument_moved_into_another_event_does_not_open(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    a, b = two
    broker = _Broker((a,))
    gongan = str(a.exchange.registry.by_code("gongan").uscc)
    a.exchange.staff.oidc.set(
        gongan,
        issuer="https://idp.gongan.example",
        client_id="govex",
        client_secret=CLIENT_SECRET,
        actor=gongan,
    )
    (sent,) = broker.values
    moved = replace(ControlEvent.decode(sent), id="another-event")
    with pytest.raises(ApplyFailed, match="sealed under another key"):
        b.apply(0, moved.encode())
    assert b.exchange.staff.oidc.get(gongan) is None


def test_an_event_published_before_sealing_applies_as_it_is(
    two: tuple[ControlPlane, ControlPlane],
) -> None:
    _, b = two
    gongan = str(b.exchange.registry.by_code("gongan").uscc)
    args: Any = [gongan, "https://idp.gongan.example", "govex", CLIENT_SECRET, "sub", gongan, None]
    b.apply(0, ControlEvent.new("staff.oidc.set", args, "a").encode())
    settings = b.exchange.staff.oidc.get(gongan)
    assert settings is not None
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET
