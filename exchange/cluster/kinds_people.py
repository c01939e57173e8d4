"""The control event kinds of people and what they made: staff, case bundles, quarantine.

Listed as ``(name, target, method, argument types)`` and made kinds by :mod:`.kinds`:

- staff accounts (:class:`exchange.departments.staff_changes.StaffChanges`): add, reset,
  disable and enable, the enrolment code's one use, ``require_act``; a department's own
  identity provider (:class:`exchange.departments.staff_oidc.StaffOidc`). What is secret
  is made on the node that took the command: the enrolment code travels only as its
  SHA-256, the password only as its argon2id hash; the TOTP secret (every node checks
  the codes) and an identity provider's client secret travel sealed for the nodes
  (:data:`SEALED`, :mod:`.sealed`);
- a case bundle, signed on the node that resolved the case, stored as its very text on
  every node (:meth:`exchange.cases.resolver.CaseResolver.keep`);
- an operator's decision on a quarantined record (:mod:`exchange.records.quarantine`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exchange.departments.staff_roles import StaffRole

if TYPE_CHECKING:
    from exchange.service import Exchange

__all__ = ["PEOPLE", "SEALED"]


def _staff(exchange: Exchange) -> object:
    return exchange.staff.changes


def _oidc(exchange: Exchange) -> object:
    return exchange.staff.oidc


def _cases(exchange: Exchange) -> object:
    return exchange.cases


def _quarantine(exchange: Exchange) -> object:
    return exchange.quarantine


PEOPLE: tuple[tuple[str, Callable[[Exchange], object], str, Any], ...] = (
    (
        "staff.add",
        _staff,
        "add",
        tuple[str, str, str, frozenset[StaffRole], str, str, str | None],
    ),
    ("staff.reset", _staff, "reset", tuple[str, str, str, str, str | None]),
    ("staff.status", _staff, "set_status", tuple[str, str, bool, str, str | None]),
    ("staff.enrol", _staff, "enrol", tuple[str, str, str, str | None]),
    ("staff.require_act", _staff, "require_act", tuple[str, bool, str, str | None]),
    (
        "staff.oidc.set",
        _oidc,
        "store_settings",
        tuple[str, str, str, str | None, str, str, str | None],
    ),
    ("staff.oidc.remove", _oidc, "forget", tuple[str, str, str | None]),
    ("case.bundle", _cases, "keep", tuple[str, str, list[str]]),
    ("quarantine.decide", _quarantine, "decide", tuple[str, str, str, str]),
)

# the positions of the arguments that travel sealed (exchange.cluster.sealed)
SEALED: dict[str, tuple[int, ...]] = {
    "staff.enrol": (3,),  # the TOTP secret
    "staff.oidc.set": (3,),  # the provider's client secret
}
