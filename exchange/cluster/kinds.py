"""The kinds of control events: which method of which service each one stands for.

A kind names a state-changing method of the exchange's services (``exchange.grants.decide``)
and the types of its arguments. In a cluster the node replaces each of these methods on
its live services by one that publishes the event and waits for its own apply
(:mod:`exchange.cluster.plane`); the applier calls the original method with the event's
decoded arguments, under the event's time and seed. So every path — API, console, admin
operations — sends the same change through the topic, and a node's state is a function
of the events it applied.

On the topic: grant request, decide, revoke, narrow; certificate issuance (one at a time)
and status changes (revoke, suspend, resume); a client assertion's ``jti`` (first use
wins, a second use anywhere is a replay); a case number's claim (:mod:`.cases`);
departments and their keys (add, key rotate and revoke, suspend, resume, remove: the root
certificate of a new key is made once, on the node that took the command, and travels in
the event); catalog resources added and updated; staff accounts, case bundles and
quarantine decisions (:mod:`.kinds_people`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from exchange.catalog.grants import GrantDecision, GrantRequest
from exchange.catalog.grants_owner import GrantNarrowing
from exchange.certificates.models import CertificateRequest, StatusChange
from exchange.cluster.events import ControlEvent, EventUnreadable
from exchange.cluster.kinds_people import PEOPLE, SEALED
from schemas.catalog import Department

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = ["KINDS", "Kind", "kind_of"]


@dataclass(frozen=True)
class Kind:
    """One event kind: the service it changes, the method, the arguments' types."""

    name: str
    target: Callable[[Exchange], object]
    method: str
    args: TypeAdapter[Any]
    sealed: tuple[int, ...] = ()  # the positions of secret arguments (:mod:`.sealed`)

    def encode(self, args: tuple[Any, ...]) -> Any:
        return self.args.dump_python(args, mode="json")

    def decode(self, raw: Any) -> tuple[Any, ...]:
        decoded: tuple[Any, ...] = self.args.validate_python(raw)
        return decoded


def _kind(
    name: str,
    target: Callable[[Exchange], object],
    method: str,
    args: Any,
    sealed: tuple[int, ...] = (),
) -> Kind:
    return Kind(name, target, method, TypeAdapter(args), sealed)


def _grants(exchange: Exchange) -> object:
    return exchange.grants


def _certificates(exchange: Exchange) -> object:
    return exchange.certificates


def _tokens(exchange: Exchange) -> object:
    return exchange.tokens


def _departments(exchange: Exchange) -> object:
    return exchange.departments


def _catalog(exchange: Exchange) -> object:
    from exchange.catalog.service import catalog_service

    return catalog_service(exchange)


def _case_numbers(exchange: Exchange) -> object:
    assert exchange.cluster is not None
    return exchange.cluster.case_numbers


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        _kind("grant.request", _grants, "request", tuple[str, GrantRequest]),
        _kind("grant.decide", _grants, "decide", tuple[str, str, GrantDecision]),
        _kind("grant.revoke", _grants, "revoke", tuple[str, str, str]),
        _kind("grant.narrow", _grants, "narrow", tuple[str, str, GrantNarrowing]),
        _kind("cert.issue", _certificates, "issue", tuple[str, CertificateRequest]),
        _kind("cert.status", _certificates, "change_status", tuple[str, str, StatusChange]),
        _kind("auth.jti", _tokens, "_remember_jti", tuple[str, str, float]),
        _kind("case.number", _case_numbers, "claim", tuple[str, str, str | None]),
        _kind(
            "department.add",
            _departments,
            "register_certified",
            tuple[str, Department, dict[str, str]],
        ),
        _kind("department.key.rotate", _departments, "install_key", tuple[str, str, str, str]),
        _kind(
            "department.key.revoke",
            _departments,
            "revoke_key",
            tuple[str, str, str, str, str | None],
        ),
        _kind("department.suspend", _departments, "suspend", tuple[str, str, str]),
        _kind("department.resume", _departments, "resume", tuple[str, str, str]),
        _kind("department.remove", _departments, "remove", tuple[str, str, str]),
        _kind("catalog.add", _catalog, "add_checked", tuple[dict[str, Any], str]),
        _kind("catalog.update", _catalog, "update_checked", tuple[dict[str, Any], str, bool]),
        *(_kind(*people, SEALED.get(people[0], ())) for people in PEOPLE),
    )
}


def kind_of(event: ControlEvent) -> Kind:
    """The kind an event names (an unknown one: :class:`EventUnreadable`)."""
    kind = KINDS.get(event.kind)
    if kind is None:
        raise EventUnreadable(f"unknown control event kind {event.kind!r}")
    return kind
